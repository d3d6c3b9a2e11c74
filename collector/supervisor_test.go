package collector_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/internal/event"
)

// A device that stops answering is declared offline, and cycled, at its
// retries-th failed probe, the probes spaced retry_interval apart: about
// timeout + (retries-1)*retry_interval after it hung, not retries*check_interval.
// (A refused connect fails at once, so the timeout adds no fake time here.)
func TestDetectionAfterRetriesSpacedByRetryInterval(t *testing.T) {
	h := newHarness(t, harnessOpts{devices: []dev{{name: "cam"}}})
	h.first()
	if s := h.status("cam"); s.State != collector.StateUp || !s.LastProbe.Success {
		t.Fatalf("after the first probe: %+v", s)
	}
	h.setUp("cam", false)

	// The next check is check_interval later; then retries follow every
	// retry_interval.
	hung := h.clk.Now()
	s := h.probe("cam", 10*time.Second, h.base())
	if s.State != collector.StateFailing || s.ConsecutiveFailures != 1 {
		t.Fatalf("after one failed probe: %+v", s)
	}
	firstFail := h.clk.Now()
	s = h.probe("cam", time.Second, h.base())
	if s.State != collector.StateFailing || s.ConsecutiveFailures != 2 {
		t.Fatalf("after two failed probes: %+v", s)
	}
	// Just before the third probe is due nothing has happened.
	h.clk.Advance(time.Second - time.Millisecond)
	if s := h.status("cam"); s.ConsecutiveFailures != 2 || !s.LastProbe.Time.Equal(firstFail.Add(time.Second)) {
		t.Fatalf("probed before retry_interval passed: %+v", s)
	}
	if n := len(h.ev.of(event.Offline, "cam")) + len(h.ev.of(event.CycleStarted, "cam")); n != 0 {
		t.Fatalf("offline or cycling before the retries-th failure: %s", describeEvents(h.ev.all()))
	}
	h.clk.Advance(time.Millisecond)

	off := h.ev.wait(t, event.Offline, "cam", 1)
	want := firstFail.Add(2 * time.Second)
	if !off.Time.Equal(want) || off.ConsecutiveFailures != 3 {
		t.Fatalf("offline event at %s with %d failures, want at %s (%s after the first failure) with 3",
			off.Time, off.ConsecutiveFailures, want, want.Sub(firstFail))
	}
	if got := off.Time.Sub(hung); got != 12*time.Second {
		t.Fatalf("detected %s after the device hung, want check_interval + 2*retry_interval = 12s", got)
	}
	u := h.update()
	if u.Phase != actuator.PhaseCycling || u.Request.Trigger != actuator.TriggerAuto || !u.Time.Equal(want) ||
		len(u.Request.Devices) != 1 || u.Request.Devices[0] != "cam" || u.Request.Off != 5500*time.Millisecond {
		t.Fatalf("first Cycler update = %+v", u)
	}
	cs := h.ev.wait(t, event.CycleStarted, "cam", 1)
	if !cs.Time.Equal(want) || cs.Trigger != actuator.TriggerAuto || cs.State != collector.StateCycling {
		t.Fatalf("cycle_started = %+v", cs)
	}
}

// A device that answers again before its retries run out is never cycled.
func TestRecoversByItselfWhileFailingIsNotCycled(t *testing.T) {
	h := newHarness(t, harnessOpts{devices: []dev{{name: "cam"}}})
	h.first()
	h.setUp("cam", false)
	h.probe("cam", 10*time.Second, h.base())
	s := h.probe("cam", time.Second, h.base())
	if s.State != collector.StateFailing || s.ConsecutiveFailures != 2 {
		t.Fatalf("after two failed probes: %+v", s)
	}
	h.setUp("cam", true)
	s = h.probe("cam", time.Second, h.base())
	if s.State != collector.StateUp || s.ConsecutiveFailures != 0 {
		t.Fatalf("after answering again: %+v", s)
	}
	// Back on the check_interval rhythm; a long quiet stretch follows.
	for range 30 {
		h.probe("cam", 10*time.Second, h.base())
	}
	if es := h.ev.all(); len(es) != 0 {
		t.Fatalf("events for a device that never went offline: %s", describeEvents(es))
	}
	if calls := h.switchCalls(); len(calls) != 0 {
		t.Fatalf("the plug was switched: %+v", calls)
	}
	if hist := h.store.History("cam"); len(hist) != 0 {
		t.Fatalf("cycles recorded: %+v", hist)
	}
	if !h.sim.On(0) || h.sim.Outlets()[0].Countdown {
		t.Fatalf("plug outlet = %+v", h.sim.Outlets()[0])
	}
}

