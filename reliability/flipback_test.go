package reliability

import (
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/internal/event"
)

// TestPlugUnreachableRightAfterOff is issue 9 item 7: every plug drops off
// the network the moment it has switched its outlet off (the device being
// cycled was the router in between). Power must come back through the
// plug's own flip-back timer; the supervisor must say what happened and not
// cycle the device again before boot_time has passed. 20 devices, each on
// its own plug, go through it at once, on a fake clock.
func TestPlugUnreachableRightAfterOff(t *testing.T) {
	enabled(t)
	const (
		cycleTime = 5500 * time.Millisecond
		bootTime  = 60 * time.Second
	)
	devices := scaled(20)
	began := time.Now()
	r := newRig(t, rigOptions{
		devices:  devices,
		global:   "max_concurrent_cycles: 20, guard: {max_failing_ratio: 1}", // all fail at once on purpose
		settings: "check_interval: 10s, retry_interval: 1s, retries: 3, timeout: 1s, cycle_time: 5500ms, boot_time: 60s, max_cycles: 3, cycle_window: 1h",
		// Two tries to switch on, a second apart: both fail.
		safe: actuator.SafeCycleOptions{OnAttempts: 2, RetryDelay: time.Second},
	})
	for range 11 {
		r.tick(time.Second)
	}
	for name, s := range r.snapshot() {
		if s.State != collector.StateUp {
			t.Fatalf("%s is %s before the test", name, s.State)
		}
	}

	r.cutAfterOff.Store(true)
	offAt := map[string]time.Time{}  // fake time the outlet went off
	onAt := map[string]time.Time{}   // fake time the relay read on again
	bootAt := map[string]time.Time{} // the first cycle's booting update
	r.mu.Lock()
	r.onUpdate = func(u actuator.Update) {
		if u.Phase == actuator.PhaseBooting && u.Request.Trigger == actuator.TriggerAuto && !r.cutAfterOff.Load() {
			// The second cycle: power back brings the device back.
			for _, d := range u.Request.Devices {
				r.setUp(d, true)
			}
		}
	}
	r.mu.Unlock()
	for _, name := range r.names {
		r.setUp(name, false)
	}
	// Until every first cycle has ended, watch each relay at every step.
	for step := 0; len(r.updatesOf(actuator.PhaseBooting)) < devices; step++ {
		if step > 600 {
			t.Fatalf("only %d of %d first cycles ended within 5 minutes", len(r.updatesOf(actuator.PhaseBooting)), devices)
		}
		r.tick(500 * time.Millisecond)
		now := r.clk.Now()
		for _, name := range r.names {
			on := r.sims[name].On(0)
			switch {
			case !on && offAt[name].IsZero():
				offAt[name] = now
			case on && !offAt[name].IsZero() && onAt[name].IsZero():
				onAt[name] = now
			}
		}
	}
	for _, u := range r.updatesOf(actuator.PhaseBooting) {
		name := u.Request.Devices[0]
		bootAt[name] = u.Time
		rep := u.Report
		if u.Err == nil || rep.SwitchedOn || !rep.FlipBackArmed || !rep.SwitchedOff || rep.OnAttempts != 2 {
			t.Errorf("%s: the cycle's report %+v (err %v): want switched off, flip-back armed, two failed tries to switch on", name, rep, u.Err)
		}
	}
	r.cutAfterOff.Store(false)
	for _, name := range r.names {
		// Power came back while the plug was still unreachable: only the
		// plug's own timer can have done it.
		if onAt[name].IsZero() || !r.sims[name].On(0) {
			t.Errorf("%s: the outlet is still off after the cycle", name)
			continue
		}
		if got := onAt[name].Sub(offAt[name]); got > cycleTime+time.Second {
			t.Errorf("%s: power came back %s after it went off, want within cycle_time (%s) rounded up to whole seconds", name, got, cycleTime)
		}
		pu := r.eventsOf(event.PlugUnreachable, name)
		if len(pu) != 1 || pu[0].State != collector.StateBooting || !strings.Contains(pu[0].Next, "plug's own timer") || pu[0].Detail == "" {
			t.Errorf("%s: plug_unreachable events %+v: want one saying the plug's own timer switches the outlet back on", name, pu)
		}
		if s := r.snapshot()[name]; s.State != collector.StateBooting {
			t.Errorf("%s is %s after the cycle, want booting", name, s.State)
		}
		if in := r.store.Intents(); len(in) != 0 {
			t.Errorf("intents left in the state file: %+v", in)
		}
	}
	// The plugs are back on the network; the devices are still hung.
	for _, s := range r.sims {
		s.SetFault(kasasim.NoFault)
	}
	second := map[string]time.Time{}
	for step := 0; len(second) < devices; step++ {
		if step > 1200 {
			t.Fatalf("only %d of %d devices cycled a second time within 10 minutes", len(second), devices)
		}
		r.tick(time.Second)
		for _, u := range r.updatesOf(actuator.PhaseCycling) {
			name := u.Request.Devices[0]
			if u.Time.After(offAt[name]) && second[name].IsZero() {
				second[name] = u.Time
			}
		}
	}
	var minWait time.Duration
	for _, name := range r.names {
		wait := second[name].Sub(bootAt[name])
		if wait < bootTime {
			t.Errorf("%s: cycled again %s after power came back, before boot_time (%s) had passed", name, wait, bootTime)
		}
		if minWait == 0 || wait < minWait {
			minWait = wait
		}
		if cf := r.eventsOf(event.CycleFailed, name); len(cf) == 0 || cf[0].Time.Sub(bootAt[name]) < bootTime {
			t.Errorf("%s: cycle_failed events %+v: want one once boot_time had passed", name, cf)
		}
	}
	// The second cycles complete and bring every device back.
	for step := 0; ; step++ {
		up := 0
		for _, s := range r.snapshot() {
			if s.State == collector.StateUp {
				up++
			}
		}
		if up == devices {
			break
		}
		if step > 120 {
			t.Fatalf("%d of %d devices up after the second cycles", up, devices)
		}
		r.tick(time.Second)
	}
	if off := r.relaysOff(); off != 0 {
		t.Errorf("%d outlets off at the end", off)
	}
	var maxOff time.Duration
	for _, name := range r.names {
		maxOff = max(maxOff, onAt[name].Sub(offAt[name]))
	}
	report(t, "%d plugs unreachable right after switching off: power back by the plug's own flip-back within %s (cycle_time %s), %d plug_unreachable events, 0 intents left",
		devices, maxOff, cycleTime, len(r.eventsOf(event.PlugUnreachable, "")))
	report(t, "next cycle no sooner than %s after power came back (boot_time %s, then backoff); all %d devices up after it; %s real time",
		minWait, bootTime, devices, time.Since(began).Round(time.Millisecond))
}
