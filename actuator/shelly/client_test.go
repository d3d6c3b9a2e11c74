package shelly_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/shelly"
	"github.com/restartinator/restartinator/actuator/shelly/shellysim"
	"github.com/restartinator/restartinator/config"
)

var allModels = []struct {
	model, want  string
	gen, outlets int
	metered      bool
}{
	{"shelly1", "SHSW-1", 1, 1, false},
	{"shelly1pm", "SHSW-PM", 1, 1, true},
	{"shellyplugs", "SHPLG-S", 1, 1, true},
	{"shelly25", "SHSW-25", 1, 2, true},
	{"shellyplus1", "SNSW-001X16EU", 2, 1, false},
	{"shellyplus1pm", "SNSW-001P16EU", 2, 1, true},
	{"shellyplusplugs", "SNPL-00112EU", 2, 1, true},
	{"shellypro4pm", "SPSW-104PE16EU", 2, 4, true},
}

func TestModels(t *testing.T) {
	for _, tc := range allModels {
		t.Run(tc.model, func(t *testing.T) {
			ctx := ctxT(t)
			fake := fakeClock()
			sim := startSim(t, shellysim.Options{Model: tc.model, Clock: fake})
			c := newClient(t, sim.Addr(), shelly.Config{})
			info, err := c.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.Generation() != tc.gen {
				t.Errorf("generation %d, want %d", info.Generation(), tc.gen)
			}
			st, err := c.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Model != tc.want || len(st.Outlets) != tc.outlets || st.Strip != (tc.outlets > 1) {
				t.Fatalf("status = %s with %d outlets (strip %v), want %s with %d", st.Model, len(st.Outlets), st.Strip, tc.want, tc.outlets)
			}
			for _, o := range st.Outlets {
				if !o.On {
					t.Errorf("outlet %d off at start", o.Index)
				}
				if (o.Energy != nil) != tc.metered {
					t.Errorf("outlet %d energy = %v, metered %v", o.Index, o.Energy, tc.metered)
				}
			}

			// Each outlet switches alone, by index (strip) or the empty selector.
			for i := range tc.outlets {
				sel := ""
				if tc.outlets > 1 {
					sel = strconv.Itoa(i)
				}
				if err := c.Switch(ctx, sel, false); err != nil {
					t.Fatal(err)
				}
				for j, o := range sim.Outlets() {
					if o.On != (j > i) {
						t.Fatalf("after switching outlet %d off, relay %d on=%v", i, j, o.On)
					}
				}
			}
			if err := c.Switch(ctx, "", true); tc.outlets > 1 && !errors.Is(err, actuator.ErrOutletNotFound) {
				t.Errorf("empty selector on a strip: err = %v, want ErrOutletNotFound", err)
			}
			if err := c.Switch(ctx, "7", true); !errors.Is(err, actuator.ErrOutletNotFound) {
				t.Errorf("outlet 7: err = %v, want ErrOutletNotFound", err)
			}

			// Energy: an hour on at the simulated load counts 23.5 Wh.
			sel := ""
			if tc.outlets > 1 {
				sel = "0"
			}
			if err := c.Switch(ctx, sel, true); err != nil {
				t.Fatal(err)
			}
			fake.Advance(time.Hour)
			st, err = c.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			o, _ := actuator.SelectOutlet(st, sel)
			if !o.On {
				t.Fatal("outlet 0 off after switching on")
			}
			if tc.metered {
				if o.Energy.WattHours < 23.4 || o.Energy.WattHours > 23.6 || o.Energy.Watts != 23.5 {
					t.Errorf("energy after 1h on = %+v, want 23.5 W and 23.5 Wh", *o.Energy)
				}
				if tc.gen == 2 || tc.model == "shelly25" {
					if o.Energy.Volts < 200 {
						t.Errorf("voltage %v, want mains", o.Energy.Volts)
					}
				}
			}
		})
	}
}

func TestOutletNames(t *testing.T) {
	for _, model := range []string{"shelly25", "shellypro4pm"} {
		t.Run(model, func(t *testing.T) {
			ctx := ctxT(t)
			sim := startSim(t, shellysim.Options{Model: model})
			c := newClient(t, sim.Addr(), shelly.Config{})
			st, err := c.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, o := range st.Outlets {
				if o.Alias == "" || seen[o.Alias] {
					t.Fatalf("outlet aliases %v are not distinct labels", st.Outlets)
				}
				seen[o.Alias] = true
			}
			// By alias, as a config would name it.
			if err := c.Switch(ctx, st.Outlets[1].Alias, false); err != nil {
				t.Fatal(err)
			}
			if sim.On(1) || !sim.On(0) {
				t.Fatalf("switching %q off: relays %+v", st.Outlets[1].Alias, sim.Outlets())
			}
		})
	}
}