// Offline → cycling (the plug really goes off, then on) → booting → up, the
// boot grace ending at the first answer, long before boot_time.
func TestCycleBootsAndRecoversBeforeBootTime(t *testing.T) {
	h := newHarness(t, harnessOpts{devices: []dev{{name: "cam"}}})
	h.first()
	h.goOffline("cam")
	cycling, booting := h.cycleThrough()
	if got := booting.Time.Sub(cycling.Time); got != 5500*time.Millisecond {
		t.Fatalf("power was off for %s, want cycle_time 5.5s", got)
	}
	want := actuator.SafeCycleReport{FlipBackArmed: true, SwitchedOff: true, SwitchedOn: true, Verified: true, FlipBackDisarmed: true, OnAttempts: 1}
	if booting.Err != nil || booting.Report != want {
		t.Fatalf("booting update: report %+v, err %v", booting.Report, booting.Err)
	}
	calls := h.switchCalls()
	if len(calls) != 2 || calls[0].On || !calls[0].At.Equal(cycling.Time) || !calls[1].On || !calls[1].At.Equal(booting.Time) || calls[0].Err != nil || calls[1].Err != nil {
		t.Fatalf("switch calls = %+v, want off at %s and on at %s", calls, cycling.Time, booting.Time)
	}
	if o := h.sim.Outlets()[0]; !o.On || o.Countdown {
		t.Fatalf("after the cycle the outlet is %+v, want on with no countdown left", o)
	}
	s := h.status("cam")
	if s.State != collector.StateBooting || s.BootUntil == nil || !s.BootUntil.Equal(booting.Time.Add(time.Minute)) || s.CyclesInWindow != 1 {
		t.Fatalf("after power returned: %+v", s)
	}
	if _, busy := h.cycler.Busy("p", ""); !busy {
		t.Fatal("the outlet is not busy while its device boots")
	}
	if err := h.sup.RequestCycle("cam", actuator.TriggerManual); !errors.Is(err, actuator.ErrAlreadyCycling) {
		t.Fatalf("RequestCycle while booting = %v, want ErrAlreadyCycling", err)
	}

	// Still booting for 20s, probed every retry_interval; then it answers.
	for range 20 {
		if s := h.probe("cam", time.Second, h.base()); s.State != collector.StateBooting {
			t.Fatalf("while booting: %+v", s)
		}
	}
	h.setUp("cam", true)
	s = h.probe("cam", time.Second, h.base())
	if s.State != collector.StateUp || s.ConsecutiveFailures != 0 {
		t.Fatalf("after answering: %+v", s)
	}
	rec := h.ev.wait(t, event.Recovered, "cam", 1)
	if got := rec.Time.Sub(booting.Time); got != 21*time.Second {
		t.Fatalf("recovered %s after power returned, want 21s (boot_time is 60s)", got)
	}
	if !rec.LastCycle.Equal(cycling.Time) || rec.State != collector.StateUp {
		t.Fatalf("recovered event = %+v", rec)
	}
	if _, busy := h.cycler.Busy("p", ""); busy {
		t.Fatal("the outlet still busy after its device answered")
	}
	hist := h.store.History("cam")
	if len(hist) != 1 || !hist[0].OK || hist[0].Trigger != actuator.TriggerAuto || !hist[0].Started.Equal(cycling.Time) {
		t.Fatalf("history = %+v", hist)
	}
	if in := h.store.Intents(); len(in) != 0 {
		t.Fatalf("intents left in the state file: %+v", in)
	}
	kinds := []event.Kind{}
	for _, e := range h.ev.all() {
		kinds = append(kinds, e.Kind)
	}
	if fmt.Sprint(kinds) != "[offline cycle_started recovered]" {
		t.Fatalf("events: %s", describeEvents(h.ev.all()))
	}
}

