package collector

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/collector/probe"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/event"
)

// The supervisor's state machine, as a pure function: Step(machine, input,
// now) returns the next machine and the actions to take. It takes no locks,
// starts no goroutines, reads no clock and does no I/O; device.go runs it
// and carries out its actions.
//
// A new state is one entry in stateKinds (and one in States, which fixes its
// metric code); a new input kind is one type with an apply method.

// States of the per-device state machine.
const (
	StateUnknown = "unknown"
	StateUp      = "up"
	StateFailing = "failing"
	StateCycling = "cycling"
	StateBooting = "booting"
	StateHeld    = "held"
	StateGaveUp  = "gave_up"
	// StateBlocked: the device fails while a device it depends on is not
	// up; it is not cycled automatically and announces nothing itself.
	StateBlocked = "blocked"
	// StatePaused: paused through the API or in a maintenance window:
	// probed and exported, never cycled automatically, no offline.
	StatePaused = "paused"
)

// States lists every state in the order of their codes (the
// restartinator_device_state_code metric and the mixin's timelines): append
// new states, never reorder.
var States = []string{StateUnknown, StateUp, StateFailing, StateCycling, StateBooting, StateHeld, StateGaveUp, StateBlocked, StatePaused}

// stateKind is what a state means to the scheduler.
type stateKind struct {
	// settled states probe every check_interval, the others every
	// retry_interval.
	settled bool
	// noProbe: power is off on purpose, a probe would only fail.
	noProbe bool
}

var stateKinds = map[string]stateKind{
	StateUnknown: {settled: true},
	StateUp:      {settled: true},
	StateFailing: {},
	StateCycling: {noProbe: true},
	StateBooting: {},
	StateHeld:    {},
	StateGaveUp:  {settled: true},
	// A blocked device waits for its parent: ParentsChanged probes it as
	// soon as the parent is up.
	StateBlocked: {settled: true},
	StatePaused:  {settled: true},
}

// stateCode is a state's number in States (-1 for none).
func stateCode(s string) int {
	for i, x := range States {
		if x == s {
			return i
		}
	}
	return -1
}

// heldDryRun is why a device is held in dry run.
const heldDryRun = "dry run"

// Machine is one device's supervisor state: everything Step reads and
// changes. Cfg is the device's config, read only.
type Machine struct {
	Cfg *config.DeviceConfig

	State       string
	Failures    int       // failed probes in a row
	NotBefore   time.Time // no automatic cycle before this (backoff)
	Ineffective int       // cycles in a row after which the device stayed down
	Offline     bool      // "offline" was announced and "recovered" is owed
	HeldFor     string    // why the device is held
	// BootUntil ends the boot grace. The Cycler owns it (it also refuses
	// new cycles of the outlet until then): the machine keeps the value
	// the Cycler's booting update carried, it never computes one.
	BootUntil   time.Time
	LastCycle   time.Time
	Probed      bool
	LastProbe   probe.Result
	LastProbeAt time.Time
	// Grid, until the first probe, is a point of the device's place in
	// the check_interval schedule (see next).
	Grid time.Time
	// ParentsDown names the devices this one depends on (directly or
	// through others) that are not up, ", "-separated; "" when all are.
	ParentsDown string
	// PausedUntil and PauseReason: a pause through the API; MaintUntil:
	// the end of the maintenance window the device is in.
	PausedUntil time.Time
	PauseReason string
	MaintUntil  time.Time
}

// Paused: a pause or a maintenance window holds the device at now.
func (m *Machine) Paused(now time.Time) bool {
	return now.Before(m.PausedUntil) || now.Before(m.MaintUntil)
}

// NewMachine is a device's machine before its first probe.
func NewMachine(cfg *config.DeviceConfig) Machine { return Machine{Cfg: cfg, State: StateUnknown} }

// Interval is how long after a probe the next one is due in the current
// state.
func (m *Machine) Interval() time.Duration {
	if stateKinds[m.State].settled {
		return m.Cfg.Settings.CheckInterval.D()
	}
	return m.Cfg.Settings.RetryInterval.D()
}