func TestAuth(t *testing.T) {
	for _, model := range []string{"shellyplugs", "shellyplusplugs"} {
		t.Run(model, func(t *testing.T) {
			sim := startSim(t, shellysim.Options{Model: model, Password: "s3cret"})
			for _, tc := range []struct {
				name, user, pass string
				want             error
				hint             string
			}{
				{"right", "", "s3cret", nil, ""},
				{"right with user admin", "admin", "s3cret", nil, ""},
				{"wrong", "", "guess", shelly.ErrAuthRejected, `"password"`},
				{"wrong user", "bob", "s3cret", shelly.ErrAuthRejected, `"username"`},
				{"missing", "", "", shelly.ErrAuthRequired, `"password"`},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ctx := ctxT(t)
					c := newClient(t, sim.Addr(), shelly.Config{Username: tc.user, Password: tc.pass})
					_, err := c.Status(ctx)
					if !errors.Is(err, tc.want) {
						t.Fatalf("err = %v, want %v", err, tc.want)
					}
					if err != nil && !strings.Contains(err.Error(), tc.hint) {
						t.Errorf("error %q does not name the key to fix (%s)", err, tc.hint)
					}
					if err == nil {
						if err := c.Switch(ctx, "", false); err != nil {
							t.Fatal(err)
						}
						if sim.On(0) {
							t.Fatal("authenticated switch-off did not reach the relay")
						}
						c.Switch(ctx, "", true)
					} else if !sim.On(0) {
						t.Fatal("a refused client changed the relay")
					}
				})
			}
		})
	}
}

// TestSafeCycleControllerKilled runs SafeCycle and freezes the controller
// after it switched off (its clock never moves again and it never sends
// another request): the device's own timer must bring power back.
func TestSafeCycleControllerKilled(t *testing.T) {
	for _, tc := range allModels {
		t.Run(tc.model, func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			devClock, ctlClock := fakeClock(), fakeClock()
			sim := startSim(t, shellysim.Options{Model: tc.model, Clock: devClock})
			c := newClient(t, sim.Addr(), shelly.Config{})
			sel, idx := "", 0
			if tc.outlets > 1 {
				sel, idx = "1", 1
			}
			frozen := &freezeAfterOff{Plug: c, off: make(chan struct{})}
			done := make(chan actuator.SafeCycleReport, 1)
			go func() {
				rep, _ := actuator.SafeCycle(ctx, frozen, sel, 30*time.Second, actuator.SafeCycleOptions{Logger: quiet, Clock: ctlClock})
				done <- rep
			}()
			<-frozen.off
			if sim.On(idx) || !sim.Outlets()[idx].Timer {
				t.Fatalf("after switch-off: %+v, want off with a timer", sim.Outlets()[idx])
			}
			devClock.Advance(29 * time.Second)
			if sim.On(idx) {
				t.Fatal("the device switched on before the off time")
			}
			devClock.Advance(time.Second)
			waitFor(t, "power back by the device's timer", func() bool { return sim.On(idx) })
			if sim.Outlets()[idx].Timer {
				t.Error("timer still shown after it fired")
			}
			// Revived and shut down, the controller switches on (already on) and verifies.
			frozen.dead.Store(false)
			cancel()
			rep := <-done
			if !rep.FlipBackArmed || !rep.SwitchedOff || !rep.Verified {
				t.Errorf("report %+v", rep)
			}
		})
	}
}

// freezeAfterOff is a controller that dies right after switching off:
// every later switch fails, as if the process were gone, until revived.
type freezeAfterOff struct {
	actuator.Plug
	off  chan struct{}
	dead atomic.Bool
}

func (f *freezeAfterOff) Switch(ctx context.Context, outlet string, on bool) error {
	if f.dead.Load() {
		return errors.New("controller is dead")
	}
	err := f.Plug.Switch(ctx, outlet, on)
	if !on && err == nil {
		f.dead.Store(true)
		close(f.off)
	}
	return err
}

