package kasa_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/internal/clock"
)

// The outcomes a safe cycle can have when arming the flip-back meets an
// error.
type outcome int

const (
	armed       outcome = iota // cycled with the plug's timer armed
	plain                      // cycled without a timer: the plug said it has none
	refusedOff                 // stopped before switching off
	lostRearmed                // the timer vanished after off and was armed again
)

func (o outcome) String() string {
	return [...]string{"armed", "plain", "refused before off", "lost and re-armed"}[o]
}

// TestFlipBackErrors runs a safe cycle through the real client against the
// simulator with each failure the firmware can answer while arming, and
// checks what a user would see: whether power went off, came back, and what
// the error says.
func TestFlipBackErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		model    string
		protocol string
		setup    func(t *testing.T, sim *kasasim.Plug, c *kasa.Client, simClock *clock.Fake)
		want     outcome
		errHas   []string // in the error, when refused
		minTries int      // add_countdown_rule / add_rule answers seen, at least
	}{
		{name: "SMART armed", model: "KP125M", want: armed},
		{name: "SMART session timeout twice, re-handshake, armed", model: "KP125M",
			setup: func(t *testing.T, sim *kasasim.Plug, _ *kasa.Client, _ *clock.Fake) {
				sim.FailMethod("add_countdown_rule", 9999, 2)
			}, want: armed},
		{name: "SMART transport error -1001 then armed", model: "KP125M",
			setup: func(t *testing.T, sim *kasasim.Plug, _ *kasa.Client, _ *clock.Fake) {
				sim.FailMethod("add_countdown_rule", -1001, 1)
			}, want: armed},
		{name: "SMART session timeout every time: refused before off", model: "KP125M",
			setup: func(t *testing.T, sim *kasasim.Plug, _ *kasa.Client, _ *clock.Fake) {
				sim.FailMethod("add_countdown_rule", 9999, -1)
			}, want: refusedOff, errHas: []string{"session timeout", "9999"}},
		{name: "SMART unknown method: cycled without flip-back", model: "KP125M",
			setup: func(t *testing.T, sim *kasasim.Plug, _ *kasa.Client, _ *clock.Fake) {
				sim.RefuseMethod("add_countdown_rule")
			}, want: plain},
		{name: "SMART countdown error -1901: refused before off", model: "KP125M",
			setup: func(t *testing.T, sim *kasasim.Plug, _ *kasa.Client, _ *clock.Fake) {
				sim.FailMethod("add_countdown_rule", -1901, -1)
			}, want: refusedOff, errHas: []string{"countdown error", "-1901", "add_countdown_rule"}},
		{name: "SMART unknown code: refused before off with the code", model: "KP125M",
			setup: func(t *testing.T, sim *kasasim.Plug, _ *kasa.Client, _ *clock.Fake) {
				sim.FailMethod("add_countdown_rule", -31337, -1)
			}, want: refusedOff, errHas: []string{"-31337"}},
		{name: "SMART schedule full: another app's countdown is edited", model: "KP125M",
			setup: func(t *testing.T, sim *kasasim.Plug, c *kasa.Client, _ *clock.Fake) {
				if err := c.ArmFlipBack(ctxT(t), "", time.Hour); err != nil {
					t.Fatal(err)
				}
			}, want: armed},
		{name: "SMART schedule full: a fired rule still listed is edited", model: "KP125M",
			setup: func(t *testing.T, sim *kasasim.Plug, c *kasa.Client, simClock *clock.Fake) {
				if err := c.ArmFlipBack(ctxT(t), "", kasa.MinFlipBack); err != nil {
					t.Fatal(err)
				}
				simClock.Advance(kasa.MinFlipBack)
				waitFor(t, func() bool { return !sim.Outlets()[0].Countdown })
			}, want: armed},
		{name: "SMART rule cleared when the relay changes: re-armed", model: "KP125M",
			setup: func(t *testing.T, sim *kasasim.Plug, _ *kasa.Client, _ *clock.Fake) {
				sim.ClearRuleOnSwitch(true)
			}, want: lostRearmed},
		{name: "SMART without countdown component: cycled without flip-back", model: "no-countdown", want: plain},
		{name: "IOT armed", model: "HS100", want: armed},
		{name: "IOT strip armed", model: "HS300", want: armed},
		{name: "IOT method not supported: cycled without flip-back", model: "HS100",
			setup: func(t *testing.T, sim *kasasim.Plug, _ *kasa.Client, _ *clock.Fake) {
				sim.RefuseMethod("count_down.add_rule")
			}, want: plain},
		{name: "IOT module not supported: cycled without flip-back", model: "HS100",
			setup: func(t *testing.T, sim *kasasim.Plug, _ *kasa.Client, _ *clock.Fake) {
				sim.FailMethod("count_down.delete_all_rules", -1, -1)
			}, want: plain},
		{name: "IOT table full: refused before off", model: "HS100",
			setup: func(t *testing.T, sim *kasasim.Plug, _ *kasa.Client, _ *clock.Fake) {
				sim.FailMethod("count_down.add_rule", -10, -1)
			}, want: refusedOff, errHas: []string{"-10", "count_down.add_rule"}},
		{name: "IOT rule cleared when the relay changes: re-armed", model: "HS300",
			setup: func(t *testing.T, sim *kasasim.Plug, _ *kasa.Client, _ *clock.Fake) {
				sim.ClearRuleOnSwitch(true)
			}, want: lostRearmed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			simClock := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			opt := kasasim.Options{Model: tc.model, Clock: simClock}
			if tc.model == "no-countdown" {
				opt = kasasim.Options{From: writeRecording(t, noCountdownSMART), Clock: simClock}
			}
			sim := startSim(t, opt)
			c := newClient(t, sim, kasa.Options{Protocol: tc.protocol, RetryDelay: time.Millisecond})
			if tc.setup != nil {
				tc.setup(t, sim, c, simClock)
			}
			sel, idx := "", 0
			if sim.Strip() {
				sel, idx = "Outlet 2", 1
			}
			rep, err := actuator.SafeCycle(ctx, c, sel, time.Millisecond, actuator.SafeCycleOptions{Clock: clock.Real{}, Logger: quiet})
			if !sim.On(idx) {
				t.Fatal("the outlet is left off")
			}
			if tc.want == armed && !rep.FlipBackDisarmed {
				t.Fatal("flip-back not removed after the cycle")
			}
			switch tc.want {
			case armed, lostRearmed:
				if err != nil || !rep.FlipBackArmed || !rep.SwitchedOff || !rep.Verified {
					t.Fatalf("rep = %+v, err = %v; want cycled with the timer armed", rep, err)
				}
				if rep.FlipBackLost != (tc.want == lostRearmed) {
					t.Fatalf("FlipBackLost = %v, want %v", rep.FlipBackLost, tc.want == lostRearmed)
				}
				if sim.Outlets()[idx].Countdown {
					t.Fatal("the timer is still armed after the cycle")
				}
			case plain:
				if err != nil || !rep.FlipBackUnsupported || rep.FlipBackArmed || !rep.Verified {
					t.Fatalf("rep = %+v, err = %v; want a plain cycle", rep, err)
				}
				if !errors.Is(c.ArmFlipBack(ctx, sel, time.Second), actuator.ErrFlipBackUnsupported) {
					t.Fatal("ArmFlipBack does not say unsupported")
				}
			case refusedOff:
				if err == nil || rep.SwitchedOff || rep.OnAttempts != 0 || rep.Reason != actuator.ReasonFlipBack {
					t.Fatalf("rep = %+v, err = %v; want refused before switching off", rep, err)
				}
				if errors.Is(err, actuator.ErrFlipBackUnsupported) {
					t.Fatalf("a device error was taken for 'unsupported': %v", err)
				}
				for _, s := range tc.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
			}
		})
	}
}

