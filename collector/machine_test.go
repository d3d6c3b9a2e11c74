package collector

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/collector/probe"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/event"
)

var st0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// machineCfg is a device as the harness has it: check every 10s, retry
// every 1s, 3 retries, 60s boot, 2 cycles an hour.
func machineCfg(mode string) *config.DeviceConfig {
	return &config.DeviceConfig{Name: "cam", Plug: "p", Mode: mode, Settings: config.DeviceSettings{
		CheckInterval: config.Duration(10 * time.Second), RetryInterval: config.Duration(time.Second), Retries: 3,
		Timeout: config.Duration(time.Second), CycleTime: config.Duration(5 * time.Second), BootTime: config.Duration(time.Minute),
		MaxCycles: 2, CycleWindow: config.Duration(time.Hour),
	}}
}

var (
	okProbe   = probe.Result{Success: true, Duration: time.Millisecond}
	downProbe = probe.Result{Err: errors.New("connection refused")}
)

// summary renders the actions a rule is about (not the log lines), times
// relative to st0.
func summary(acts []Action) string {
	var out []string
	for _, a := range acts {
		switch a := a.(type) {
		case RunProbe:
			out = append(out, "probe due "+a.Due.Sub(st0).String()+" started "+a.Start.Sub(st0).String())
		case ProbeAt:
			out = append(out, "next "+a.At.Sub(st0).String())
		case ProbeNow:
			out = append(out, "probe now")
		case Decide:
			out = append(out, "decide")
		case Cycle:
			out = append(out, "cycle "+a.Trigger)
		case Booted:
			out = append(out, "booted")
		case Emit:
			out = append(out, "emit "+string(a.Event.Kind))
		case Reject:
			out = append(out, "reject")
		case Log:
		default:
			out = append(out, fmt.Sprintf("%T", a))
		}
	}
	return strings.Join(out, ", ")
}

// emitted are the events among acts.
func emitted(acts []Action) []event.Event {
	var es []event.Event
	for _, a := range acts {
		if e, ok := a.(Emit); ok {
			es = append(es, e.Event)
		}
	}
	return es
}