// A device that stays down: a cycle, boot_time, a backoff, a second cycle,
// then gave_up at max_cycles, and no cycle ever again.
func TestNeverRecoversBacksOffThenGivesUp(t *testing.T) {
	h := newHarness(t, harnessOpts{devices: []dev{{name: "cam"}}})
	h.first()
	h.goOffline("cam")
	_, b1 := h.cycleThrough()

	// boot_time (60s) passes with the device still down.
	for h.clk.Now().Before(b1.Time.Add(time.Minute)) {
		h.probe("cam", time.Second, h.base())
	}
	s := h.status("cam")
	if s.State != collector.StateFailing {
		t.Fatalf("after boot_time: %+v", s)
	}
	cf := h.ev.wait(t, event.CycleFailed, "cam", 1)
	if !cf.Time.Equal(b1.Time.Add(time.Minute)) || cf.State != collector.StateFailing {
		t.Fatalf("cycle_failed = %+v", cf)
	}
	// The backoff is boot_time: no cycle before it passes.
	backoffEnds := h.clk.Now().Add(time.Minute)
	for h.clk.Now().Before(backoffEnds.Add(-time.Second)) {
		h.probe("cam", time.Second, h.base())
	}
	if n := len(h.ev.of(event.CycleStarted, "cam")); n != 1 {
		t.Fatalf("%d cycles during the backoff: %s", n, describeEvents(h.ev.all()))
	}
	h.clk.Advance(time.Second)
	c2, b2 := h.cycleThrough()
	if !c2.Time.Equal(backoffEnds) {
		t.Fatalf("second cycle at %s, want when the backoff ended at %s", c2.Time, backoffEnds)
	}

	// The second cycle does not help either: with max_cycles (2) used up in
	// cycle_window, it gives up once the (doubled) backoff has passed.
	for len(h.ev.of(event.GaveUp, "cam")) == 0 {
		if h.clk.Now().After(b2.Time.Add(10 * time.Minute)) {
			t.Fatalf("no gave_up 10m after the second cycle: %s", describeEvents(h.ev.all()))
		}
		h.clk.Advance(time.Second)
		h.waitPending(h.base())
	}
	gu := h.ev.wait(t, event.GaveUp, "cam", 1)
	if gu.State != collector.StateGaveUp || gu.CyclesInWindow != 2 {
		t.Fatalf("gave_up = %+v", gu)
	}
	if s := h.status("cam"); s.State != collector.StateGaveUp {
		t.Fatalf("after giving up: %+v", s)
	}
	// Hours later, long past cycle_window: still given up, never cycled again.
	for range 2 * 6 * 60 {
		h.clk.Advance(10 * time.Second)
		h.waitPending(h.base())
	}
	s = h.status("cam")
	if s.State != collector.StateGaveUp || !s.LastProbe.Time.After(gu.Time.Add(time.Hour)) || s.CyclesInWindow != 0 {
		t.Fatalf("two hours after giving up: %+v", s)
	}
	// The status page keeps what the notifications said.
	if len(s.Events) == 0 || s.Events[len(s.Events)-1].Kind != event.GaveUp || s.Events[len(s.Events)-1].CyclesInWindow != 2 {
		t.Fatalf("status page events: %s", describeEvents(s.Events))
	}
	if n := len(h.ev.of(event.CycleStarted, "cam")); n != 2 {
		t.Fatalf("%d cycles, want 2: %s", n, describeEvents(h.ev.all()))
	}
	if n := len(h.switchCalls()); n != 4 {
		t.Fatalf("%d switch calls, want 4 (two cycles): %+v", n, h.switchCalls())
	}
	if n := len(h.ev.of(event.GaveUp, "cam")); n != 1 {
		t.Fatalf("gave_up announced %d times", n)
	}
	// It answers: it leaves gave_up.
	h.setUp("cam", true)
	h.clk.Advance(10 * time.Second)
	rec := h.ev.wait(t, event.Recovered, "cam", 1)
	if rec.State != collector.StateUp {
		t.Fatalf("recovered = %+v", rec)
	}
}