func TestSafeCycleWhole(t *testing.T) {
	for _, model := range []string{"shelly25", "shellypro4pm"} {
		t.Run(model, func(t *testing.T) {
			ctx := ctxT(t)
			devClock := fakeClock()
			sim := startSim(t, shellysim.Options{Model: model, Clock: devClock})
			c := newClient(t, sim.Addr(), shelly.Config{})
			ctl := fakeClock()
			done := make(chan error, 1)
			var rep actuator.SafeCycleReport
			go func() {
				var err error
				rep, err = actuator.SafeCycle(ctx, c, "1", 10*time.Second, actuator.SafeCycleOptions{Logger: quiet, Clock: ctl})
				done <- err
			}()
			ctl.WaitForTimers(1)
			if sim.On(1) || !sim.On(0) {
				t.Fatalf("during the off time: %+v", sim.Outlets())
			}
			ctl.Advance(10 * time.Second)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			o := sim.Outlets()[1]
			if !o.On || o.Timer {
				t.Fatalf("after the cycle: %+v, want on with no timer left", o)
			}
			if !rep.FlipBackArmed || !rep.Verified || !rep.FlipBackDisarmed {
				t.Errorf("report %+v", rep)
			}
			// The device timer was replaced: moving the device past it does nothing.
			devClock.Advance(time.Minute)
			if !sim.On(1) {
				t.Fatal("a stale flip-back timer toggled the outlet off")
			}
		})
	}
}

func TestArmedOnlyOnce(t *testing.T) {
	ctx := ctxT(t)
	sim := startSim(t, shellysim.Options{Model: "shellyplus1"})
	c := newClient(t, sim.Addr(), shelly.Config{})
	if err := c.ArmFlipBack(ctx, "", time.Minute); err != nil {
		t.Fatal(err)
	}
	if sim.Outlets()[0].Timer {
		t.Fatal("arming alone started a timer on an outlet that is on")
	}
	c.Switch(ctx, "", false)
	if !sim.Outlets()[0].Timer {
		t.Fatal("armed switch-off carried no timer")
	}
	// Disarming an outlet that is off leaves the timer that brings it back.
	if err := c.DisarmFlipBack(ctx, ""); err == nil || !sim.Outlets()[0].Timer {
		t.Fatalf("disarm while off: err=%v timer=%v; want an error and the timer kept", err, sim.Outlets()[0].Timer)
	}
	c.Switch(ctx, "", true)
	c.Switch(ctx, "", false)
	if sim.Outlets()[0].Timer {
		t.Fatal("a second, plain switch-off reused the arming")
	}
}

func TestFaults(t *testing.T) {
	for _, model := range []string{"shelly1", "shellyplus1"} {
		t.Run(model, func(t *testing.T) {
			sim := startSim(t, shellysim.Options{Model: model})
			c := newClient(t, sim.Addr(), shelly.Config{Timeout: 300 * time.Millisecond})
			ctx := ctxT(t)
			if _, err := c.Status(ctx); err != nil {
				t.Fatal(err)
			}
			for _, f := range []shellysim.Fault{shellysim.Refuse, shellysim.Hang, shellysim.Unreachable} {
				sim.SetFault(f)
				_, err := c.Status(ctx)
				var se *actuator.PlugError
				if !errors.As(err, &se) || se.Hint == "" {
					t.Errorf("%v: err = %v, want a *actuator.PlugError with a hint", f, err)
				}
				sim.SetFault(shellysim.NoFault)
			}
			waitFor(t, "answers again after faults", func() bool { _, err := c.Status(ctx); return err == nil })
			sim.DropAfter(1)
			if _, err := c.Status(ctx); err == nil {
				// Gen1 reads /status and /settings: the second goes unanswered.
				if model == "shellyplus1" {
					if _, err := c.Status(ctx); err == nil {
						t.Fatal("still answering after DropAfter")
					}
				} else {
					t.Fatal("Gen1 status answered with /settings dropped")
				}
			}
		})
	}
}

func TestRefusedFlipBackSwitchesBackOn(t *testing.T) {
	// A device that switches off but ignores the timer: SafeCycle must see the
	// off fail and put power back on itself, under either policy.
	for _, policy := range []string{config.FlipBackAuto, config.FlipBackRequired} {
		t.Run(policy, func(t *testing.T) {
			ctx := ctxT(t)
			srv := newFakeDevice(t, fakeGen1{ignoreTimer: true})
			c := newClient(t, srv, shelly.Config{})
			rep, err := actuator.SafeCycle(ctx, c, "", time.Second, actuator.SafeCycleOptions{
				Logger: quiet, Clock: fakeClock(), RetryDelay: time.Millisecond, FlipBack: policy})
			if !errors.Is(err, shelly.ErrNoTimer) {
				t.Fatalf("err = %v", err)
			}
			if !rep.Verified {
				t.Fatalf("report %+v: power was not restored", rep)
			}
		})
	}
}

func ExampleClient() {
	c, err := shelly.New(shelly.Config{Host: "192.0.2.10"})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	fmt.Println(c.Addr())
	// Output: 192.0.2.10:80
}
