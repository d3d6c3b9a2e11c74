package actuator_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/testlog"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type syncBuf = testlog.Buffer

type rig struct {
	sim      *kasasim.Plug
	plug     *kasa.Client
	simClock *clock.Fake
	clock    *clock.Fake
	log      *syncBuf
	logger   *slog.Logger
}

// newRig starts a simulated plug on its own fake clock (the plug's timers)
// and a client; SafeCycle gets a second fake clock (our timers).
func newRig(t *testing.T, model string) *rig {
	t.Helper()
	return newRigOver(t, model, "")
}

// newRigOver is newRig with the simulated plug speaking protocol ("" for
// the model's own).
func newRigOver(t *testing.T, model, protocol string) *rig {
	t.Helper()
	r := &rig{simClock: clock.NewFake(t0), clock: clock.NewFake(t0), log: &syncBuf{}}
	r.logger = slog.New(slog.NewTextHandler(r.log, nil))
	sim, err := kasasim.Start(kasasim.Options{Model: model, Protocol: protocol, Clock: r.simClock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	c, err := kasa.New(kasa.Options{Host: sim.Host(), Port: sim.Port(), Timeout: time.Second, Logger: r.logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r.sim, r.plug = sim, c
	return r
}

type result struct {
	rep actuator.SafeCycleReport
	err error
}

func (r *rig) start(ctx context.Context, p actuator.Plug, outlet string, off time.Duration, opt actuator.SafeCycleOptions) <-chan result {
	opt.Clock, opt.Logger = r.clock, r.logger
	done := make(chan result, 1)
	go func() {
		rep, err := actuator.SafeCycle(ctx, p, outlet, off, opt)
		done <- result{rep, err}
	}()
	return done
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSafeCycle(t *testing.T) {
	for _, tc := range []struct {
		model, outlet string
		index         int
	}{
		{"HS100", "", 0},
		{"HS110v4", "", 0},
		{"HS300", "Outlet 3", 2},
		{"KP125M", "", 0},
		{"HS100v4", "", 0},
	} {
		t.Run(tc.model, func(t *testing.T) {
			r := newRig(t, tc.model)
			done := r.start(context.Background(), r.plug, tc.outlet, 10*time.Second, actuator.SafeCycleOptions{})
			r.clock.WaitForTimers(1) // off, waiting
			if r.sim.On(tc.index) || !r.sim.Outlets()[tc.index].Countdown {
				t.Fatalf("during the off time: %+v", r.sim.Outlets()[tc.index])
			}
			for i, o := range r.sim.Outlets() {
				if i != tc.index && !o.On {
					t.Fatalf("outlet %d switched too", i)
				}
			}
			r.clock.Advance(10 * time.Second)
			res := <-done
			if res.err != nil {
				t.Fatal(res.err)
			}
			want := actuator.SafeCycleReport{FlipBackArmed: true, SwitchedOff: true, SwitchedOn: true, Verified: true, FlipBackDisarmed: true, OnAttempts: 1}
			if res.rep != want {
				t.Fatalf("report = %+v", res.rep)
			}
			if o := r.sim.Outlets()[tc.index]; !o.On || o.Countdown {
				t.Fatalf("after the cycle: %+v", o)
			}
		})
	}
}

func TestSafeCycleFlipBackRefused(t *testing.T) {
	r := newRig(t, "HS110")
	r.sim.RefuseMethod("count_down.add_rule")
	done := r.start(context.Background(), r.plug, "", 5*time.Second, actuator.SafeCycleOptions{})
	r.clock.WaitForTimers(1)
	if r.sim.On(0) {
		t.Fatal("not switched off")
	}
	r.clock.Advance(5 * time.Second)
	res := <-done
	if res.err != nil || !res.rep.FlipBackUnsupported || res.rep.FlipBackArmed || !res.rep.Verified {
		t.Fatalf("report = %+v, err %v", res.rep, res.err)
	}
	if !strings.Contains(r.log.String(), "level=WARN") || !strings.Contains(r.log.String(), "refused the flip-back timer") {
		t.Fatalf("no warning logged:\n%s", r.log)
	}
}

// The client dies (ctx cancelled, as on SIGTERM) between off and on: it still
// switches on before returning.
func TestSafeCycleCancelledDuringOffTime(t *testing.T) {
	r := newRig(t, "HS300")
	ctx, cancel := context.WithCancel(context.Background())
	done := r.start(ctx, r.plug, "1", time.Minute, actuator.SafeCycleOptions{})
	r.clock.WaitForTimers(1)
	cancel()
	res := <-done
	if !errors.Is(res.err, context.Canceled) || !res.rep.Interrupted || !res.rep.Verified || !res.rep.FlipBackDisarmed {
		t.Fatalf("report = %+v, err %v", res.rep, res.err)
	}
	if !r.sim.On(1) {
		t.Fatal("outlet left off")
	}
}

// cutAfterOff is a plug whose network vanishes right after it switches off,
// e.g. because the device being cycled is the router in between.
type cutAfterOff struct {
	actuator.Plug
	sim *kasasim.Plug
}

func (c cutAfterOff) Switch(ctx context.Context, outlet string, on bool) error {
	err := c.Plug.Switch(ctx, outlet, on)
	if err == nil && !on {
		c.sim.SetFault(kasasim.Unreachable)
	}
	return err
}

// We lose the plug between off and on, and even die: the plug's own
// flip-back timer brings power back after the off time.
func TestSafeCycleConnectionCutThePlugTurnsItselfOn(t *testing.T) {
	for _, tc := range []struct {
		name     string
		model    string
		protocol string
		cancel   bool
	}{
		{"network cut, IOT over XOR", "HS110", "", false},
		{"network cut and killed, IOT over XOR", "HS100", "", true},
		{"network cut, SMART over KLAP", "KP125M", "", false},
		{"network cut and killed, SMART over AES", "KP125M", "aes", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRigOver(t, tc.model, tc.protocol)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := r.start(ctx, cutAfterOff{r.plug, r.sim}, "", 30*time.Second,
				actuator.SafeCycleOptions{OnAttempts: 2, RetryDelay: time.Second, RestoreTimeout: 10 * time.Second})
			r.clock.WaitForTimers(1)
			if r.sim.On(0) {
				t.Fatal("not switched off")
			}
			if tc.cancel {
				cancel()
			} else {
				r.clock.Advance(30 * time.Second)
			}
			// Our switch-on times out; the retry waits on our clock.
			waitFor(t, "first switch-on fails", func() bool { return strings.Contains(r.log.String(), "switching the outlet on failed") })
			r.clock.WaitForTimers(1)
			r.clock.Advance(time.Second)
			res := <-done
			if res.err == nil || res.rep.SwitchedOn || !res.rep.FlipBackArmed || res.rep.OnAttempts != 2 {
				t.Fatalf("report = %+v, err %v", res.rep, res.err)
			}
			if !strings.Contains(res.err.Error(), "flip-back timer will switch it on") {
				t.Fatalf("error does not say power will return: %v", res.err)
			}
			if r.sim.On(0) {
				t.Fatal("on before the off time passed on the plug")
			}
			r.simClock.Advance(30 * time.Second)
			waitFor(t, "plug turns itself back on", func() bool { return r.sim.On(0) })
		})
	}
}

func TestSafeCycleDoesNotSwitchOffWhenUnsafe(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(r *rig)
		beforeOff func() error
		want      string
		disarmed  bool
	}{
		{
			name:      "intent not recorded",
			beforeOff: func() error { return errors.New("state file: disk full") },
			want:      "not switching off: state file: disk full",
			disarmed:  true,
		},
		{
			name:  "plug unreachable before arming",
			setup: func(r *rig) { r.sim.SetFault(kasasim.Refuse) },
			want:  "arming the flip-back timer before switching off",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "HS100")
			if tc.setup != nil {
				tc.setup(r)
			}
			res := <-r.start(context.Background(), r.plug, "", 10*time.Second, actuator.SafeCycleOptions{BeforeOff: tc.beforeOff})
			if res.err == nil || !strings.Contains(res.err.Error(), tc.want) || res.rep.SwitchedOff || res.rep.FlipBackDisarmed != tc.disarmed {
				t.Fatalf("report = %+v, err %v", res.rep, res.err)
			}
			r.sim.SetFault(kasasim.NoFault)
			if !r.sim.On(0) || r.sim.Outlets()[0].Countdown {
				t.Fatalf("plug changed: %+v", r.sim.Outlets()[0])
			}
		})
	}
}

func TestSelectOutlet(t *testing.T) {
	strip := actuator.Status{Model: "HS300", Strip: true, Outlets: []actuator.Outlet{
		{Index: 0, ID: "A00", Alias: "Camera"}, {Index: 1, ID: "A01", Alias: "2"}, {Index: 2, ID: "A02", Alias: "Router"},
	}}
	single := actuator.Status{Model: "HS100", Outlets: []actuator.Outlet{{Alias: "Lamp"}}}
	for _, tc := range []struct {
		name  string
		st    actuator.Status
		sel   string
		want  string // alias, or "" for an error
		error string
	}{
		{"id", strip, "A02", "Router", ""},
		{"alias", strip, "Camera", "Camera", ""},
		{"alias any case", strip, "router", "Router", ""},
		{"alias wins over index", strip, "2", "2", ""},
		{"index", strip, "0", "Camera", ""},
		{"empty on strip", strip, "", "", `choose an outlet by alias, index or id: 0 "Camera" (id A00)`},
		{"unknown", strip, "Fridge", "", `no such outlet "Fridge"`},
		{"single plug itself", single, "", "Lamp", ""},
		{"single plug by index", single, "0", "Lamp", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := actuator.SelectOutlet(tc.st, tc.sel)
			if tc.want == "" {
				if !errors.Is(err, actuator.ErrOutletNotFound) || !strings.Contains(err.Error(), tc.error) {
					t.Fatalf("err = %v, want %q", err, tc.error)
				}
				return
			}
			if err != nil || o.Alias != tc.want {
				t.Fatalf("got %+v, %v", o, err)
			}
		})
	}
}