// The plug drops off the network right after switching off (the device
// being cycled is the router in between): our switch-on fails, the plug's
// own flip-back brings power back after cycle_time, and the events and
// state say so.
func TestPlugUnreachableWhenSwitchingBackOn(t *testing.T) {
	for _, tc := range []struct {
		name       string
		noFlipBack bool
		next       string
	}{
		{"flip-back armed", false, "the plug's own timer switches the outlet back on"},
		{"plug refused the flip-back", true, "the outlet may still be OFF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{devices: []dev{{name: "cam"}}, plugTimeout: time.Second})
			if tc.noFlipBack {
				h.sim.RefuseMethod("count_down.add_rule")
			}
			h.first()
			h.cutAfterOff.Store(true)
			h.goOffline("cam")
			cycling := h.update()
			if cycling.Phase != actuator.PhaseCycling {
				t.Fatalf("update = %+v", cycling)
			}
			timers := h.base() + 2 // and the flip-back, and the off wait
			if tc.noFlipBack {
				timers--
			}
			h.waitPending(timers)
			if o := h.sim.Outlets()[0]; o.On || o.Countdown == tc.noFlipBack {
				t.Fatalf("during the off time: %+v", o)
			}
			for range 5 {
				h.clk.Advance(time.Second)
				h.waitPending(timers)
			}
			h.clk.Advance(500 * time.Millisecond) // cycle_time has passed
			// Our first switch-on times out; the retry waits retry_delay (1s).
			h.waitUntil("first switch-on fails", func() bool { return len(h.switchCalls()) == 2 })
			h.waitPending(timers) // the retry instead of the off wait
			if h.sim.On(0) {
				t.Fatal("on before the plug's timer (whole seconds: 6s) ran out")
			}
			h.clk.Advance(time.Second)
			if !tc.noFlipBack {
				h.waitUntil("the plug's flip-back switches the outlet on", func() bool { return h.sim.On(0) })
			}
			booting := h.update()
			if booting.Phase != actuator.PhaseBooting || booting.Err == nil || booting.Report.SwitchedOn ||
				booting.Report.FlipBackArmed == tc.noFlipBack || booting.Report.OnAttempts != 2 {
				t.Fatalf("booting update: %+v", booting)
			}
			for _, c := range h.switchCalls()[1:] {
				if !c.On || c.Err == nil {
					t.Fatalf("switch calls: %+v", h.switchCalls())
				}
			}
			pu := h.ev.wait(t, event.PlugUnreachable, "cam", 1)
			if pu.State != collector.StateBooting || pu.Trigger != actuator.TriggerAuto || !strings.Contains(pu.Next, tc.next) || pu.Detail == "" {
				t.Fatalf("plug_unreachable = %+v", pu)
			}
			if s := h.status("cam"); s.State != collector.StateBooting {
				t.Fatalf("state = %s", s.State)
			}
			h.sim.SetFault(kasasim.NoFault)
			if tc.noFlipBack {
				// Nothing brings power back but a person or the next start:
				// the intent stays for Reconcile.
				if h.sim.On(0) {
					t.Fatal("outlet on without a flip-back")
				}
				if in := h.store.Intents(); len(in) != 1 || in[0].Plug != "p" {
					t.Fatalf("intents = %+v", in)
				}
				return
			}
			if !h.sim.On(0) || h.sim.Outlets()[0].Countdown {
				t.Fatalf("after the cycle: %+v", h.sim.Outlets()[0])
			}
			if in := h.store.Intents(); len(in) != 0 {
				t.Fatalf("intent left although the plug switched itself on: %+v", in)
			}
			hist := h.store.History("cam")
			if len(hist) != 1 || hist[0].OK || !strings.Contains(hist[0].Detail, "flip-back") {
				t.Fatalf("history = %+v", hist)
			}
			// Power is back: the device answers and the boot ends.
			h.setUp("cam", true)
			for len(h.ev.of(event.Recovered, "cam")) == 0 {
				if h.clk.Now().After(booting.Time.Add(10 * time.Second)) {
					t.Fatalf("not recovered: %s", describeEvents(h.ev.all()))
				}
				h.clk.Advance(time.Second)
				h.waitPending(h.base())
			}
		})
	}
}

