package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/collector/probe"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/event"
)

// States of the per-device state machine.
const (
	StateUnknown = "unknown"
	StateUp      = "up"
	StateFailing = "failing"
	StateCycling = "cycling"
	StateBooting = "booting"
	StateHeld    = "held"
	StateGaveUp  = "gave_up"
)

// States lists every state, for the device_state metric.
var States = []string{StateUnknown, StateUp, StateFailing, StateCycling, StateBooting, StateHeld, StateGaveUp}

// maxEvents is how many recent events each device keeps for the status page.
const maxEvents = 20

// device is one supervised device: its config, prober, and state. A single
// goroutine probes it; the Cycler's listener also changes its state, so
// every field below mu is guarded by it.
type device struct {
	s      *Supervisor
	cfg    config.DeviceConfig
	prober probe.Prober
	sched  cron.Schedule
	log    *slog.Logger
	wake   chan struct{} // a probe is wanted now (state changed from outside)
	result chan probe.Result
	stop   context.CancelFunc
	done   chan struct{}

	mu          sync.Mutex
	state       string
	failures    int
	lastProbe   probe.Result
	lastProbeAt time.Time
	probed      bool
	bootUntil   time.Time
	notBefore   time.Time // no automatic cycle before this (backoff)
	ineffective int       // cycles in a row after which the device stayed down
	offline     bool      // "offline" was announced and "recovered" is owed
	heldFor     string    // why the device is held
	lastCycle   time.Time
	nextReboot  time.Time
	prevUp      bool // last probe result, for the failing count
	counted     bool
	events      []event.Event
}

func (d *device) key() (string, string) { return d.cfg.Plug, d.cfg.Outlet }

// run probes until stopped. Probes follow check_interval while the device is
// up and retry_interval while something is wrong.
func (d *device) run(ctx context.Context) {
	defer close(d.done)
	clk := d.s.opt.Clock
	probeTimer := clk.NewTimer(d.s.initialDelay(d))
	defer probeTimer.Stop()
	var schedC <-chan time.Time
	var schedTimer interface{ Stop() bool }
	armSchedule := func() {
		if d.sched == nil {
			return
		}
		now := clk.Now()
		next := d.sched.Next(now)
		d.mu.Lock()
		d.nextReboot = next
		d.mu.Unlock()
		t := clk.NewTimer(next.Sub(now))
		schedC, schedTimer = t.C(), t
	}
	armSchedule()
	defer func() {
		if schedTimer != nil {
			schedTimer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
			probeTimer.Stop()
			probeTimer.Reset(0)
		case <-schedC:
			d.scheduledReboot()
			armSchedule()
		case <-probeTimer.C():
			// Intervals run from probe start to probe start: a probe that
			// times out does not push the next one later.
			started := clk.Now()
			next := d.check(ctx) - clk.Now().Sub(started)
			probeTimer.Reset(max(next, 0))
		}
	}
}

// probe runs the prober on a goroutine of its own: a dial's deep stack then
// lives only as long as the probe, and the device's long-lived goroutine,
// parked between probes, stays small (10,000 devices are 10,000 of them).
func (d *device) probe(ctx context.Context) probe.Result {
	if d.result == nil {
		d.result = make(chan probe.Result, 1)
	}
	go func() { d.result <- d.prober.Probe(ctx) }()
	return <-d.result
}