// failRearm is a plug whose firmware clears the countdown as the relay
// switches off and then refuses a new one.
type failRearm struct {
	*kasa.Client
	sim *kasasim.Plug
}

func (f failRearm) Switch(ctx context.Context, outlet string, on bool) error {
	if !on {
		f.sim.ClearRuleOnSwitch(true)
		f.sim.FailMethod("count_down.add_rule", -10, -1)
	}
	return f.Client.Switch(ctx, outlet, on)
}

// The firmware cleared the flip-back when the relay switched off and will
// not take it again: the outlet goes back on at once, and the cycle fails
// with the device's answer and reason flip_back_lost.
func TestSafeCycleFlipBackLostSwitchesOnAtOnce(t *testing.T) {
	r := newRig(t, "HS100")
	res := <-r.start(context.Background(), failRearm{r.plug, r.sim}, "", time.Hour, actuator.SafeCycleOptions{})
	if res.err == nil || res.rep.Reason != actuator.ReasonFlipBackLost || !res.rep.FlipBackLost || !res.rep.SwitchedOff || !res.rep.Verified {
		t.Fatalf("report = %+v, err %v", res.rep, res.err)
	}
	if !strings.Contains(res.err.Error(), "cleared its flip-back timer") || !strings.Contains(res.err.Error(), "error code -10") {
		t.Fatalf("error does not say what happened: %v", res.err)
	}
	if !r.sim.On(0) {
		t.Fatal("outlet left off")
	}
}