// With no guard target answering, the monitor itself looks cut off: however
// many devices fail, nothing is cycled; they are held. Cycling resumes when a
// target answers again.
func TestGuardTargetDownHoldsEveryCycle(t *testing.T) {
	addr, listen := closedPort(t)
	h := newHarness(t, harnessOpts{devices: []dev{{name: "cam"}, {name: "nvr"}, {name: "ap"}},
		guard: fmt.Sprintf("targets: [%q], check_interval: 10s, timeout: 1s", addr)})
	ge := h.ev.wait(t, event.Held, "", 1)
	if !h.sup.GuardDown() || !strings.Contains(ge.Detail, addr) || !strings.Contains(h.sup.Holding(), "guard targets") {
		t.Fatalf("guard event %+v, down %v, holding %q", ge, h.sup.GuardDown(), h.sup.Holding())
	}
	h.first()
	for _, name := range []string{"cam", "nvr", "ap"} {
		h.setUp(name, false)
	}
	// Ten minutes of every device failing.
	for range 600 {
		h.tick(time.Second)
	}
	for _, name := range []string{"cam", "nvr", "ap"} {
		s := h.status(name)
		if s.State != collector.StateHeld || !strings.Contains(s.Held, "guard") || s.ConsecutiveFailures < 500 {
			t.Fatalf("%s: %+v", name, s)
		}
		if n := len(h.ev.of(event.Held, name)); n != 1 {
			t.Fatalf("%s: %d held events, want 1: %s", name, n, describeEvents(h.ev.all()))
		}
	}
	if n := len(h.ev.of(event.CycleStarted, "cam")) + len(h.ev.of(event.CycleStarted, "nvr")) + len(h.ev.of(event.CycleStarted, "ap")); n != 0 {
		t.Fatalf("%d cycles while the guard held", n)
	}
	if c := h.switchCalls(); len(c) != 0 || len(h.updates) != 0 {
		t.Fatalf("the plug was switched while the guard held: %+v", c)
	}

	listen()
	h.tickUntil("the guard sees its target again", time.Second, 10, func() bool { return !h.sup.GuardDown() })
	if why := h.sup.Holding(); why != "" {
		t.Fatalf("still holding: %s", why)
	}
	// The next failed probe cycles the outlet, once, with all three on it.
	h.tickUntil("a cycle", time.Second, 2, h.outletBusy)
	_, booting := h.cycleThrough("cam", "nvr", "ap")
	if fmt.Sprint(booting.Request.Devices) != "[ap cam nvr]" || booting.Err != nil {
		t.Fatalf("cycle after the guard cleared: %+v", booting)
	}
	for _, name := range []string{"cam", "nvr", "ap"} {
		if s := h.status(name); s.State != collector.StateUp {
			t.Fatalf("%s after the cycle: %+v", name, s)
		}
	}
}

