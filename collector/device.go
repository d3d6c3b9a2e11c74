package collector

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/collector/probe"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/internal/state"
)

// maxEvents is how many recent events each device keeps for the status page.
const maxEvents = 20

// device is one supervised device: its config, prober, the state machine's
// state and its two entries in the scheduler. It has no goroutine of its
// own: the scheduler's workers run its probes, the Cycler's goroutine its
// cycle updates, and both step the machine under mu and carry out the
// actions after releasing it.
type device struct {
	s      *Supervisor
	cfg    config.DeviceConfig
	prober probe.Prober
	multi  *probe.Multi // the prober, when the device has several targets
	maint  []maintWindow
	sched  cron.Schedule
	count  *probeCount // this device's probe type's counters
	labels deviceLabels

	probeT, cronT timerEntry

	mu         sync.Mutex
	m          Machine
	nextReboot time.Time
	prevUp     bool // last probe result, for the failing count
	counted    bool
	events     []event.Event
	// hist is the availability timeline; histDirty: changed since the
	// last write to the state file.
	hist      []state.Transition
	histDirty bool
	// jobs run now (a probe, a scheduled reboot); idle is closed when the
	// last ends, for a reload or Stop to wait on.
	jobs    int
	idle    chan struct{}
	cancel  context.CancelFunc // of the probe running now
	wake    bool               // a probe is wanted as soon as the running one ends
	retired bool               // removed or replaced by a reload, or stopped
}

func (d *device) key() (string, string) { return d.cfg.Plug, d.cfg.Outlet }

// begin registers a job; false when the device is retired.
func (d *device) begin() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.retired {
		return false
	}
	if d.jobs == 0 {
		d.idle = make(chan struct{})
	}
	d.jobs++
	return true
}

func (d *device) end() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.jobs--
	if d.jobs == 0 {
		close(d.idle)
		d.idle = nil
	}
}

// retire stops the device: nothing of it is queued or started again, a
// probe running now is cut short, and it returns when its jobs have ended.
// Callers hold no supervisor lock: a job may take s.mu to decide.
func (d *device) retire() {
	d.mu.Lock()
	d.retired = true
	idle, cancel := d.idle, d.cancel
	d.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	d.s.sched.remove(&d.probeT)
	d.s.sched.remove(&d.cronT)
	if idle != nil {
		<-idle
	}
}

// due runs what the scheduler found due: a probe or the reboot schedule.
func (d *device) due(e *timerEntry, at time.Time) {
	if !d.begin() {
		return
	}
	defer d.end()
	if e.cron {
		d.scheduled()
		return
	}
	d.maintenance(at)
	for _, a := range d.step(Due{At: at}) {
		if r, ok := a.(RunProbe); ok {
			d.s.metrics.delay.Observe(r.Start.Sub(at).Seconds())
			d.probe(r)
			return
		}
	}
}

// probe runs the prober and steps its result.
func (d *device) probe(r RunProbe) {
	// Every prober keeps to the device's timeout itself (probe.Prober); this
	// context is for a reload or Stop to cut a probe short.
	ctx, cancel := context.WithCancel(d.s.ctx)
	d.mu.Lock()
	d.cancel = cancel
	d.mu.Unlock()
	res := d.prober.Probe(ctx)
	cancel()
	d.mu.Lock()
	d.cancel = nil
	retired := d.retired
	d.mu.Unlock()
	if retired || d.s.ctx.Err() != nil {
		return
	}
	d.count.add(res.Success)
	d.s.deviceUp(d, res.Success)
	d.step(ProbeResult{Res: res, Due: r.Due, Start: r.Start})
	v := state.Down
	if res.Success {
		v = state.Up
	}
	if d.mark(v) {
		d.s.maybeFlushHistory()
	}
}

// mark records the device's availability now; true when it changed.
func (d *device) mark(v int8) bool {
	now := d.s.opt.Clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	var changed bool
	d.hist, changed = addTransition(d.hist, now, v)
	d.histDirty = d.histDirty || changed
	return changed
}

// scheduled cycles the device on its cron schedule and queues the next.
func (d *device) scheduled() {
	d.step(Scheduled{Hold: d.s.holding()})
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.retired {
		return
	}
	d.nextReboot = d.sched.Next(d.s.opt.Clock.Now())
	d.s.sched.schedule(&d.cronT, d.nextReboot)
}

// step runs the machine on in and carries out its actions; it returns them
// for the caller to look at (RunProbe, Reject).
func (d *device) step(in Input) []Action {
	prev, next, acts := d.stepOnly(in)
	if upForChildren(prev) != upForChildren(next) {
		d.s.propagate(d)
	}
	return acts
}

// stepOnly is step without telling the device's dependents about a
// change (propagate calls it: a change of parents never changes whether
// a device is up).
func (d *device) stepOnly(in Input) (prev, next string, acts []Action) {
	now := d.s.opt.Clock.Now()
	d.mu.Lock()
	prev = d.m.State
	m, acts := Step(d.m, in, now)
	d.m = m
	d.mu.Unlock()
	if m.State != prev {
		d.s.log.Info("state change", "device", d.cfg.Name, "from", prev, "to", m.State)
	}
	d.do(acts)
	return prev, m.State, acts
}

