package collector_test

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/internal/simdevice"
	"github.com/restartinator/restartinator/internal/testtool"
)

var compared = []string{
	"restartinator_device_state_code", "restartinator_device_up", "restartinator_device_consecutive_failures",
	"restartinator_probes_total", "restartinator_probe_failures_total", "restartinator_guard_holding", "restartinator_dry_run",
}

func deviceMetrics(state string, up string, failures, probes, probeFailures int) string {
	var b strings.Builder
	b.WriteString("# HELP restartinator_device_state_code The device's supervisor state as a number: 0 unknown, 1 up, 2 failing, 3 cycling, 4 booting, 5 held, 6 gave_up, 7 blocked, 8 paused.\n# TYPE restartinator_device_state_code gauge\n")
	b.WriteString(`restartinator_device_state_code{device="cam"} ` + itoa(slices.Index(collector.States, state)) + "\n")
	if up != "" {
		b.WriteString("# HELP restartinator_device_up Whether the device answered its last probe (1) or not (0).\n# TYPE restartinator_device_up gauge\n")
		b.WriteString(`restartinator_device_up{device="cam"} ` + up + "\n")
	}
	b.WriteString("# HELP restartinator_device_consecutive_failures Failed probes in a row.\n# TYPE restartinator_device_consecutive_failures gauge\n")
	b.WriteString(`restartinator_device_consecutive_failures{device="cam"} ` + itoa(failures) + "\n")
	b.WriteString("# HELP restartinator_probes_total Probes run, by probe type.\n# TYPE restartinator_probes_total counter\n")
	for _, t := range []string{"http", "icmp", "power", "tcp"} {
		v := 0
		if t == "tcp" {
			v = probes
		}
		b.WriteString(`restartinator_probes_total{type="` + t + `"} ` + itoa(v) + "\n")
	}
	b.WriteString("# HELP restartinator_probe_failures_total Probes that failed, by probe type.\n# TYPE restartinator_probe_failures_total counter\n")
	for _, t := range []string{"http", "icmp", "power", "tcp"} {
		v := 0
		if t == "tcp" {
			v = probeFailures
		}
		b.WriteString(`restartinator_probe_failures_total{type="` + t + `"} ` + itoa(v) + "\n")
	}
	b.WriteString("# HELP restartinator_guard_holding 1 while the guard holds every automatic power cycle.\n# TYPE restartinator_guard_holding gauge\nrestartinator_guard_holding 0\n")
	b.WriteString("# HELP restartinator_dry_run 1 when dry run is on: decisions are logged, power is never switched.\n# TYPE restartinator_dry_run gauge\nrestartinator_dry_run 0\n")
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

// gatherer gathers what /metrics shows of the supervisor: its registry
// families and the per-device ones it writes itself, parsed back.
func gatherer(t *testing.T, sup *collector.Supervisor) prometheus.Gatherer {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(sup)
	return prometheus.Gatherers{reg, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		p := expfmt.NewTextParser(model.LegacyValidation)
		byName, err := p.TextToMetricFamilies(bytes.NewReader(sup.WriteMetrics(nil)))
		if err != nil {
			return nil, err
		}
		var mfs []*dto.MetricFamily
		for _, mf := range byName {
			mfs = append(mfs, mf)
		}
		return mfs, nil
	})}
}

// The supervisor's metrics follow the state machine, read at scrape time.
func TestSupervisorMetrics(t *testing.T) {
	h := newHarness(t, harnessOpts{devices: []dev{{name: "cam"}}})
	check := func(want string) {
		t.Helper()
		if err := testutil.GatherAndCompare(gatherer(t, h.sup), strings.NewReader(want), compared...); err != nil {
			t.Fatal(err)
		}
	}
	check(deviceMetrics("unknown", "", 0, 0, 0))
	h.first()
	check(deviceMetrics("up", "1", 0, 1, 0))
	h.setUp("cam", false)
	h.probe("cam", 10*time.Second, h.base())
	h.probe("cam", time.Second, h.base())
	check(deviceMetrics("failing", "0", 2, 3, 2))
	h.clk.Advance(time.Second)
	h.cycleThrough()
	check(deviceMetrics("booting", "0", 4, 5, 4)) // the third failure, then the probe when power came back
	h.setUp("cam", true)
	h.probe("cam", time.Second, h.base())
	check(deviceMetrics("up", "1", 0, 6, 4))
}

