package collector_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

var compared = []string{
	"restartinator_device_state", "restartinator_device_up", "restartinator_device_consecutive_failures",
	"restartinator_probes_total", "restartinator_probe_failures_total", "restartinator_guard_holding", "restartinator_dry_run",
}

func deviceMetrics(state string, up string, failures, probes, probeFailures int) string {
	var b strings.Builder
	b.WriteString("# HELP restartinator_device_state The device's supervisor state: 1 for the current one.\n# TYPE restartinator_device_state gauge\n")
	for _, s := range []string{"booting", "cycling", "failing", "gave_up", "held", "unknown", "up"} {
		v := "0"
		if s == state {
			v = "1"
		}
		b.WriteString(`restartinator_device_state{device="cam",state="` + s + `"} ` + v + "\n")
	}
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

// The supervisor's metrics follow the state machine, read at scrape time.
func TestSupervisorMetrics(t *testing.T) {
	h := newHarness(t, harnessOpts{devices: []dev{{name: "cam"}}})
	check := func(want string) {
		t.Helper()
		if err := testutil.CollectAndCompare(h.sup, strings.NewReader(want), compared...); err != nil {
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
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is required in CI")
		}
		t.Skip("promtool not installed")
	}
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