// check runs one probe and the state machine; it returns when to check next.
func (d *device) check(ctx context.Context) time.Duration {
	st := d.cfg.Settings
	d.mu.Lock()
	cycling := d.state == StateCycling
	d.mu.Unlock()
	if cycling { // power is off on purpose: a probe would only fail
		return st.RetryInterval.D()
	}
	pctx, cancel := context.WithTimeout(ctx, st.Timeout.D())
	res := d.probe(pctx)
	cancel()
	if ctx.Err() != nil {
		return st.CheckInterval.D()
	}
	d.s.countProbe(d.prober.Type(), res.Success)
	if res.Success {
		d.succeeded(res)
	} else {
		d.failed(res)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch d.state {
	case StateUp, StateUnknown, StateGaveUp:
		return st.CheckInterval.D()
	}
	return st.RetryInterval.D()
}

func (d *device) succeeded(res probe.Result) {
	now := d.s.opt.Clock.Now()
	d.mu.Lock()
	prev := d.state
	wasOffline := d.offline
	d.lastProbe, d.lastProbeAt, d.probed = res, now, true
	d.failures, d.ineffective, d.offline, d.heldFor = 0, 0, false, ""
	d.notBefore = time.Time{}
	d.setStateLocked(StateUp)
	d.mu.Unlock()
	d.s.deviceUp(d, true)
	if prev == StateBooting {
		plug, outlet := d.key()
		d.s.opt.Cycler.Booted(plug, outlet)
	}
	if wasOffline || prev == StateBooting {
		detail := "answers again"
		if prev == StateBooting {
			detail = "answers again after the power cycle"
		}
		d.log.Info("device recovered", "after", prev)
		d.emit(event.Event{Kind: event.Recovered, Detail: detail, Next: fmt.Sprintf("checking every %s", d.cfg.Settings.CheckInterval)})
	}
}

func (d *device) failed(res probe.Result) {
	now := d.s.opt.Clock.Now()
	st := d.cfg.Settings
	d.mu.Lock()
	d.lastProbe, d.lastProbeAt, d.probed = res, now, true
	d.failures++
	prev, n := d.state, d.failures
	d.mu.Unlock()
	d.s.deviceUp(d, false)
	d.log.Debug("probe failed", "failures", n, "err", res.Err)

	switch prev {
	case StateBooting:
		d.mu.Lock()
		booting := now.Before(d.bootUntil)
		var backoff time.Duration
		if !booting {
			// The cycle did not help: wait longer before the next one.
			d.ineffective++
			backoff = st.BootTime.D() << (d.ineffective - 1)
			if backoff > st.CycleWindow.D() || backoff <= 0 {
				backoff = st.CycleWindow.D()
			}
			d.notBefore = now.Add(backoff)
			d.setStateLocked(StateFailing)
			d.log.Warn("device still down after boot_time; backing off before the next cycle", "backoff", backoff)
		}
		d.mu.Unlock()
		if booting {
			return
		}
		// Say so: the cycle_started mail promised word if the cycle does
		// not help.
		next := fmt.Sprintf("no automatic power cycle for %s (backoff), then again up to max_cycles (%d) in %s", backoff, st.MaxCycles, st.CycleWindow)
		if d.cfg.Mode != config.ModeAuto {
			next = "waiting for an alert or a manual request to power-cycle it again"
		}
		d.emit(event.Event{Kind: event.CycleFailed,
			Detail: fmt.Sprintf("still down %s after the power cycle (boot_time): %s", st.BootTime, errText(res.Err)),
			Next:   next})
	case StateGaveUp:
		return
	case StateUp, StateUnknown:
		d.mu.Lock()
		d.setStateLocked(StateFailing)
		d.mu.Unlock()
	}
	d.mu.Lock()
	failures, offline := d.failures, d.offline
	if failures >= st.Retries && !offline {
		d.offline = true
	}
	d.mu.Unlock()
	if failures < st.Retries {
		return
	}
	if !offline {
		d.log.Warn("device is offline", "failures", failures, "err", res.Err)
		next := "power-cycling it now"
		switch d.cfg.Mode {
		case config.ModeAlert:
			next = "waiting for an alert or a manual request to power-cycle it"
		case config.ModeMonitor:
			next = "monitor mode: nothing will be done"
		}
		d.emit(event.Event{Kind: event.Offline, Detail: errText(res.Err), Next: next})
	}
	if d.cfg.Mode == config.ModeAuto {
		d.decide(now)
	}
}

// decide asks for an automatic cycle when nothing forbids it.
func (d *device) decide(now time.Time) {
	st := d.cfg.Settings
	d.mu.Lock()
	notBefore := d.notBefore
	d.mu.Unlock()
	if now.Before(notBefore) {
		return
	}
	if n := d.s.cyclesInWindow(d.cfg.Name, st.CycleWindow.D(), now); n >= st.MaxCycles {
		d.mu.Lock()
		already := d.state == StateGaveUp
		d.setStateLocked(StateGaveUp)
		d.mu.Unlock()
		if !already {
			d.log.Error("giving up: power cycles did not help", "cycles", n, "window", st.CycleWindow)
			d.emit(event.Event{Kind: event.GaveUp, Detail: fmt.Sprintf("%d power cycles in %s did not bring it back", n, st.CycleWindow),
				Next: "no more automatic cycles until it answers again; check it by hand"})
		}
		return
	}
	d.s.recheckGuard()
	if why := d.s.holding(); why != "" {
		d.hold(why)
		return
	}
	err := d.s.startCycle(d, actuator.TriggerAuto)
	if err != nil && !errors.Is(err, actuator.ErrAlreadyCycling) && !errors.Is(err, errRetired) {
		d.log.Error("could not start a power cycle", "err", err)
	}
}

func (d *device) hold(why string) {
	d.mu.Lock()
	already := d.state == StateHeld && d.heldFor == why
	d.setStateLocked(StateHeld)
	d.heldFor = why
	d.mu.Unlock()
	if !already {
		d.log.Warn("holding the power cycle", "reason", why)
		d.emit(event.Event{Kind: event.Held, Detail: why, Next: "cycling resumes when the hold clears"})
	}
}

// scheduledReboot cycles the device on its cron schedule.
func (d *device) scheduledReboot() {
	if why := d.s.holding(); why != "" {
		d.log.Warn("scheduled reboot skipped: cycling is held", "reason", why)
		return
	}
	if err := d.s.startCycle(d, actuator.TriggerSchedule); err != nil {
		d.log.Warn("scheduled reboot skipped", "err", err)
	}
}

// onCycle applies a Cycler update to this device.
func (d *device) onCycle(u actuator.Update) {
	st := d.cfg.Settings
	announced := false
	d.mu.Lock()
	switch u.Phase {
	case actuator.PhaseCycling:
		d.setStateLocked(StateCycling)
		d.lastCycle = u.Time
	case actuator.PhaseBooting:
		d.setStateLocked(StateBooting)
		d.bootUntil = u.Time.Add(st.BootTime.D())
	case actuator.PhaseFailed:
		d.setStateLocked(StateFailing)
		// Try again later, not at the next probe: the plug needs time.
		d.notBefore = u.Time.Add(st.RetryInterval.D() * time.Duration(st.Retries))
	case actuator.PhaseDryRun:
		announced = d.state == StateHeld && d.heldFor == heldDryRun
		d.setStateLocked(StateHeld)
		d.heldFor = heldDryRun
		// Decide again when a real cycle would have finished booting, not
		// at every retry: the log says "would power-cycle" at the pace the
		// real thing would.
		d.notBefore = u.Time.Add(st.CycleTime.D() + st.BootTime.D())
	}
	failures := d.failures
	d.mu.Unlock()

	base := event.Event{Trigger: u.Request.Trigger, ConsecutiveFailures: failures}
	switch u.Phase {
	case actuator.PhaseCycling:
		base.Kind, base.Detail = event.CycleStarted, fmt.Sprintf("switching the outlet off for %s (%s)", st.CycleTime, u.Request.Trigger)
		base.Next = fmt.Sprintf("power returns after %s; waiting up to %s for it to boot", st.CycleTime, st.BootTime)
		d.emit(base)
	case actuator.PhaseBooting:
		rep := u.Report
		switch {
		case u.Err == nil:
		case rep.Interrupted && rep.Verified:
			// Shutting down: power came back early and is verified on.
			d.log.Info("power cycle cut short; the outlet is on again", "err", u.Err)
		case !rep.SwitchedOn && rep.FlipBackArmed:
			base.Kind, base.Detail = event.PlugUnreachable, u.Err.Error()
			base.Next = "the plug's own timer switches the outlet back on; watching the device boot"
			d.emit(base)
		case !rep.SwitchedOn:
			base.Kind, base.Detail = event.PlugUnreachable, u.Err.Error()
			base.Next = "the plug has no flip-back timer, so the outlet may still be OFF: switch it on by hand; restartinator switches it on at its next start"
			d.emit(base)
		default:
			base.Kind, base.Detail = event.PlugUnreachable, u.Err.Error()
			base.Next = "the outlet was switched on but could not be read back; watching the device boot"
			d.emit(base)
		}
	case actuator.PhaseFailed:
		base.Kind, base.Detail = event.CycleFailed, errText(u.Err)
		base.Next = fmt.Sprintf("the outlet was not switched off; trying again in %s", st.RetryInterval.D()*time.Duration(st.Retries))
		d.emit(base)
	case actuator.PhaseDryRun:
		if !announced {
			base.Kind, base.Detail, base.Next = event.Held, "dry run: would power-cycle now", "nothing is switched in dry run"
			d.emit(base)
		}
		// Nothing changed on the device: probing now would only fail, decide
		// and dry-run again, in a tight loop.
		return
	}
	select { // probe soon after a phase change
	case d.wake <- struct{}{}:
	default:
	}
}

// heldDryRun is why a device is held in dry run.
const heldDryRun = "dry run"

// setStateLocked changes the state; callers hold d.mu.
func (d *device) setStateLocked(s string) {
	if d.state != s {
		d.log.Info("state change", "from", d.state, "to", s)
		d.state = s
	}
}

// emit fills an event with the device's facts, keeps it for the status page
// and hands it to the notifier.
func (d *device) emit(e event.Event) {
	now := d.s.opt.Clock.Now()
	e.Time, e.Device = now, d.cfg.Name
	e.Plug, e.Outlet = d.cfg.Plug, d.cfg.Outlet
	// Filled in before the event is kept, so the status page shows what the
	// notification said.
	e.CyclesInWindow = d.s.cyclesInWindow(d.cfg.Name, d.cfg.Settings.CycleWindow.D(), now)
	e.Reading = d.s.reading(d.cfg.Plug, d.cfg.Outlet)
	d.mu.Lock()
	e.State = d.state
	if e.ConsecutiveFailures == 0 {
		e.ConsecutiveFailures = d.failures
	}
	e.LastCycle = d.lastCycle
	d.events = append(d.events, e)
	if len(d.events) > maxEvents {
		d.events = d.events[len(d.events)-maxEvents:]
	}
	d.mu.Unlock()
	d.s.opt.Notifier.Notify(e)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
