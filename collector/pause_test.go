package collector_test

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/internal/state"
)

// A maintenance window from 12:00 for 2 minutes (t0 is 12:00): the device
// goes down inside it and is neither announced nor cycled; after the
// window it is, on its own rhythm.
func TestMaintenanceWindowByTheFakeClock(t *testing.T) {
	h := newHarness(t, harnessOpts{devices: []dev{{name: "cam", extra: `maintenance: [{schedule: "0 12 * * *", duration: 2m}]`}}})
	h.first()
	if s := h.status("cam"); s.State != collector.StatePaused || !s.Paused || s.MaintenanceUntil == nil || !s.MaintenanceUntil.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("inside the window: %+v", s)
	}
	if m := h.sup.WriteMetrics(nil); !bytes.Contains(m, []byte(`restartinator_device_paused{device="cam"} 1`)) {
		t.Errorf("no paused series:\n%s", m)
	}
	h.setUp("cam", false)
	for h.clk.Now().Before(t0.Add(2 * time.Minute)) {
		h.tick(time.Second)
	}
	if c := h.switchCalls(); len(c) != 0 {
		t.Fatalf("cycled inside its maintenance window: %+v", c)
	}
	if n := len(h.ev.of(event.Offline, "cam")); n != 0 {
		t.Fatalf("offline announced %d times inside the maintenance window", n)
	}
	// After the window: offline after retries, then the cycle.
	h.tickUntil("offline after the window", time.Second, 40, func() bool { return len(h.ev.of(event.Offline, "cam")) == 1 })
	h.tickUntil("the cycle after the window", time.Second, 40, func() bool { return len(h.updates) > 0 })
	if u := h.update(); u.Time.Before(t0.Add(2 * time.Minute)) {
		t.Errorf("cycle at %s, inside the window", u.Time)
	}
}

// A pause through the Supervisor is kept in the state file: a new
// Supervisor on the same file (a restart) starts the device paused.
func TestPauseSurvivesRestartAndIsCapped(t *testing.T) {
	h := newHarness(t, harnessOpts{devices: []dev{{name: "cam"}}})
	h.first()
	if _, err := h.sup.Pause("cam", 30*24*time.Hour, "too long"); !errors.Is(err, collector.ErrPauseTooLong) {
		t.Fatalf("a 30-day pause: %v, want ErrPauseTooLong (global.max_pause 7d)", err)
	}
	until, err := h.sup.Pause("cam", time.Hour, "disk swap")
	if err != nil {
		t.Fatal(err)
	}
	if s := h.status("cam"); s.State != collector.StatePaused || s.PauseReason != "disk swap" || !s.PausedUntil.Equal(until) {
		t.Fatalf("after the pause: %+v", s)
	}
	if p := h.store.Pauses(h.clk.Now())["cam"]; p.Reason != "disk swap" {
		t.Fatalf("the pause is not in the state file: %+v", h.store.Pauses(h.clk.Now()))
	}
	// A restart: a second supervisor on the same store and config.
	sup2 := collector.New(t.Context(), collector.Options{Cycler: h.cycler, Plugs: h.plugs, State: h.store, Clock: h.clk})
	t.Cleanup(sup2.Stop)
	if err := sup2.Apply(h.config(h.opts)); err != nil {
		t.Fatal(err)
	}
	var s collector.DeviceStatus
	for _, x := range sup2.Snapshot() {
		s = x
	}
	if s.State != collector.StatePaused || s.PauseReason != "disk swap" {
		t.Fatalf("after a restart: %+v", s)
	}
	if err := h.sup.Resume("cam"); err != nil {
		t.Fatal(err)
	}
	if s := h.status("cam"); s.State != collector.StateUp || s.Paused {
		t.Errorf("after resume: %+v", s)
	}
	if len(h.store.Pauses(h.clk.Now())) != 0 {
		t.Errorf("the pause is still in the state file after resume")
	}
}

// The availability timeline is written to the state file and read back
// by a new supervisor (a restart).
func TestAvailabilitySurvivesRestart(t *testing.T) {
	h := newHarness(t, harnessOpts{devices: []dev{{name: "cam", plug: "-", extra: "mode: monitor"}}})
	h.first()
	for range 6 {
		h.tick(10 * time.Second)
	}
	h.setUp("cam", false)
	h.tickUntil("cam down", time.Second, 30, func() bool { return !h.status("cam").LastProbe.Success })
	for range 6 {
		h.tick(10 * time.Second)
	}
	s := h.status("cam")
	if s.Availability24h == nil || *s.Availability24h <= 0.3 || *s.Availability24h >= 0.8 || !strings.Contains(s.Bar24h, "p") {
		t.Fatalf("after about a minute up and a minute down: %v %q", s.Availability24h, s.Bar24h)
	}
	// A reload without the device retires it: its timeline is written.
	if err := h.sup.Apply(h.config(harnessOpts{})); err != nil {
		t.Fatal(err)
	}
	kept := h.store.Availability("cam")
	if len(kept) < 3 || kept[len(kept)-1].Up != state.Unknown {
		t.Fatalf("kept timeline %+v, want up, down, then unknown when it stopped being watched", kept)
	}
	sup2 := collector.New(t.Context(), collector.Options{Cycler: h.cycler, Plugs: h.plugs, State: h.store, Clock: h.clk})
	t.Cleanup(sup2.Stop)
	if err := sup2.Apply(h.config(h.opts)); err != nil {
		t.Fatal(err)
	}
	s2 := sup2.Snapshot()[0]
	// The timeline is kept in whole seconds: equal to within a second's share.
	if s2.Availability24h == nil || math.Abs(*s2.Availability24h-*s.Availability24h) > 0.02 || s2.Bar24h != s.Bar24h {
		t.Errorf("after a restart: availability %v, want %v as before; kept %+v", *s2.Availability24h, *s.Availability24h, h.store.Availability("cam"))
	}
}