func TestStep(t *testing.T) {
	at := func(d time.Duration) time.Time { return st0.Add(d) }
	for _, tc := range []struct {
		name  string
		mode  string
		setup func(m *Machine)
		in    Input
		now   time.Duration
		state string
		acts  string
		check func(t *testing.T, m Machine, acts []Action)
	}{
		// Probing and its rhythm.
		{name: "due while up probes", setup: func(m *Machine) { m.State = StateUp }, in: Due{At: st0}, now: 5 * time.Millisecond, state: StateUp, acts: "probe due 0s started 5ms"},
		{name: "a probe started a whole interval late counts from its start", setup: func(m *Machine) { m.State = StateFailing },
			in: ProbeResult{Res: downProbe, Due: st0, Start: at(1500 * time.Millisecond)}, now: 1500 * time.Millisecond, state: StateFailing, acts: "next 2.5s"},
		{name: "a probe started late by less than an interval keeps the grid", setup: func(m *Machine) { m.State = StateFailing },
			in: ProbeResult{Res: downProbe, Due: st0, Start: at(900 * time.Millisecond)}, now: 900 * time.Millisecond, state: StateFailing, acts: "next 1s"},
		{name: "due while cycling does not probe: power is off on purpose", setup: func(m *Machine) { m.State = StateCycling },
			in: Due{At: st0}, state: StateCycling, acts: "next 1s"},
		{name: "a success while up: next after check_interval, counted from the due time (no drift)",
			setup: func(m *Machine) { m.State = StateUp }, in: ProbeResult{Res: okProbe, Due: st0}, now: 7 * time.Millisecond,
			state: StateUp, acts: "next 10s"},
		{name: "a probe that overran whole intervals: the next at once, on the grid", setup: func(m *Machine) { m.State = StateFailing; m.Failures = 1 },
			in: ProbeResult{Res: okProbe, Due: st0}, now: 25 * time.Second, state: StateUp, acts: "next 20s"},
		{name: "the first probe takes the device onto its grid over the whole interval", setup: func(m *Machine) {
			m.Cfg.Settings.CheckInterval = config.Duration(time.Minute)
			m.Grid = at(45 * time.Second)
		}, in: ProbeResult{Res: okProbe, Due: at(5 * time.Second), Start: at(5 * time.Second)}, now: 5 * time.Second, state: StateUp, acts: "next 45s",
			check: func(t *testing.T, m Machine, _ []Action) {
				if !m.Grid.IsZero() {
					t.Errorf("the grid is used once")
				}
			}},
		{name: "a grid point before the first probe: the next one after it", setup: func(m *Machine) {
			m.Cfg.Settings.CheckInterval = config.Duration(time.Minute)
			m.Grid = at(3 * time.Second)
		}, in: ProbeResult{Res: okProbe, Due: at(5 * time.Second), Start: at(5 * time.Second)}, now: 5 * time.Second, state: StateUp, acts: "next 1m3s"},
		{name: "a first probe that fails keeps the retry rhythm, not the grid", setup: func(m *Machine) {
			m.Cfg.Settings.CheckInterval = config.Duration(time.Minute)
			m.Grid = at(45 * time.Second)
		}, in: ProbeResult{Res: downProbe, Due: at(5 * time.Second), Start: at(5 * time.Second)}, now: 5 * time.Second, state: StateFailing, acts: "next 6s"},
		{name: "the first probe leaves unknown", in: ProbeResult{Res: okProbe, Due: st0}, state: StateUp, acts: "next 10s",
			check: func(t *testing.T, m Machine, _ []Action) {
				if !m.Probed || !m.LastProbeAt.Equal(st0) || !m.LastProbe.Success {
					t.Errorf("last probe not recorded: %+v", m)
				}
			}},

		// Detection: retries failures spaced by retry_interval.
		{name: "first failure: failing, retry sooner", setup: func(m *Machine) { m.State = StateUp },
			in: ProbeResult{Res: downProbe, Due: st0}, state: StateFailing, acts: "next 1s"},
		{name: "failures below retries are not offline", setup: func(m *Machine) { m.State = StateFailing; m.Failures = 1 },
			in: ProbeResult{Res: downProbe, Due: st0}, state: StateFailing, acts: "next 1s"},
		{name: "the retries-th failure: offline, then the decision (auto)", setup: func(m *Machine) { m.State = StateFailing; m.Failures = 2 },
			in: ProbeResult{Res: downProbe, Due: st0}, state: StateFailing, acts: "emit offline, decide",
			check: func(t *testing.T, m Machine, acts []Action) {
				if !m.Offline || m.Failures != 3 {
					t.Errorf("machine %+v", m)
				}
				if e := emitted(acts)[0]; e.Detail != "connection refused" || e.Next != "power-cycling it now" {
					t.Errorf("offline event %+v", e)
				}
				if d := acts[len(acts)-1].(Decide); !d.Due.Equal(st0) {
					t.Errorf("decide %+v", d)
				}
			}},
		{name: "offline is announced once", setup: func(m *Machine) { m.State = StateFailing; m.Failures = 3; m.Offline = true },
			in: ProbeResult{Res: downProbe, Due: st0}, state: StateFailing, acts: "decide"},

		// Self-recovery.
		{name: "recovers by itself before offline: no event", setup: func(m *Machine) { m.State = StateFailing; m.Failures = 2 },
			in: ProbeResult{Res: okProbe, Due: st0}, state: StateUp, acts: "next 10s",
			check: func(t *testing.T, m Machine, _ []Action) {
				if m.Failures != 0 {
					t.Errorf("failures %d", m.Failures)
				}
			}},
		{name: "recovers by itself after offline: recovered", setup: func(m *Machine) {
			m.State, m.Failures, m.Offline, m.NotBefore, m.Ineffective = StateHeld, 5, true, at(time.Hour), 1
		}, in: ProbeResult{Res: okProbe, Due: st0}, state: StateUp, acts: "emit recovered, next 10s",
			check: func(t *testing.T, m Machine, _ []Action) {
				if m.Offline || !m.NotBefore.IsZero() || m.Ineffective != 0 || m.HeldFor != "" {
					t.Errorf("not reset: %+v", m)
				}
			}},

		// Boot: the grace, its early end, backoff.
		{name: "answers while booting: the boot grace ends early", setup: func(m *Machine) {
			m.State, m.Offline, m.BootUntil = StateBooting, true, at(time.Minute)
		}, in: ProbeResult{Res: okProbe, Due: at(20 * time.Second)}, now: 20 * time.Second, state: StateUp, acts: "booted, emit recovered, next 30s",
			check: func(t *testing.T, _ Machine, acts []Action) {
				if e := emitted(acts)[0]; e.Detail != "answers again after the power cycle" {
					t.Errorf("recovered %+v", e)
				}
			}},
		{name: "fails within the boot grace: still booting, no event", setup: func(m *Machine) {
			m.State, m.Failures, m.Offline, m.BootUntil = StateBooting, 3, true, at(time.Minute)
		}, in: ProbeResult{Res: downProbe, Due: at(59 * time.Second)}, now: 59 * time.Second, state: StateBooting, acts: "next 1m0s"},
		{name: "still down after the boot grace: cycle_failed, backoff of boot_time", setup: func(m *Machine) {
			m.State, m.Failures, m.Offline, m.BootUntil = StateBooting, 3, true, at(time.Minute)
		}, in: ProbeResult{Res: downProbe, Due: at(time.Minute)}, now: time.Minute, state: StateFailing, acts: "emit cycle_failed, next 1m1s",
			check: func(t *testing.T, m Machine, acts []Action) {
				if m.Ineffective != 1 || !m.NotBefore.Equal(at(2*time.Minute)) {
					t.Errorf("backoff: %+v", m)
				}
				if e := emitted(acts)[0]; !strings.Contains(e.Next, "no automatic power cycle for 1m0s (backoff)") {
					t.Errorf("cycle_failed %+v", e)
				}
			}},
		{name: "the backoff doubles with each ineffective cycle, up to cycle_window", setup: func(m *Machine) {
			m.State, m.Failures, m.Offline, m.BootUntil, m.Ineffective = StateBooting, 3, true, at(time.Minute), 7
		}, in: ProbeResult{Res: downProbe, Due: at(time.Minute)}, now: time.Minute, state: StateFailing, acts: "emit cycle_failed, next 1m1s",
			check: func(t *testing.T, m Machine, _ []Action) {
				if !m.NotBefore.Equal(at(time.Minute + time.Hour)) {
					t.Errorf("backoff capped at cycle_window: NotBefore %s", m.NotBefore.Sub(st0))
				}
			}},
		{name: "within the backoff: no decision", setup: func(m *Machine) {
			m.State, m.Failures, m.Offline, m.NotBefore = StateFailing, 4, true, at(time.Minute)
		}, in: ProbeResult{Res: downProbe, Due: st0}, state: StateFailing, acts: "next 1s"},
		{name: "the backoff over: decide again", setup: func(m *Machine) {
			m.State, m.Failures, m.Offline, m.NotBefore = StateFailing, 4, true, at(time.Minute)
		}, in: ProbeResult{Res: downProbe, Due: at(time.Minute)}, now: time.Minute, state: StateFailing, acts: "decide"},

		// The decision: gave_up, guard hold, cycle.
		{name: "decision: cycle", setup: func(m *Machine) { m.State, m.Failures = StateFailing, 3 },
			in: Decision{Cycles: 1, Due: st0}, state: StateFailing, acts: "cycle auto, next 1s"},
		{name: "decision: max_cycles reached gives up, checks at check_interval", setup: func(m *Machine) { m.State, m.Failures = StateFailing, 3 },
			in: Decision{Cycles: 2, Due: st0}, state: StateGaveUp, acts: "emit gave_up, next 10s"},
		{name: "gave_up is announced once", setup: func(m *Machine) { m.State, m.Failures = StateGaveUp, 9 },
			in: Decision{Cycles: 2, Due: st0}, state: StateGaveUp, acts: "next 10s"},
		{name: "gave_up: failures decide nothing", setup: func(m *Machine) { m.State, m.Failures, m.Offline = StateGaveUp, 9, true },
			in: ProbeResult{Res: downProbe, Due: st0}, state: StateGaveUp, acts: "next 10s"},
		{name: "gave_up ends when it answers", setup: func(m *Machine) { m.State, m.Failures, m.Offline = StateGaveUp, 9, true },
			in: ProbeResult{Res: okProbe, Due: st0}, state: StateUp, acts: "emit recovered, next 10s"},
		{name: "decision: the guard holds", setup: func(m *Machine) { m.State, m.Failures = StateFailing, 3 },
			in: Decision{Hold: "guard: cut off", Due: st0}, state: StateHeld, acts: "emit held, next 1s",
			check: func(t *testing.T, m Machine, _ []Action) {
				if m.HeldFor != "guard: cut off" {
					t.Errorf("held for %q", m.HeldFor)
				}
			}},
		{name: "the same hold is announced once", setup: func(m *Machine) { m.State, m.Failures, m.HeldFor = StateHeld, 4, "guard: cut off" },
			in: Decision{Hold: "guard: cut off", Due: st0}, state: StateHeld, acts: "next 1s"},
		{name: "a held device decides again at its next failure", setup: func(m *Machine) {
			m.State, m.Failures, m.Offline, m.HeldFor = StateHeld, 4, true, "guard: cut off"
		}, in: ProbeResult{Res: downProbe, Due: st0}, state: StateHeld, acts: "decide"},
		{name: "the hold cleared: cycle", setup: func(m *Machine) { m.State, m.Failures, m.HeldFor = StateHeld, 4, "guard: cut off" },
			in: Decision{Due: st0}, state: StateHeld, acts: "cycle auto, next 1s"},

		// Modes.
		{name: "alert mode: offline, no decision", mode: config.ModeAlert, setup: func(m *Machine) { m.State, m.Failures = StateFailing, 2 },
			in: ProbeResult{Res: downProbe, Due: st0}, state: StateFailing, acts: "emit offline, next 1s",
			check: func(t *testing.T, _ Machine, acts []Action) {
				if e := emitted(acts)[0]; e.Next != "waiting for an alert or a manual request to power-cycle it" {
					t.Errorf("offline %+v", e)
				}
			}},
		{name: "monitor mode: offline, nothing done", mode: config.ModeMonitor, setup: func(m *Machine) { m.State, m.Failures = StateFailing, 2 },
			in: ProbeResult{Res: downProbe, Due: st0}, state: StateFailing, acts: "emit offline, next 1s",
			check: func(t *testing.T, _ Machine, acts []Action) {
				if e := emitted(acts)[0]; e.Next != "monitor mode: nothing will be done" {
					t.Errorf("offline %+v", e)
				}
			}},
		{name: "alert mode: the cycle did not help, no backoff promised", mode: config.ModeAlert, setup: func(m *Machine) {
			m.State, m.Failures, m.Offline, m.BootUntil = StateBooting, 3, true, at(time.Minute)
		}, in: ProbeResult{Res: downProbe, Due: at(time.Minute)}, now: time.Minute, state: StateFailing, acts: "emit cycle_failed, next 1m1s",
			check: func(t *testing.T, _ Machine, acts []Action) {
				if e := emitted(acts)[0]; e.Next != "waiting for an alert or a manual request to power-cycle it again" {
					t.Errorf("cycle_failed %+v", e)
				}
			}},

		// Dependencies: a device whose parent is down is blocked.
		{name: "the parent down: a failure blocks, no offline, no decision", setup: func(m *Machine) { m.State, m.Failures, m.ParentsDown = StateFailing, 2, "modem" },
			in: ProbeResult{Res: downProbe, Due: st0}, state: StateBlocked, acts: "next 10s",
			check: func(t *testing.T, m Machine, _ []Action) {
				if m.Offline {
					t.Errorf("a blocked device announced offline")
				}
			}},
		{name: "blocked stays blocked, however many failures", setup: func(m *Machine) { m.State, m.Failures, m.ParentsDown = StateBlocked, 30, "modem" },
			in: ProbeResult{Res: downProbe, Due: st0}, state: StateBlocked, acts: "next 10s"},
		{name: "the parent goes down while the child fails: blocked", setup: func(m *Machine) { m.State, m.Failures = StateFailing, 2 },
			in: ParentsChanged{Down: "modem"}, state: StateBlocked, acts: ""},
		{name: "the parent goes down while the child is held: blocked, the hold forgotten", setup: func(m *Machine) { m.State, m.Failures, m.HeldFor = StateHeld, 4, "guard: x" },
			in: ParentsChanged{Down: "modem"}, state: StateBlocked, acts: "",
			check: func(t *testing.T, m Machine, _ []Action) {
				if m.HeldFor != "" {
					t.Errorf("held for %q", m.HeldFor)
				}
			}},
		{name: "the parent goes down while the child is up: it stays up until it fails", setup: func(m *Machine) { m.State = StateUp },
			in: ParentsChanged{Down: "modem"}, state: StateUp, acts: ""},
		{name: "the parent recovers: failures start over, boot grace, probe now", setup: func(m *Machine) {
			m.State, m.Failures, m.ParentsDown = StateBlocked, 9, "modem"
		}, in: ParentsChanged{}, now: 30 * time.Second, state: StateFailing, acts: "probe now",
			check: func(t *testing.T, m Machine, _ []Action) {
				if m.Failures != 0 || !m.NotBefore.Equal(at(90*time.Second)) || m.ParentsDown != "" {
					t.Errorf("after the parent's recovery: %+v", m)
				}
			}},
		{name: "within the grace after the parent's recovery: offline, no decision", setup: func(m *Machine) {
			m.State, m.Failures, m.NotBefore = StateFailing, 2, at(90*time.Second)
		}, in: ProbeResult{Res: downProbe, Due: at(time.Minute)}, now: time.Minute, state: StateFailing, acts: "emit offline, next 1m1s"},
		{name: "the grace over, the child fails alone: decide (and cycle)", setup: func(m *Machine) {
			m.State, m.Failures, m.Offline, m.NotBefore = StateFailing, 3, true, at(90*time.Second)
		}, in: ProbeResult{Res: downProbe, Due: at(90 * time.Second)}, now: 90 * time.Second, state: StateFailing, acts: "decide"},
		{name: "a parent down by the decision: blocked, not cycled", setup: func(m *Machine) { m.State, m.Failures, m.ParentsDown = StateFailing, 3, "modem" },
			in: Decision{Due: st0}, state: StateBlocked, acts: "next 10s"},
		{name: "a blocked device that answers is up", setup: func(m *Machine) { m.State, m.Failures, m.ParentsDown = StateBlocked, 4, "modem" },
			in: ProbeResult{Res: okProbe, Due: st0}, state: StateUp, acts: "next 10s"},
		{name: "booting within its grace, the parent down: still booting", setup: func(m *Machine) {
			m.State, m.BootUntil, m.ParentsDown = StateBooting, at(time.Minute), "modem"
		}, in: ProbeResult{Res: downProbe, Due: st0}, state: StateBooting, acts: "next 1s"},
		{name: "a manual cycle of a blocked device goes ahead", setup: func(m *Machine) { m.State, m.ParentsDown = StateBlocked, "modem" },
			in: Requested{Trigger: actuator.TriggerManual}, state: StateBlocked, acts: "cycle manual"},

		// Pause and maintenance: probed, never cycled, nothing announced.
		{name: "a pause moves the device to paused", setup: func(m *Machine) { m.State, m.Failures = StateFailing, 2 },
			in: Pause{Until: at(time.Hour), Reason: "disk swap"}, state: StatePaused, acts: ""},
		{name: "paused: the retries-th failure announces nothing and decides nothing", setup: func(m *Machine) {
			m.State, m.Failures, m.PausedUntil = StatePaused, 2, at(time.Hour)
		}, in: ProbeResult{Res: downProbe, Due: st0}, state: StatePaused, acts: "next 10s",
			check: func(t *testing.T, m Machine, _ []Action) {
				if m.Failures != 3 || m.Offline || !m.Probed {
					t.Errorf("paused probe: %+v", m)
				}
			}},
		{name: "paused: a decision already asked for does not cycle", setup: func(m *Machine) { m.State, m.Failures, m.PausedUntil = StateFailing, 3, at(time.Hour) },
			in: Decision{Due: st0}, state: StatePaused, acts: "next 10s"},
		{name: "paused: the reboot schedule is skipped", setup: func(m *Machine) { m.State, m.PausedUntil = StatePaused, at(time.Hour) },
			in: Scheduled{}, state: StatePaused, acts: ""},
		{name: "paused: a manual cycle goes ahead", setup: func(m *Machine) { m.State, m.PausedUntil = StatePaused, at(time.Hour) },
			in: Requested{Trigger: actuator.TriggerManual}, state: StatePaused, acts: "cycle manual"},
		{name: "paused: a webhook cycle is refused", setup: func(m *Machine) { m.State, m.PausedUntil = StatePaused, at(time.Hour) },
			in: Requested{Trigger: actuator.TriggerWebhook}, state: StatePaused, acts: "reject",
			check: func(t *testing.T, _ Machine, acts []Action) {
				if err := acts[len(acts)-1].(Reject).Err; !errors.Is(err, ErrPaused) {
					t.Errorf("reject %v", err)
				}
			}},
		{name: "resume: judged afresh by the last probe, failures from nought", setup: func(m *Machine) {
			m.State, m.Failures, m.PausedUntil, m.Probed, m.LastProbe = StatePaused, 7, at(time.Hour), true, downProbe
		}, in: Resume{}, state: StateFailing, acts: "probe now",
			check: func(t *testing.T, m Machine, _ []Action) {
				if m.Failures != 0 || !m.PausedUntil.IsZero() || m.PauseReason != "" {
					t.Errorf("after resume: %+v", m)
				}
			}},
		{name: "resume within a maintenance window: still paused", setup: func(m *Machine) {
			m.State, m.PausedUntil, m.MaintUntil = StatePaused, at(time.Hour), at(time.Minute)
		}, in: Resume{}, state: StatePaused, acts: ""},
		{name: "the pause's end comes with the next due probe", setup: func(m *Machine) {
			m.State, m.PausedUntil, m.Probed, m.LastProbe = StatePaused, at(time.Hour), true, okProbe
		}, in: Due{At: at(time.Hour)}, now: time.Hour, state: StateUp, acts: "probe due 1h0m0s started 1h0m0s"},
		{name: "a maintenance window starts", setup: func(m *Machine) { m.State = StateUp },
			in: MaintenanceStart{Until: at(time.Hour)}, state: StatePaused, acts: ""},
		{name: "a maintenance window ends", setup: func(m *Machine) {
			m.State, m.MaintUntil, m.Probed, m.LastProbe = StatePaused, at(time.Hour), true, okProbe
		}, in: MaintenanceEnd{}, now: time.Hour, state: StateUp, acts: "probe now"},
		{name: "a pause during a cycle leaves the cycle's state", setup: func(m *Machine) { m.State = StateCycling },
			in: Pause{Until: at(time.Hour)}, state: StateCycling, acts: ""},

		// Requests and schedules.
		{name: "a manual request cycles, guard or not", mode: config.ModeAlert, setup: func(m *Machine) { m.State = StateUp },
			in: Requested{Trigger: actuator.TriggerManual}, state: StateUp, acts: "cycle manual"},
		{name: "a request in monitor mode is refused", mode: config.ModeMonitor, in: Requested{Trigger: actuator.TriggerWebhook},
			state: StateUnknown, acts: "reject",
			check: func(t *testing.T, _ Machine, acts []Action) {
				if err := acts[len(acts)-1].(Reject).Err; !errors.Is(err, ErrNoPlug) {
					t.Errorf("reject %v", err)
				}
			}},
		{name: "the schedule cycles", in: Scheduled{}, state: StateUnknown, acts: "cycle schedule"},
		{name: "the guard holds the schedule", in: Scheduled{Hold: "guard: cut off"}, state: StateUnknown, acts: ""},

		// The Cycler's updates.
		{name: "cycling", setup: func(m *Machine) { m.State, m.Failures = StateFailing, 3 },
			in:  CycleUpdate{actuator.Update{Phase: actuator.PhaseCycling, Time: at(time.Second), Request: actuator.Request{Trigger: actuator.TriggerAuto}}},
			now: time.Second, state: StateCycling, acts: "emit cycle_started, probe now",
			check: func(t *testing.T, m Machine, acts []Action) {
				if !m.LastCycle.Equal(at(time.Second)) {
					t.Errorf("last cycle %s", m.LastCycle)
				}
				if e := emitted(acts)[0]; e.Trigger != actuator.TriggerAuto || e.ConsecutiveFailures != 3 {
					t.Errorf("cycle_started %+v", e)
				}
			}},
		{name: "booting: the grace is the Cycler's", setup: func(m *Machine) { m.State = StateCycling },
			in:  CycleUpdate{actuator.Update{Phase: actuator.PhaseBooting, Time: at(6 * time.Second), BootUntil: at(2 * time.Minute)}},
			now: 6 * time.Second, state: StateBooting, acts: "probe now",
			check: func(t *testing.T, m Machine, _ []Action) {
				if !m.BootUntil.Equal(at(2 * time.Minute)) {
					t.Errorf("boot until %s, want the update's", m.BootUntil.Sub(st0))
				}
			}},
		{name: "booting, the plug unreachable with its flip-back armed", setup: func(m *Machine) { m.State = StateCycling },
			in: CycleUpdate{actuator.Update{Phase: actuator.PhaseBooting, Err: errors.New("plug timeout"),
				Report: actuator.SafeCycleReport{SwitchedOff: true, FlipBackArmed: true}}},
			state: StateBooting, acts: "emit plug_unreachable, probe now"},
		{name: "booting, the plug unreachable without a flip-back", setup: func(m *Machine) { m.State = StateCycling },
			in: CycleUpdate{actuator.Update{Phase: actuator.PhaseBooting, Err: errors.New("plug timeout"),
				Report: actuator.SafeCycleReport{SwitchedOff: true}}},
			state: StateBooting, acts: "emit plug_unreachable, probe now",
			check: func(t *testing.T, _ Machine, acts []Action) {
				if e := emitted(acts)[0]; !strings.Contains(e.Next, "may still be OFF") {
					t.Errorf("plug_unreachable %+v", e)
				}
			}},
		{name: "the cycle failed before switching off: retry later", setup: func(m *Machine) { m.State, m.Failures = StateCycling, 3 },
			in:  CycleUpdate{actuator.Update{Phase: actuator.PhaseFailed, Time: at(time.Second), Err: errors.New("refused")}},
			now: time.Second, state: StateFailing, acts: "emit cycle_failed, probe now",
			check: func(t *testing.T, m Machine, _ []Action) {
				if !m.NotBefore.Equal(at(4 * time.Second)) {
					t.Errorf("not before %s, want retries x retry_interval later", m.NotBefore.Sub(st0))
				}
			}},
		{name: "dry run: held, announced, decided again when a cycle would be over", setup: func(m *Machine) { m.State, m.Failures = StateFailing, 3 },
			in: CycleUpdate{actuator.Update{Phase: actuator.PhaseDryRun, Time: st0}}, state: StateHeld, acts: "emit held",
			check: func(t *testing.T, m Machine, _ []Action) {
				if m.HeldFor != heldDryRun || !m.NotBefore.Equal(at(65*time.Second)) {
					t.Errorf("dry run: %+v", m)
				}
			}},
		{name: "dry run again: not announced again", setup: func(m *Machine) { m.State, m.Failures, m.HeldFor = StateHeld, 5, heldDryRun },
			in: CycleUpdate{actuator.Update{Phase: actuator.PhaseDryRun, Time: st0}}, state: StateHeld, acts: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode := tc.mode
			if mode == "" {
				mode = config.ModeAuto
			}
			m := NewMachine(machineCfg(mode))
			if tc.setup != nil {
				tc.setup(&m)
			}
			before := m
			got, acts := Step(m, tc.in, st0.Add(tc.now))
			if got.State != tc.state {
				t.Errorf("state %s, want %s", got.State, tc.state)
			}
			if s := summary(acts); s != tc.acts {
				t.Errorf("actions [%s], want [%s]", s, tc.acts)
			}
			if m != before {
				t.Errorf("Step changed its argument")
			}
			if tc.check != nil {
				tc.check(t, got, acts)
			}
		})
	}
}