// Input is something that happened to a device.
type Input interface {
	apply(m *Machine, now time.Time) []Action
}

// Step applies in to m at now.
func Step(m Machine, in Input, now time.Time) (Machine, []Action) {
	acts := in.apply(&m, now)
	return m, acts
}

// Actions: what Step asks the world to do.
type (
	Action interface{ action() }

	// RunProbe: probe the device now, then step ProbeResult with Due and
	// Start.
	RunProbe struct{ Due, Start time.Time }
	// ProbeAt: the next probe is due at At.
	ProbeAt struct{ At time.Time }
	// ProbeNow: probe as soon as possible (a phase of a cycle changed); the
	// schedule then counts from now.
	ProbeNow struct{}
	// Decide: gather what an automatic cycle depends on outside the
	// device (cycles in the window, the guard) and step a Decision with
	// Due and Start, those of the probe that asked.
	Decide struct{ Due, Start time.Time }
	// Cycle: ask the Cycler to power-cycle the device's outlet.
	Cycle struct{ Trigger string }
	// Booted: the outlet's devices answer again; end the Cycler's boot
	// grace early.
	Booted struct{}
	// Emit: announce an event (kept for the status page, notified).
	Emit struct{ Event event.Event }
	// Log: a log line about the device.
	Log struct {
		Level slog.Level
		Msg   string
		Args  []any
	}
	// Reject: a request is refused with Err.
	Reject struct{ Err error }
)

func (RunProbe) action() {}
func (ProbeAt) action()  {}
func (ProbeNow) action() {}
func (Decide) action()   {}
func (Cycle) action()    {}
func (Booted) action()   {}
func (Emit) action()     {}
func (Log) action()      {}
func (Reject) action()   {}

func logAt(level slog.Level, msg string, args ...any) Log {
	return Log{Level: level, Msg: msg, Args: args}
}

// Due: the device's probe time came.
type Due struct{ At time.Time }

func (in Due) apply(m *Machine, now time.Time) []Action {
	var acts []Action
	if m.State == StatePaused && !m.Paused(now) {
		acts = m.unpause("the pause is over")
	}
	if stateKinds[m.State].noProbe {
		return []Action{ProbeAt{nextDue(anchor(in.At, now, m.Interval()), m.Interval(), now)}}
	}
	return append(acts, RunProbe{Due: in.At, Start: now})
}

// next is when the probe after one due at due and started at start is due.
// The first probe after a start takes the device onto its grid: first
// probes come within min(check_interval, 10 s), so that a newcomer's state
// is known soon, and the grid spreads the devices over the whole interval.
func (m *Machine) next(due, start, now time.Time) time.Time {
	iv := m.Interval()
	if g := m.Grid; !g.IsZero() {
		m.Grid = time.Time{}
		if stateKinds[m.State].settled && iv > 0 {
			if !g.After(now) {
				g = g.Add((now.Sub(g)/iv + 1) * iv)
			}
			return g
		}
	}
	return nextDue(anchor(due, start, iv), iv, now)
}

// anchor is what the next due time counts from: the due time, unless the
// work started a whole interval or more after it (a starved machine, a
// clock that jumped): then the start, so the schedule does not catch up in
// a burst.
func anchor(due, start time.Time, iv time.Duration) time.Time {
	if start.Sub(due) >= iv {
		return start
	}
	return due
}

// nextDue counts the next probe from the previous due time, so the schedule
// does not drift by the lateness of each probe. A probe that overran its
// interval (a device hanging until a timeout as long as the interval, a
// starved machine) has the next one run at once, at the last due time of
// the grid that passed: missed intervals are skipped, not caught up in a
// burst.
func nextDue(due time.Time, iv time.Duration, now time.Time) time.Time {
	if iv <= 0 {
		return now
	}
	next := due.Add(iv)
	if next.Before(now) {
		next = next.Add(now.Sub(next) / iv * iv)
	}
	return next
}

