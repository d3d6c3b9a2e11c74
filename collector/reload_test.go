package collector_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/event"
)

// apply loads o and applies it, bounded: Apply must not hang.
func (h *harness) apply(o harnessOpts) error {
	h.t.Helper()
	cfg := h.config(o)
	return h.bounded("Apply", func() error { return h.sup.Apply(cfg) })
}

func (h *harness) bounded(what string, f func() error) error {
	h.t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(bound):
		h.t.Fatalf("%s hung for %s", what, bound)
		return nil
	}
}

// Applying the same config again keeps every device as it is: state,
// failure count and probe rhythm (its goroutine and timer).
func TestReloadSameConfigKeepsState(t *testing.T) {
	o := harnessOpts{devices: []dev{{name: "cam"}, {name: "nvr"}}}
	h := newHarness(t, o)
	h.first()
	h.setUp("cam", false)
	h.probe("cam", 10*time.Second, h.base())
	h.probe("cam", time.Second, h.base())
	before := h.status("cam")
	if before.State != collector.StateFailing || before.ConsecutiveFailures != 2 {
		t.Fatalf("before the reload: %+v", before)
	}
	nvrBefore := h.status("nvr")

	if err := h.apply(o); err != nil {
		t.Fatal(err)
	}
	h.waitPending(h.base())
	after := h.status("cam")
	if after.State != before.State || after.ConsecutiveFailures != 2 || !after.LastProbe.Time.Equal(before.LastProbe.Time) {
		t.Fatalf("after the reload: %+v, before %+v", after, before)
	}
	if s := h.status("nvr"); s.State != collector.StateUp || !s.LastProbe.Time.Equal(nvrBefore.LastProbe.Time) {
		t.Fatalf("nvr after the reload: %+v", s)
	}
	// The third failure comes exactly retry_interval after the second: the
	// old timer, not a fresh start.
	h.clk.Advance(time.Second)
	off := h.ev.wait(t, event.Offline, "cam", 1)
	if !off.Time.Equal(before.LastProbe.Time.Add(time.Second)) || off.ConsecutiveFailures != 3 {
		t.Fatalf("offline = %+v", off)
	}
}

// A removed device stops probing; a changed one starts over.
func TestReloadRemovedStopsChangedStartsOver(t *testing.T) {
	o := harnessOpts{devices: []dev{{name: "cam"}, {name: "nvr"}}}
	h := newHarness(t, o)
	h.first()
	h.setUp("cam", false)
	h.setUp("nvr", false)
	h.tick(10 * time.Second)
	h.tick(time.Second) // two failures each, not yet offline
	if s := h.status("cam"); s.State != collector.StateFailing || s.ConsecutiveFailures != 2 {
		t.Fatalf("cam before: %+v", s)
	}

	// nvr removed; cam's retries changed.
	changed := harnessOpts{devices: []dev{{name: "cam", extra: "retries: 5"}}}
	h.opts = changed
	if err := h.apply(changed); err != nil {
		t.Fatal(err)
	}
	h.waitPending(h.base()) // one device, the poll
	snap := h.sup.Snapshot()
	if len(snap) != 1 || snap[0].Name != "cam" {
		t.Fatalf("snapshot after removing nvr: %+v", snap)
	}
	if s := snap[0]; s.State != collector.StateUnknown || s.ConsecutiveFailures != 0 || s.LastProbe != nil {
		t.Fatalf("changed cam did not start over: %+v", s)
	}
	if cfg, ok := h.sup.Device("cam"); !ok || cfg.Settings.Retries != 5 {
		t.Fatalf("cam config: %+v", cfg)
	}
	// Its first probe comes after its initial delay, counted from now.
	reloaded := h.clk.Now()
	h.probe("cam", h.sup.InitialDelay("cam"), h.base())
	if s := h.status("cam"); s.ConsecutiveFailures != 1 || !s.LastProbe.Time.Equal(reloaded.Add(h.sup.InitialDelay("cam"))) {
		t.Fatalf("cam after its first probe: %+v", s)
	}
	// Five failures now, not three; nvr never again.
	for range 3 {
		h.probe("cam", time.Second, h.base())
	}
	if n := len(h.ev.of(event.Offline, "cam")); n != 0 {
		t.Fatalf("offline after 4 failures with retries 5")
	}
	for range 60 {
		h.tick(time.Second)
		if h.outletBusy() {
			break
		}
	}
	if len(h.ev.of(event.Offline, "nvr")) != 0 {
		t.Fatalf("the removed device still runs: %s", describeEvents(h.ev.all()))
	}
	if len(h.ev.of(event.Offline, "cam")) != 1 {
		t.Fatalf("cam: %s", describeEvents(h.ev.all()))
	}
}