// A device hanging on every probe, as the scheduler drives it: the probe
// ends at its timeout, yet each next one is due retry_interval after the
// last due time, so the offline event comes at timeout +
// (retries-1) x retry_interval after the first failing probe started.
func TestStepDetectionBound(t *testing.T) {
	cfg := machineCfg(config.ModeMonitor)
	m := NewMachine(cfg)
	m.State = StateUp
	due := st0
	timeout := cfg.Settings.Timeout.D()
	var offlineAt time.Time
	for range cfg.Settings.Retries {
		var acts []Action
		m, acts = Step(m, ProbeResult{Res: probe.Result{Err: probe.ErrTimeout, Duration: timeout}, Due: due}, due.Add(timeout))
		for _, a := range acts {
			switch a := a.(type) {
			case Emit:
				if a.Event.Kind == event.Offline {
					offlineAt = due.Add(timeout)
				}
			case ProbeAt:
				due = a.At
			}
		}
	}
	want := st0.Add(timeout + time.Duration(cfg.Settings.Retries-1)*cfg.Settings.RetryInterval.D())
	if !offlineAt.Equal(want) {
		t.Fatalf("offline at +%s, want +%s", offlineAt.Sub(st0), want.Sub(st0))
	}
}

// Every state has a kind and a code; the codes are the order of States.
func TestStatesHaveKindsAndCodes(t *testing.T) {
	for i, s := range States {
		if _, ok := stateKinds[s]; !ok {
			t.Errorf("state %s has no entry in stateKinds", s)
		}
		if stateCode(s) != i {
			t.Errorf("state %s has code %d, want %d", s, stateCode(s), i)
		}
	}
	if len(stateKinds) != len(States) || slices.Contains(States, "") {
		t.Errorf("stateKinds and States differ")
	}
}

func TestNextDue(t *testing.T) {
	for _, tc := range []struct {
		due, now, want time.Duration
	}{
		{0, 3 * time.Millisecond, 10 * time.Second},                  // late by 3 ms: still due+interval
		{0, 9 * time.Second, 10 * time.Second},                       // a slow probe
		{0, 10 * time.Second, 10 * time.Second},                      // took the whole interval (timeout = interval): at once
		{0, 35 * time.Second, 30 * time.Second},                      // overran several: skip them, the next at once
		{5 * time.Second, 5 * time.Second, 15 * time.Second},         // on time
		{5 * time.Second, 5001 * time.Millisecond, 15 * time.Second}, // drift-free
	} {
		got := nextDue(st0.Add(tc.due), 10*time.Second, st0.Add(tc.now))
		if want := st0.Add(tc.want); !got.Equal(want) {
			t.Errorf("nextDue(+%s, now +%s) = +%s, want +%s", tc.due, tc.now, got.Sub(st0), tc.want)
		}
	}
}