// ProbeResult: a probe that was due at Due and started at Start ended
// with Res.
type ProbeResult struct {
	Res        probe.Result
	Due, Start time.Time
}

func (in ProbeResult) apply(m *Machine, now time.Time) []Action {
	if m.Paused(now) && m.State != StateCycling && m.State != StateBooting {
		// Probed and shown, nothing decided, nothing announced.
		m.record(in.Res, now)
		m.Failures++
		if in.Res.Success {
			m.Failures = 0
		}
		m.State = StatePaused
		return []Action{ProbeAt{m.next(in.Due, in.Start, now)}}
	}
	if in.Res.Success {
		acts := m.succeeded(in.Res, now)
		return append(acts, ProbeAt{m.next(in.Due, in.Start, now)})
	}
	acts := m.failed(in.Res, now)
	if m.decides(now) {
		// The decision may change the state, and with it the interval:
		// the Decision says when the next probe is due.
		return append(acts, Decide{Due: in.Due, Start: in.Start})
	}
	return append(acts, ProbeAt{m.next(in.Due, in.Start, now)})
}

// decides: after a failed probe, an automatic cycle is up for decision.
func (m *Machine) decides(now time.Time) bool {
	return m.Cfg.Mode == config.ModeAuto && m.State != StateGaveUp && m.State != StateBlocked && !m.Paused(now) && m.Failures >= m.Cfg.Settings.Retries &&
		(m.State != StateBooting) && !now.Before(m.NotBefore)
}

func (m *Machine) record(res probe.Result, now time.Time) {
	m.LastProbe, m.LastProbeAt, m.Probed = res, now, true
}

func (m *Machine) succeeded(res probe.Result, now time.Time) []Action {
	prev, wasOffline := m.State, m.Offline
	m.record(res, now)
	m.Failures, m.Ineffective, m.Offline, m.HeldFor = 0, 0, false, ""
	m.NotBefore = time.Time{}
	m.State = StateUp
	var acts []Action
	if prev == StateBooting {
		acts = append(acts, Booted{})
	}
	if wasOffline || prev == StateBooting {
		detail := "answers again"
		if prev == StateBooting {
			detail = "answers again after the power cycle"
		}
		acts = append(acts, logAt(slog.LevelInfo, "device recovered", "after", prev),
			Emit{event.Event{Kind: event.Recovered, Detail: detail, Next: fmt.Sprintf("checking every %s", m.Cfg.Settings.CheckInterval)}})
	}
	return acts
}

func (m *Machine) failed(res probe.Result, now time.Time) []Action {
	st := m.Cfg.Settings
	m.record(res, now)
	m.Failures++
	acts := []Action{logAt(slog.LevelDebug, "probe failed", "failures", m.Failures, "err", res.Err)}
	if m.ParentsDown != "" && m.State != StateGaveUp && (m.State != StateBooting || !now.Before(m.BootUntil)) {
		// Its parent being down explains the failure: no offline, no cycle.
		return append(acts, m.block()...)
	}
	switch m.State {
	case StateBooting:
		if now.Before(m.BootUntil) {
			return acts
		}
		// The cycle did not help: wait longer before the next one.
		m.Ineffective++
		backoff := st.BootTime.D() << (m.Ineffective - 1)
		if backoff > st.CycleWindow.D() || backoff <= 0 {
			backoff = st.CycleWindow.D()
		}
		m.NotBefore = now.Add(backoff)
		m.State = StateFailing
		// Say so: the cycle_started mail promised word if the cycle does
		// not help.
		next := fmt.Sprintf("no automatic power cycle for %s (backoff), then again up to max_cycles (%d) in %s", backoff, st.MaxCycles, st.CycleWindow)
		if m.Cfg.Mode != config.ModeAuto {
			next = "waiting for an alert or a manual request to power-cycle it again"
		}
		acts = append(acts, logAt(slog.LevelWarn, "device still down after boot_time; backing off before the next cycle", "backoff", backoff),
			Emit{event.Event{Kind: event.CycleFailed,
				Detail: fmt.Sprintf("still down %s after the power cycle (boot_time): %s", st.BootTime, errText(res.Err)),
				Next:   next}})
	case StateGaveUp:
		return acts
	case StateUp, StateUnknown:
		m.State = StateFailing
	}
	if m.Failures < st.Retries {
		return acts
	}
	if !m.Offline {
		m.Offline = true
		next := "power-cycling it now"
		switch m.Cfg.Mode {
		case config.ModeAlert:
			next = "waiting for an alert or a manual request to power-cycle it"
		case config.ModeMonitor:
			next = "monitor mode: nothing will be done"
		}
		acts = append(acts, logAt(slog.LevelWarn, "device is offline", "failures", m.Failures, "err", res.Err),
			Emit{event.Event{Kind: event.Offline, Detail: errText(res.Err), Next: next}})
	}
	return acts
}