// Two devices on one outlet: one cycle for both, both booting, and a request
// for either meanwhile is "already cycling".
func TestTwoDevicesOnOneOutletOneCycle(t *testing.T) {
	h := newHarness(t, harnessOpts{devices: []dev{{name: "cam"}, {name: "nvr"}}})
	h.first()
	h.setUp("cam", false)
	h.setUp("nvr", false)
	h.tickUntil("a cycle", time.Second, 30, h.outletBusy)
	cycling := <-h.updates
	h.updates <- cycling // for cycleThrough
	if fmt.Sprint(cycling.Request.Devices) != "[cam nvr]" {
		t.Fatalf("cycle request = %+v", cycling.Request)
	}
	for _, name := range []string{"cam", "nvr"} {
		if err := h.sup.RequestCycle(name, actuator.TriggerManual); !errors.Is(err, actuator.ErrAlreadyCycling) {
			t.Fatalf("RequestCycle(%s) while cycling = %v", name, err)
		}
	}
	_, booting := h.cycleThrough()
	for _, name := range []string{"cam", "nvr"} {
		s := h.status(name)
		if s.State != collector.StateBooting || s.LastCycle == nil || !s.LastCycle.Equal(cycling.Time) {
			t.Fatalf("%s: %+v", name, s)
		}
		if n := len(h.ev.of(event.CycleStarted, name)); n != 1 {
			t.Fatalf("%s: %d cycle_started events", name, n)
		}
		if hist := h.store.History(name); len(hist) != 1 || !hist[0].OK {
			t.Fatalf("%s history: %+v", name, hist)
		}
		if err := h.sup.RequestCycle(name, actuator.TriggerWebhook); !errors.Is(err, actuator.ErrAlreadyCycling) {
			t.Fatalf("RequestCycle(%s) while booting = %v", name, err)
		}
	}
	if c := h.switchCalls(); len(c) != 2 {
		t.Fatalf("switch calls: %+v", c)
	}
	// Booting, both keep failing without another cycle; then they answer.
	for range 30 {
		h.tick(time.Second)
	}
	h.setUp("cam", true)
	h.setUp("nvr", true)
	h.tickUntil("both recover", time.Second, 5, func() bool {
		return h.status("cam").State == collector.StateUp && h.status("nvr").State == collector.StateUp
	})
	if c := h.switchCalls(); len(c) != 2 || len(h.updates) != 0 {
		t.Fatalf("switch calls: %+v, updates %d", c, len(h.updates))
	}
	for _, name := range []string{"cam", "nvr"} {
		rec := h.ev.wait(t, event.Recovered, name, 1)
		if rec.Time.Sub(booting.Time) > 40*time.Second {
			t.Fatalf("%s recovered at %s", name, rec.Time)
		}
	}
}

// Dry run: the decision is made and logged, nothing is switched, the device
// is held, and the hold is announced once.
func TestDryRunHoldsWithoutSwitching(t *testing.T) {
	h := newHarness(t, harnessOpts{devices: []dev{{name: "cam"}}, dryRun: true})
	h.first()
	h.goOffline("cam")
	if u := h.update(); u.Phase != actuator.PhaseDryRun {
		t.Fatalf("update = %+v", u)
	}
	h.waitPending(h.base())
	for range 120 {
		h.tick(time.Second)
	}
	s := h.status("cam")
	if s.State != collector.StateHeld || s.Held != "dry run" {
		t.Fatalf("in dry run: %+v", s)
	}
	if c := h.switchCalls(); len(c) != 0 || !h.sim.On(0) || h.sim.Outlets()[0].Countdown {
		t.Fatalf("dry run switched the plug: %+v %+v", c, h.sim.Outlets()[0])
	}
	if n := len(h.ev.of(event.Held, "cam")); n != 1 {
		t.Fatalf("%d held events, want 1: %s", n, describeEvents(h.ev.all()))
	}
	if n := len(h.ev.of(event.CycleStarted, "cam")); n != 0 {
		t.Fatalf("%d cycle_started events in dry run", n)
	}
	// It decides again at the pace of a real cycle (cycle_time + boot_time
	// = 65.5s), not at every probe.
	if n := len(h.updates); n != 1 {
		t.Fatalf("%d more dry-run decisions in 2 minutes, want 1", n)
	}
	// (Its time is read in the Cycler's goroutine, which may run after the
	// next tick: not before the probe at +66s is all that is certain.)
	if u := <-h.updates; u.Phase != actuator.PhaseDryRun || u.Time.Before(h.ev.of(event.Held, "cam")[0].Time.Add(66*time.Second)) {
		t.Fatalf("second dry-run update: %+v", u)
	}
	if hist := h.store.History("cam"); len(hist) != 0 {
		t.Fatalf("dry run recorded cycles: %+v", hist)
	}
}