// Reloading or stopping while a device is between its probe and its
// decision (which takes the supervisor's lock to look at the guard and the
// other devices on its outlet) must not deadlock.
func TestReloadAndStopWhileADeviceDecides(t *testing.T) {
	for _, tc := range []string{"reload changes it", "reload removes it", "stop"} {
		t.Run(tc, func(t *testing.T) {
			o := harnessOpts{devices: []dev{{name: "cam"}, {name: "web", extra: "retries: 1"}}}
			h := newHarness(t, o)
			h.first()
			h.setUp("web", false)
			// Hold web's goroutine as it announces it is offline, right
			// before it decides.
			held, release := make(chan struct{}), make(chan struct{})
			gate := func(e event.Event) {
				if e.Kind == event.Offline && e.Device == "web" {
					close(held)
					<-release
				}
			}
			h.ev.gate.Store(&gate)
			h.clk.Advance(10 * time.Second)
			select {
			case <-held:
			case <-time.After(bound):
				t.Fatal("web never went offline")
			}
			done := make(chan error, 1)
			var waitIn string
			switch tc {
			case "reload changes it":
				o2 := o
				o2.devices = []dev{{name: "cam"}, {name: "web", extra: "retries: 2"}}
				cfg := h.config(o2)
				go func() { done <- h.sup.Apply(cfg) }()
				waitIn = "(*Supervisor).Apply("
			case "reload removes it":
				o2 := o
				o2.devices = []dev{{name: "cam"}}
				cfg := h.config(o2)
				go func() { done <- h.sup.Apply(cfg) }()
				waitIn = "(*Supervisor).Apply("
			case "stop":
				go func() { h.sup.Stop(); done <- nil }()
				waitIn = "(*Supervisor).Stop("
			}
			// Apply (or Stop) now waits for web's goroutine to end...
			waitGoroutine(t, "[chan receive", waitIn)
			// ...which goes on to decide.
			close(release)
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(bound):
				t.Fatalf("deadlock: %s waits for the device, the device for the lock", tc)
			}
			// The retired goroutine did not cycle the outlet on its way out.
			if phase, busy := h.cycler.Busy("p", ""); busy {
				t.Fatalf("a device retired by %s started a cycle (%s)", tc, phase)
			}
			snap := h.sup.Snapshot()
			switch tc {
			case "reload changes it":
				if len(snap) != 2 || snap[1].Name != "web" || snap[1].State != collector.StateUnknown {
					t.Fatalf("snapshot: %+v", snap)
				}
			case "reload removes it":
				if len(snap) != 1 || snap[0].Name != "cam" {
					t.Fatalf("snapshot: %+v", snap)
				}
			case "stop":
				if len(snap) != 0 {
					t.Fatalf("snapshot after Stop: %+v", snap)
				}
			}
		})
	}
}

// A config whose second new device cannot be built is refused as a whole,
// and what runs keeps running.
func TestApplyErrorKeepsTheRunningConfig(t *testing.T) {
	o := harnessOpts{devices: []dev{{name: "cam"}}}
	h := newHarness(t, o)
	h.first()
	sd := h.dev["cam"]
	y := fmt.Sprintf(`
plugs:
  - {name: p, host: 127.0.0.1, port: %d, protocol: xor}
devices:
  - {name: a, host: 127.0.0.1, port: %d, plug: p}
  - {name: b, host: 127.0.0.1, port: %d, plug: p}
`, h.sim.Port(), sd.Port(), sd.Port())
	cfg, err := config.Load([]byte(y), "test.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Devices[1].Schedule = "not a schedule" // past validation: building it fails
	err = h.bounded("Apply", func() error { return h.sup.Apply(cfg) })
	if err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("Apply = %v", err)
	}
	if snap := h.sup.Snapshot(); len(snap) != 1 || snap[0].Name != "cam" || snap[0].State != collector.StateUp {
		t.Fatalf("after a refused config: %+v", snap)
	}
	h.waitPending(h.base())
	h.probe("cam", 10*time.Second, h.base())
}

// Reloading with the guard unchanged keeps the guard as it is: a hold stays
// on (no window where cycles slip through) and is not announced again.
func TestReloadKeepsAnUnchangedGuard(t *testing.T) {
	addr, _ := closedPort(t)
	o := harnessOpts{devices: []dev{{name: "cam"}}, guard: fmt.Sprintf("targets: [%q], check_interval: 10s, timeout: 1s", addr)}
	h := newHarness(t, o)
	h.ev.wait(t, event.Held, "", 1)
	for range 3 {
		if err := h.apply(o); err != nil {
			t.Fatal(err)
		}
		if !h.sup.GuardDown() || h.sup.Holding() == "" {
			t.Fatal("the reload released the guard's hold")
		}
		h.waitPending(h.base())
	}
	h.tick(10 * time.Second) // the guard checks again
	if n := len(h.ev.of(event.Held, "")); n != 1 {
		t.Fatalf("the guard's hold was announced %d times: %s", n, describeEvents(h.ev.all()))
	}
	// A changed guard starts over.
	other, _ := closedPort(t)
	o.guard = fmt.Sprintf("targets: [%q, %q], check_interval: 10s, timeout: 1s", addr, other)
	h.opts = o
	if err := h.apply(o); err != nil {
		t.Fatal(err)
	}
	if e := h.ev.wait(t, event.Held, "", 2); !strings.Contains(e.Detail, other) {
		t.Fatalf("new guard's hold: %+v", e)
	}
}