// block moves a failing device whose parent is down to blocked.
func (m *Machine) block() []Action {
	if m.State == StateBlocked {
		return nil
	}
	m.State = StateBlocked
	return []Action{logAt(slog.LevelInfo, "device blocked: a device it depends on is down; no automatic power cycle", "parents_down", m.ParentsDown)}
}

// ParentsChanged: the devices this one depends on that are not up are
// now Down (", "-separated, "" for none).
type ParentsChanged struct{ Down string }

func (in ParentsChanged) apply(m *Machine, now time.Time) []Action {
	was := m.ParentsDown
	m.ParentsDown = in.Down
	switch {
	case in.Down != "" && (m.State == StateFailing || m.State == StateHeld):
		m.HeldFor = ""
		return m.block()
	case in.Down == "" && was != "":
		// The parent is back: the device may need its own boot (its
		// power or its link came back with the parent's), so its failures
		// count from nought and no automatic cycle comes before its
		// boot_time is over.
		m.NotBefore = maxTime(m.NotBefore, now.Add(m.Cfg.Settings.BootTime.D()))
		if m.State != StateBlocked {
			return nil
		}
		m.State, m.Failures = StateFailing, 0
		return []Action{logAt(slog.LevelInfo, "the devices it depends on are up again; checking it, with its boot grace", "grace_until", m.NotBefore), ProbeNow{}}
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Decision answers Decide: Cycles is how many cycles of the device started
// within its cycle_window, Hold why the guard holds every automatic cycle
// ("" for not at all), Due and Start those of the probe that asked.
type Decision struct {
	Cycles     int
	Hold       string
	Due, Start time.Time
}

func (in Decision) apply(m *Machine, now time.Time) []Action {
	if m.Paused(now) {
		// Paused between the probe and the decision.
		m.State = StatePaused
		return []Action{ProbeAt{m.next(in.Due, in.Start, now)}}
	}
	acts := m.decide(in)
	return append(acts, ProbeAt{m.next(in.Due, in.Start, now)})
}

func (m *Machine) decide(in Decision) []Action {
	st := m.Cfg.Settings
	if m.ParentsDown != "" {
		// A parent went down between the probe and the decision.
		return m.block()
	}
	if in.Cycles >= st.MaxCycles {
		already := m.State == StateGaveUp
		m.State = StateGaveUp
		if already {
			return nil
		}
		return []Action{logAt(slog.LevelError, "giving up: power cycles did not help", "cycles", in.Cycles, "window", st.CycleWindow),
			Emit{event.Event{Kind: event.GaveUp, Detail: fmt.Sprintf("%d power cycles in %s did not bring it back", in.Cycles, st.CycleWindow),
				Next: "no more automatic cycles until it answers again; check it by hand"}}}
	}
	if in.Hold != "" {
		return m.hold(in.Hold)
	}
	return []Action{Cycle{Trigger: actuator.TriggerAuto}}
}

func (m *Machine) hold(why string) []Action {
	already := m.State == StateHeld && m.HeldFor == why
	m.State, m.HeldFor = StateHeld, why
	if already {
		return nil
	}
	return []Action{logAt(slog.LevelWarn, "holding the power cycle", "reason", why),
		Emit{event.Event{Kind: event.Held, Detail: why, Next: "cycling resumes when the hold clears"}}}
}

// Scheduled: the device's reboot schedule came due; Hold is the guard's
// reason to hold it ("" for none).
type Scheduled struct{ Hold string }

func (in Scheduled) apply(m *Machine, now time.Time) []Action {
	if m.Paused(now) {
		return []Action{logAt(slog.LevelInfo, "scheduled reboot skipped: the device is paused", "reason", m.pauseWhy(now))}
	}
	if in.Hold != "" {
		return []Action{logAt(slog.LevelWarn, "scheduled reboot skipped: cycling is held", "reason", in.Hold)}
	}
	return []Action{Cycle{Trigger: actuator.TriggerSchedule}}
}

// Requested: a person or an alert asks for a cycle (webhook, manual, file).
// The guard holds only automatic and scheduled cycles: a request comes from
// someone who sees more than we do.
type Requested struct{ Trigger string }

func (in Requested) apply(m *Machine, now time.Time) []Action {
	if m.Cfg.Mode == config.ModeMonitor || m.Cfg.Plug == "" {
		return []Action{Reject{fmt.Errorf("device %q: %w", m.Cfg.Name, ErrNoPlug)}}
	}
	if m.Paused(now) && in.Trigger != actuator.TriggerManual {
		// "Leave it alone": an alert or a file trigger does not cycle a
		// paused device; a person pressing Cycle now does.
		return []Action{Reject{fmt.Errorf("device %q is paused (%s): %w", m.Cfg.Name, m.pauseWhy(now), ErrPaused)}}
	}
	return []Action{logAt(slog.LevelInfo, "power cycle requested", "trigger", in.Trigger), Cycle(in)}
}

// CycleUpdate: the Cycler moved a cycle of the device's outlet on.
type CycleUpdate struct{ U actuator.Update }

func (in CycleUpdate) apply(m *Machine, now time.Time) []Action {
	u, st := in.U, m.Cfg.Settings
	base := event.Event{Trigger: u.Request.Trigger, ConsecutiveFailures: m.Failures}
	switch u.Phase {
	case actuator.PhaseCycling:
		m.State, m.LastCycle = StateCycling, u.Time
		base.Kind, base.Detail = event.CycleStarted, fmt.Sprintf("switching the outlet off for %s (%s)", st.CycleTime, u.Request.Trigger)
		base.Next = fmt.Sprintf("power returns after %s; waiting up to %s for it to boot", st.CycleTime, st.BootTime)
		return []Action{Emit{base}, ProbeNow{}}
	case actuator.PhaseBooting:
		m.State, m.BootUntil = StateBooting, u.BootUntil
		acts := []Action{ProbeNow{}}
		rep := u.Report
		switch {
		case u.Err == nil:
			return acts
		case rep.Interrupted && rep.Verified:
			// Shutting down: power came back early and is verified on.
			return append(acts, logAt(slog.LevelInfo, "power cycle cut short; the outlet is on again", "err", u.Err))
		case !rep.SwitchedOn && rep.FlipBackArmed:
			base.Next = "the plug's own timer switches the outlet back on; watching the device boot"
		case !rep.SwitchedOn:
			base.Next = "the plug has no flip-back timer, so the outlet may still be OFF: switch it on by hand; restartinator switches it on at its next start"
		default:
			base.Next = "the outlet was switched on but could not be read back; watching the device boot"
		}
		base.Kind, base.Detail = event.PlugUnreachable, u.Err.Error()
		return append([]Action{Emit{base}}, acts...)
	case actuator.PhaseFailed:
		m.State = StateFailing
		// Try again later, not at the next probe: the plug needs time.
		wait := st.RetryInterval.D() * time.Duration(st.Retries)
		m.NotBefore = u.Time.Add(wait)
		base.Kind, base.Detail = event.CycleFailed, errText(u.Err)
		base.Next = fmt.Sprintf("the outlet was not switched off; trying again in %s", wait)
		return []Action{Emit{base}, ProbeNow{}}
	case actuator.PhaseDryRun:
		announced := m.State == StateHeld && m.HeldFor == heldDryRun
		m.State, m.HeldFor = StateHeld, heldDryRun
		// Decide again when a real cycle would have finished booting, not
		// at every retry: the log says "would power-cycle" at the pace the
		// real thing would.
		m.NotBefore = u.Time.Add(st.CycleTime.D() + st.BootTime.D())
		// Nothing changed on the device: probing now would only fail,
		// decide and dry-run again, in a tight loop.
		if announced {
			return nil
		}
		base.Kind, base.Detail, base.Next = event.Held, "dry run: would power-cycle now", "nothing is switched in dry run"
		return []Action{Emit{base}}
	}
	return nil
}

// ErrPaused: a webhook or file trigger asked to cycle a paused device.
var ErrPaused = errors.New("it is not cycled on alerts or file triggers until the pause ends (a manual cycle still works)")

// pauseWhy says why the device is paused at now.
func (m *Machine) pauseWhy(now time.Time) string {
	if now.Before(m.PausedUntil) {
		why := "paused until " + m.PausedUntil.UTC().Format(time.RFC3339)
		if m.PauseReason != "" {
			why += ": " + m.PauseReason
		}
		return why
	}
	return "maintenance window until " + m.MaintUntil.UTC().Format(time.RFC3339)
}

// Pause: pause the device until Until (through the API), for Reason.
type Pause struct {
	Until  time.Time
	Reason string
}

func (in Pause) apply(m *Machine, now time.Time) []Action {
	m.PausedUntil, m.PauseReason = in.Until, in.Reason
	return m.pause(now)
}

// pause moves a device that is not in a cycle to paused.
func (m *Machine) pause(now time.Time) []Action {
	if !m.Paused(now) {
		return nil
	}
	acts := []Action{logAt(slog.LevelInfo, "device paused: no automatic power cycles, no offline notifications", "why", m.pauseWhy(now))}
	if m.State != StateCycling && m.State != StateBooting {
		m.State, m.HeldFor = StatePaused, ""
	}
	return acts
}

// Resume: end a pause through the API (a maintenance window goes on).
type Resume struct{}

func (in Resume) apply(m *Machine, now time.Time) []Action {
	m.PausedUntil, m.PauseReason = time.Time{}, ""
	if m.State != StatePaused || m.Paused(now) {
		return nil
	}
	return append(m.unpause("resumed"), ProbeNow{})
}

// MaintenanceStart: a maintenance window began; it ends at Until.
type MaintenanceStart struct{ Until time.Time }

func (in MaintenanceStart) apply(m *Machine, now time.Time) []Action {
	m.MaintUntil = in.Until
	return m.pause(now)
}

// MaintenanceEnd: the maintenance window is over.
type MaintenanceEnd struct{}

func (in MaintenanceEnd) apply(m *Machine, now time.Time) []Action {
	m.MaintUntil = time.Time{}
	if m.State != StatePaused || m.Paused(now) {
		return nil
	}
	return append(m.unpause("the maintenance window is over"), ProbeNow{})
}

// unpause ends paused: the device is judged afresh by its last probe, its
// failures from nought, so one that is still down is announced and
// decided on after retries more failures.
func (m *Machine) unpause(why string) []Action {
	m.PausedUntil, m.PauseReason, m.MaintUntil = time.Time{}, "", time.Time{}
	m.Failures, m.NotBefore = 0, time.Time{}
	switch {
	case !m.Probed:
		m.State = StateUnknown
	case m.LastProbe.Success:
		m.State = StateUp
	default:
		m.State, m.Offline = StateFailing, false
	}
	return []Action{logAt(slog.LevelInfo, "device no longer paused", "why", why)}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