// do carries out actions.
func (d *device) do(acts []Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case ProbeAt:
			d.probeAt(a.At, false)
		case ProbeNow:
			d.probeAt(d.s.opt.Clock.Now(), true)
		case Decide:
			d.decide(a)
		case Cycle:
			d.cycle(a)
		case Booted:
			plug, outlet := d.key()
			d.s.cycler().Booted(plug, outlet)
		case Emit:
			d.emit(a.Event)
		case Log:
			if d.s.log.Enabled(d.s.ctx, a.Level) {
				d.s.log.Log(d.s.ctx, a.Level, a.Msg, append([]any{"device", d.cfg.Name}, a.Args...)...)
			}
		}
	}
}

// probeAt queues the next probe. now: wanted at once, also when a probe is
// running (then right after it).
func (d *device) probeAt(at time.Time, now bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.retired {
		return
	}
	if now && d.jobs > 0 && !d.s.sched.queued(&d.probeT) {
		d.wake = true
		return
	}
	if d.wake {
		d.wake = false
		at = d.s.opt.Clock.Now()
	}
	d.s.sched.schedule(&d.probeT, at)
}

// decide gathers what an automatic cycle depends on beyond the device and
// steps the decision.
func (d *device) decide(a Decide) {
	now := d.s.opt.Clock.Now()
	cycles := d.s.cyclesInWindow(d.cfg.Name, d.cfg.Settings.CycleWindow.D(), now)
	hold := ""
	if cycles < d.cfg.Settings.MaxCycles {
		d.s.recheckGuard()
		hold = d.s.holding()
	}
	d.step(Decision{Cycles: cycles, Hold: hold, Due: a.Due, Start: a.Start})
}

// cycle asks the Cycler; a refusal is logged by what asked. Requests get
// their error from request instead.
func (d *device) cycle(c Cycle) {
	if isRequest(c.Trigger) {
		return
	}
	err := d.s.startCycle(d, c.Trigger)
	switch {
	case err == nil:
	case c.Trigger == actuator.TriggerSchedule:
		d.s.log.Warn("scheduled reboot skipped", "device", d.cfg.Name, "err", err)
	case !errors.Is(err, actuator.ErrAlreadyCycling) && !errors.Is(err, errRetired):
		d.s.log.Error("could not start a power cycle", "device", d.cfg.Name, "err", err)
	}
}

func isRequest(trigger string) bool {
	return trigger != actuator.TriggerAuto && trigger != actuator.TriggerSchedule
}

// request steps a cycle request and returns its outcome.
func (d *device) request(trigger string) error {
	for _, a := range d.step(Requested{Trigger: trigger}) {
		switch a := a.(type) {
		case Reject:
			return a.Err
		case Cycle:
			return d.s.startCycle(d, a.Trigger)
		}
	}
	return nil
}

// onCycle applies a Cycler update to this device.
func (d *device) onCycle(u actuator.Update) { d.step(CycleUpdate{U: u}) }

// emit fills an event with the device's facts, keeps it for the status page
// and hands it to the notifier.
func (d *device) emit(e event.Event) {
	now := d.s.opt.Clock.Now()
	e.Time, e.Device = now, d.cfg.Name
	e.Plug, e.Outlet = d.cfg.Plug, d.cfg.Outlet
	// Filled in before the event is kept, so the status page shows what the
	// notification said.
	e.CyclesInWindow = d.s.cyclesInWindow(d.cfg.Name, d.cfg.Settings.CycleWindow.D(), now)
	if e.Kind == event.Offline || e.Kind == event.GaveUp {
		if kids := d.s.dependents(d); len(kids) > 0 {
			e.Affected = kids
			e.Next += "; not cycled automatically while it is down, the devices behind it: " + strings.Join(kids, ", ")
		}
	}
	e.Reading = d.s.reading(d.cfg.Plug, d.cfg.Outlet)
	d.mu.Lock()
	e.State = d.m.State
	if e.ConsecutiveFailures == 0 {
		e.ConsecutiveFailures = d.m.Failures
	}
	e.LastCycle = d.m.LastCycle
	d.events = append(d.events, e)
	if len(d.events) > maxEvents {
		d.events = append(d.events[:0:0], d.events[len(d.events)-maxEvents:]...)
	}
	d.mu.Unlock()
	d.s.opt.Notifier.Notify(e)
}

// maintWindow is a maintenance window: from each time of sched, for dur.
type maintWindow struct {
	sched cron.Schedule
	dur   time.Duration
}

// maintenanceUntil is when the maintenance window the device is in at now
// ends, zero when it is in none.
func (d *device) maintenanceUntil(now time.Time) time.Time {
	var until time.Time
	for _, w := range d.maint {
		// The last start before now, if within dur: the first start
		// after now-dur that is not after now.
		if start := w.sched.Next(now.Add(-w.dur)); !start.After(now) && start.Add(w.dur).After(until) {
			until = start.Add(w.dur)
		}
	}
	return until
}

// maintenance steps the start or the end of a maintenance window, checked
// before each probe.
func (d *device) maintenance(now time.Time) {
	if len(d.maint) == 0 {
		return
	}
	until := d.maintenanceUntil(now)
	d.mu.Lock()
	cur := d.m.MaintUntil
	d.mu.Unlock()
	switch {
	case !until.IsZero() && !until.Equal(cur):
		d.step(MaintenanceStart{Until: until})
	case until.IsZero() && !cur.IsZero():
		d.step(MaintenanceEnd{})
	}
}