// TestFlipBackRetriesOnANewSession: a session timeout makes the client
// handshake again before the next try, as python-kasa resets its transport.
func TestFlipBackRetriesOnANewSession(t *testing.T) {
	ctx := ctxT(t)
	sim := startSim(t, kasasim.Options{Model: "KP125M"})
	c := newClient(t, sim, kasa.Options{RetryDelay: time.Millisecond})
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	before := sim.Handshakes()
	sim.FailMethod("add_countdown_rule", 9999, 3)
	if err := c.ArmFlipBack(ctx, "", time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := sim.Handshakes() - before; got != 3 {
		t.Fatalf("%d handshakes for 3 session timeouts, want 3", got)
	}
	// The fourth failure is one too many: 1 try + kasa.Retries.
	sim.FailMethod("add_countdown_rule", 9999, kasa.Retries+1)
	if err := c.ArmFlipBack(ctx, "", time.Minute); err == nil {
		t.Fatal("armed after more session timeouts than retries")
	}
}

// noCountdownSMART is a SMART plug whose firmware lists no countdown
// component (component_nego without "countdown").
const noCountdownSMART = `{
  "component_nego": {"component_list": [{"id": "device", "ver_code": 2}, {"id": "firmware", "ver_code": 2}]},
  "get_device_info": {"device_id": "80061234", "model": "P100", "hw_ver": "1.0.0", "fw_ver": "1.0.0 Build 0",
    "type": "SMART.TAPOPLUG", "mac": "00-00-00-00-00-01", "nickname": "", "device_on": true, "on_time": 10}
}`

func writeRecording(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "device.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A countdown shorter than firmware runs is armed at kasa.MinFlipBack.
func TestFlipBackRaisedToMinimum(t *testing.T) {
	ctx := ctxT(t)
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sim := startSim(t, kasasim.Options{Model: "HS100", Clock: fake})
	c := newClient(t, sim, kasa.Options{})
	if err := c.ArmFlipBack(ctx, "", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Switch(ctx, "", false); err != nil {
		t.Fatal(err)
	}
	fake.Advance(kasa.MinFlipBack - time.Second)
	if sim.On(0) {
		t.Fatal("fired before the minimum")
	}
	fake.Advance(time.Second)
	waitFor(t, func() bool { return sim.On(0) })
}
