package reliability

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// probeSink is a loopback TCP service that notes when it is probed.
type probeSink struct {
	ln net.Listener
	mu sync.Mutex
	at []time.Time
}

func newProbeSink(t *testing.T) *probeSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &probeSink{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			now := time.Now()
			c.Close()
			s.mu.Lock()
			s.at = append(s.at, now)
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *probeSink) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *probeSink) times() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.at)
}

// maxGap is the longest time between probes within [from, to], counting
// from the last probe before from and to the first after to (or to).
func maxGap(ts []time.Time, from, to time.Time) time.Duration {
	var gap time.Duration
	prev := time.Time{}
	for _, at := range ts {
		if at.Before(from) {
			prev = at
			continue
		}
		if !prev.IsZero() {
			gap = max(gap, at.Sub(prev))
		}
		prev = at
		if at.After(to) {
			return gap
		}
	}
	if !prev.IsZero() {
		gap = max(gap, to.Sub(prev))
	}
	return gap
}

// TestReloadAlternatingConfigsUnderProbeLoad is issue 9 item 10: 100
// reloads alternating valid and invalid configs (through POST /-/reload and
// SIGHUP) while 50 devices are probed every second. After each the running
// config is the last valid one, and no device goes more than one probe
// interval without a probe.
func TestReloadAlternatingConfigsUnderProbeLoad(t *testing.T) {
	enabled(t)
	const (
		devices  = 50
		interval = time.Second
		pace     = 150 * time.Millisecond
	)
	reloads := scaled(100)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "restartinator.yml")
	sinks := make([]*probeSink, devices)
	for i := range sinks {
		sinks[i] = newProbeSink(t)
	}
	marker := newProbeSink(t) // the marker device's probes are not measured
	body := func(mark string, extra string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "global: {state_file: %s}\ndefaults: {check_interval: %s, timeout: 2s}\n", filepath.Join(dir, "state.json"), interval)
		b.WriteString("devices:\n")
		for i, s := range sinks {
			fmt.Fprintf(&b, "  - {name: dev%02d, host: 127.0.0.1, port: %d, mode: monitor}\n", i, s.port())
		}
		fmt.Fprintf(&b, "  - {name: %s, host: 127.0.0.1, port: %d, mode: monitor, check_interval: 1h}\n", mark, marker.port())
		return b.String() + extra
	}
	// Invalid configs of every kind; each names a marker of its own, so
	// one applied by mistake shows.
	invalid := []func(mark string) string{
		func(m string) string { return body(m, "notifications: {emial: {}}\n") }, // unknown key
		func(m string) string { return body(m, "  - {name: broken, host: [\n") }, // YAML syntax
		func(m string) string {
			return strings.Replace(body(m, ""), "check_interval: 1h", "check_interval: soon", 1)
		}, // bad duration
		func(m string) string { return body(m, "  - {name: dev00, host: 127.0.0.1, port: 1, mode: monitor}\n") }, // duplicate
		func(m string) string { return body(m, "  - {name: x, host: 127.0.0.1, port: 1, plug: nosuch}\n") },      // unknown plug
		func(m string) string {
			return strings.Replace(body(m, ""), "global: {", "global: {dry_run: maybe, ", 1)
		}, // bad bool
		func(m string) string { return "\x00\xff" + body(m, "") }, // binary garbage
		func(m string) string {
			return body(m, "webhook: {routes: [{matchers: ['alertname=~\"(\"'], action: cycle}]}\n")
		}, // bad matcher
	}
	if err := os.WriteFile(cfgPath, []byte(body("marker-000", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, "--config.file", cfgPath, "--log.level=info")

	// Let every device settle into its rhythm (first probes are spread
	// over the first interval), and measure the gaps without reloads.
	calm := time.Now()
	poll(t, "every device to be probed twice", bound, 50*time.Millisecond, func() bool {
		for _, s := range sinks {
			if ts := s.times(); len(ts) < 2 || ts[len(ts)-2].Before(calm) {
				return false
			}
		}
		return true
	})
	time.Sleep(3 * interval) // a baseline of probes without reloads
	baseFrom, baseTo := time.Now().Add(-3*interval), time.Now()

	lastValid := "marker-000"
	okReloads, badReloads, sighups := 0, 0, 0
	var reloadTimes []time.Duration
	from := time.Now()
	for i := 1; i <= reloads; i++ {
		mark := fmt.Sprintf("marker-%03d", i)
		valid := i%2 == 0
		var text string
		if valid {
			text = body(mark, "")
		} else {
			text = invalid[(i/2)%len(invalid)](mark)
		}
		if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		if i%5 == 0 {
			// SIGHUP: no answer; the reload metric flips (valid and
			// invalid alternate).
			sighups++
			want := map[bool]float64{true: 1, false: 0}[valid]
			p.cmd.Process.Signal(syscall.SIGHUP)
			poll(t, fmt.Sprintf("reload %d (SIGHUP) to be done", i), bound, 5*time.Millisecond, func() bool {
				return p.metric(t, "restartinator_config_last_reload_successful") == want
			})
		} else {
			code, answer := do(http.MethodPost, p.url("/-/reload"), "")
			switch {
			case valid && code != http.StatusOK:
				t.Fatalf("reload %d of a valid config: %d %s", i, code, answer)
			case !valid && code != http.StatusInternalServerError:
				t.Fatalf("reload %d of an invalid config: %d %s\n%s", i, code, answer, text)
			}
		}
		reloadTimes = append(reloadTimes, time.Since(began))
		if valid {
			lastValid = mark
			okReloads++
		} else {
			badReloads++
		}
		code, running := do(http.MethodGet, p.url("/config"), "")
		if code != http.StatusOK || !strings.Contains(running, "name: "+lastValid) || strings.Contains(running, "name: "+mark) != valid {
			t.Fatalf("after reload %d (valid %v) the running config is not the last valid one (%s): %d\n%s", i, valid, lastValid, code, running)
		}
		if got, want := p.metric(t, "restartinator_config_last_reload_successful"), map[bool]float64{true: 1, false: 0}[valid]; got != want {
			t.Fatalf("after reload %d: config_last_reload_successful %v, want %v", i, got, want)
		}
		time.Sleep(pace) // reloads at a steady pace while probes run
	}
	to := time.Now()
	// The probes due by the end of the reloads have come.
	time.Sleep(interval + interval/2)

	worst, worstDev := time.Duration(0), ""
	worstBase := time.Duration(0)
	probes := 0
	for i, s := range sinks {
		ts := s.times()
		for _, at := range ts {
			if !at.Before(from) && !at.After(to) {
				probes++
			}
		}
		if g := maxGap(ts, from, to); g > worst {
			worst, worstDev = g, fmt.Sprintf("dev%02d", i)
		}
		worstBase = max(worstBase, maxGap(ts, baseFrom, baseTo))
	}
	// One missed probe is a gap of two intervals; two missed, three. The
	// half interval is for scheduling on a loaded machine.
	if worst >= 2*interval+interval/2 {
		t.Errorf("%s went %s without a probe during the reloads: more than one probe interval (%s) missed", worstDev, worst.Round(time.Millisecond), interval)
	}
	if api := getDevices(t, p); len(api.Devices) != devices+1 {
		t.Errorf("%d devices supervised at the end, want %d", len(api.Devices), devices+1)
	}
	if !p.alive() {
		t.Fatalf("restartinator died: %v", p.err)
	}
	slices.Sort(reloadTimes)
	report(t, "%d reloads in %s (%d valid, %d invalid of %d kinds; %d by SIGHUP, the rest POST /-/reload); running config = last valid after every one",
		reloads, to.Sub(from).Round(time.Millisecond), okReloads, badReloads, len(invalid), sighups)
	report(t, "reload time median %s max %s", reloadTimes[len(reloadTimes)/2].Round(time.Millisecond), reloadTimes[len(reloadTimes)-1].Round(time.Millisecond))
	report(t, "%d devices probed every %s: %d probes during the reloads, longest gap %s (%s), longest gap before the reloads %s",
		devices, interval, probes, worst.Round(time.Millisecond), worstDev, worstBase.Round(time.Millisecond))
}