func TestRequestCycle(t *testing.T) {
	h := newHarness(t, harnessOpts{devices: []dev{
		{name: "cam"},
		{name: "meter", extra: "mode: monitor"},
		{name: "loose", plug: "-", extra: "mode: monitor"},
	}})
	h.first()
	if err := h.sup.RequestCycle("nosuch", actuator.TriggerManual); !errors.Is(err, collector.ErrUnknownDevice) {
		t.Fatalf("unknown device: %v", err)
	}
	for _, name := range []string{"meter", "loose"} {
		if err := h.sup.RequestCycle(name, actuator.TriggerManual); !errors.Is(err, collector.ErrNoPlug) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// A device that is up is cycled on request.
	if err := h.sup.RequestCycle("cam", actuator.TriggerManual); err != nil {
		t.Fatal(err)
	}
	if err := h.sup.RequestCycle("cam", actuator.TriggerWebhook); !errors.Is(err, actuator.ErrAlreadyCycling) {
		t.Fatalf("second request = %v", err)
	}
	cycling, booting := h.cycleThrough("cam")
	if cycling.Request.Trigger != actuator.TriggerManual || fmt.Sprint(cycling.Request.Devices) != "[cam meter]" || booting.Err != nil {
		t.Fatalf("manual cycle: %+v", booting)
	}
	if e := h.ev.wait(t, event.CycleStarted, "cam", 1); e.Trigger != actuator.TriggerManual {
		t.Fatalf("cycle_started = %+v", e)
	}
	h.ev.wait(t, event.Recovered, "cam", 1)
	if s := h.status("cam"); s.State != collector.StateUp {
		t.Fatalf("after the manual cycle: %+v", s)
	}
}

// More than max_failing_ratio of at least min_devices failing at once looks
// like a network outage: held. When most answer again, the one still down
// is cycled.
func TestGuardFailingRatioHolds(t *testing.T) {
	names := []string{"a", "b", "c", "d"}
	var devs []dev
	for _, n := range names {
		devs = append(devs, dev{name: n})
	}
	h := newHarness(t, harnessOpts{devices: devs, guard: "max_failing_ratio: 0.5, min_devices: 4",
		settings: "check_interval: 1s, retry_interval: 1s, retries: 3, timeout: 1s, cycle_time: 5500ms, boot_time: 60s, max_cycles: 2, cycle_window: 1h"})
	h.first()
	for _, n := range names[:3] {
		h.setUp(n, false)
	}
	for range 30 {
		h.tick(time.Second)
	}
	if why := h.sup.Holding(); !strings.Contains(why, "3 of 4 devices are failing") {
		t.Fatalf("holding = %q", why)
	}
	for _, n := range names[:3] {
		if s := h.status(n); s.State != collector.StateHeld {
			t.Fatalf("%s: %+v", n, s)
		}
	}
	if h.outletBusy() || len(h.switchCalls()) != 0 {
		t.Fatal("cycled during an outage")
	}
	h.setUp("a", true)
	h.setUp("b", true)
	h.tickUntil("c is cycled", time.Second, 5, h.outletBusy)
	if why := h.sup.Holding(); why != "" {
		t.Fatalf("still holding: %s", why)
	}
	cycling, _ := h.cycleThrough("c")
	if cycling.Request.Trigger != actuator.TriggerAuto {
		t.Fatalf("cycle: %+v", cycling)
	}
}