// Everything the program exposes from these packages passes promtool's lint.
func TestMetricsPassPromtool(t *testing.T) {
	promtool := testtool.Need(t, "prometheus", "promtool")
	h := newHarness(t, harnessOpts{devices: []dev{{name: "cam"}, {name: "nvr", extra: "mode: alert"}}})
	h.first()
	h.goOffline("cam")
	h.cycleThrough("cam")
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(h.sup, h.cycler, h.plugs)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	buf.Write(h.sup.WriteMetrics(nil))
	for _, want := range []string{"restartinator_power_cycles_total{device=\"cam\",trigger=\"auto\"} 1", "restartinator_plug_up{plug=\"p\"} 1", "restartinator_device_info{"} {
		if !strings.Contains(buf.String(), want) {
			t.Fatalf("exposition lacks %s:\n%s", want, buf.String())
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n--- exposition:\n%s", err, out, buf.String())
	}
}

// seriesOf counts the series of each device (by its escaped name) in an
// exposition.
func seriesOf(exposition string, escaped ...string) map[string]int {
	n := map[string]int{}
	for line := range strings.Lines(exposition) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, name := range escaped {
			if strings.Contains(line, `{device="`+name+`"`) {
				n[name]++
			}
		}
	}
	return n
}

// At most five series per device by default, the state as a code; the
// full enum (seven more) only when asked for. Two scrapes of an unchanged
// state are the same bytes, and promtool finds nothing to lint.
func TestDeviceSeriesAndIdenticalScrapes(t *testing.T) {
	for _, tc := range []struct {
		enum bool
		want int
	}{{false, 5}, {true, 5 + len(collector.States)}} {
		t.Run(fmt.Sprintf("enum=%v", tc.enum), func(t *testing.T) {
			h := newHarness(t, harnessOpts{stateEnum: tc.enum, devices: []dev{{name: "cam"}, {name: "nvr", extra: "mode: alert"}, {name: `odd \ "name"`, extra: "mode: monitor", plug: "-"}}})
			h.first()
			one := h.sup.WriteMetrics(nil)
			two := h.sup.WriteMetrics([]byte("prefix\n"))
			if !bytes.Equal(one, two[len("prefix\n"):]) {
				t.Fatalf("two scrapes of the same state differ:\n%s\n---\n%s", one, two)
			}
			names := []string{"cam", "nvr", `odd \\ \"name\"`}
			got := seriesOf(string(one), names...)
			for _, name := range names {
				if got[name] != tc.want {
					t.Errorf("%s has %d series, want %d:\n%s", name, got[name], tc.want, one)
				}
			}
			if !bytes.Contains(one, []byte(`restartinator_device_state_code{device="cam"} 1`)) {
				t.Errorf("no state code for cam:\n%s", one)
			}
			promtoolCheck(t, one)
		})
	}
}

// promtoolCheck runs promtool check metrics over an exposition; without
// promtool it skips, except in CI.
func promtoolCheck(t *testing.T, exposition []byte) {
	t.Helper()
	promtool := testtool.Need(t, "prometheus", "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n--- exposition:\n%s", err, out, exposition)
	}
}

// A device with several targets adds each target's result and latency
// under a target label; a device with one target keeps its five series.
// require: 2 of 3: one target down keeps it up, two down make it fail.
func TestTargetSeriesOnlyForSeveralTargets(t *testing.T) {
	var targets []*simdevice.Device
	var probes []string
	for range 3 {
		sd, err := simdevice.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sd.Close() })
		targets = append(targets, sd)
		probes = append(probes, fmt.Sprintf("{type: tcp, target: \"127.0.0.1:%d\"}", sd.Port()))
	}
	h := newHarness(t, harnessOpts{devices: []dev{{name: "cam"},
		{name: "internet", plug: "-", extra: "mode: monitor, require: 2, probes: [" + strings.Join(probes, ", ") + "]"}}})
	h.first()
	one := h.sup.WriteMetrics(nil)
	got := seriesOf(string(one), "cam", "internet")
	if got["cam"] != 5 || got["internet"] != 5+2*3 {
		t.Errorf("series: cam %d (want 5), internet %d (want 11):\n%s", got["cam"], got["internet"], one)
	}
	if bytes.Contains(one, []byte(`device="cam",target=`)) {
		t.Errorf("a single-target device has a target label:\n%s", one)
	}
	want := fmt.Sprintf(`restartinator_device_target_up{device="internet",target="127.0.0.1:%d"} 1`, targets[1].Port())
	if !bytes.Contains(one, []byte(want)) {
		t.Errorf("no %s in:\n%s", want, one)
	}
	promtoolCheck(t, one)

	if err := targets[1].SetUp(false); err != nil {
		t.Fatal(err)
	}
	s := h.probe("internet", 10*time.Second, h.base())
	if s.State != collector.StateUp || s.Require != 2 || len(s.Targets) != 3 || s.Targets[1].Success || !s.Targets[0].Success {
		t.Fatalf("one of three targets down, require 2: %+v", s)
	}
	if err := targets[2].SetUp(false); err != nil {
		t.Fatal(err)
	}
	s = h.probe("internet", 10*time.Second, h.base())
	if s.State != collector.StateFailing || !strings.Contains(s.LastProbe.Error, "1 of 3 targets answered, 2 needed") {
		t.Fatalf("two of three targets down, require 2: %+v", s)
	}
	if m := h.sup.WriteMetrics(nil); !bytes.Contains(m, []byte(`restartinator_device_up{device="internet"} 0`)) {
		t.Errorf("the device is not down in the metrics:\n%s", m)
	}
}
