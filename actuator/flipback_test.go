package actuator_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/config"
)

// readBack is the Kasa client with a FlipBackVerifier that reads the timer
// from the simulated device, standing in for a driver that can read its
// timer back; lie makes it report the timer missing.
type readBack struct {
	actuator.Plug
	sim  *kasasim.Plug
	lie  bool
	left time.Duration
}

func (p *readBack) FlipBackArmed(ctx context.Context, outlet string) (time.Duration, bool, error) {
	if _, err := p.Status(ctx); err != nil {
		return 0, false, err
	}
	return p.left, p.sim.Outlets()[0].Countdown && !p.lie, nil
}

func TestFlipBackPolicy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  string
		prepare func(r *rig) actuator.Plug
		// cycled: power went off and came back; armed: the device's timer
		// was armed while it was off.
		cycled, armed bool
		wantErr       string
	}{
		{name: "auto arms", policy: config.FlipBackAuto, cycled: true, armed: true},
		{name: "default is auto", policy: "", cycled: true, armed: true},
		{name: "off never arms", policy: config.FlipBackOff, cycled: true, armed: false},
		{name: "off on a plug that refuses the timer", policy: config.FlipBackOff, cycled: true,
			prepare: func(r *rig) actuator.Plug { r.sim.RefuseMethod("count_down.add_rule"); return r.plug }},
		{name: "auto cycles plainly when the device refuses", policy: config.FlipBackAuto, cycled: true,
			prepare: func(r *rig) actuator.Plug { r.sim.RefuseMethod("count_down.add_rule"); return r.plug }},
		{name: "required refuses when the device refuses", policy: config.FlipBackRequired,
			prepare: func(r *rig) actuator.Plug { r.sim.RefuseMethod("count_down.add_rule"); return r.plug },
			wantErr: "set flip_back: auto to cycle this plug without it"},
		{name: "required and unreachable", policy: config.FlipBackRequired,
			prepare: func(r *rig) actuator.Plug { r.sim.SetFault(kasasim.Refuse); return r.plug },
			wantErr: "connection refused"},
		{name: "required, read back", policy: config.FlipBackRequired, cycled: true, armed: true,
			prepare: func(r *rig) actuator.Plug { return &readBack{Plug: r.plug, sim: r.sim, left: 5 * time.Second} }},
		{name: "required, read back missing", policy: config.FlipBackRequired,
			prepare: func(r *rig) actuator.Plug { return &readBack{Plug: r.plug, sim: r.sim, lie: true} },
			wantErr: "does not show it armed"},
		{name: "required, read back firing too late", policy: config.FlipBackRequired,
			prepare: func(r *rig) actuator.Plug { return &readBack{Plug: r.plug, sim: r.sim, left: time.Hour} },
			wantErr: "firing in 1h0m0s, not after the 5s off time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "HS110")
			p := actuator.Plug(r.plug)
			if tc.prepare != nil {
				p = tc.prepare(r)
			}
			done := r.start(context.Background(), p, "", 5*time.Second, actuator.SafeCycleOptions{FlipBack: tc.policy})
			if !tc.cycled {
				res := <-done
				if res.err == nil || !errors.Is(res.err, actuator.ErrFlipBackRequired) || !strings.Contains(res.err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want ErrFlipBackRequired saying %q", res.err, tc.wantErr)
				}
				r.sim.SetFault(kasasim.NoFault)
				if o := r.sim.Outlets()[0]; res.rep.SwitchedOff || !o.On || o.Countdown {
					t.Fatalf("refused cycle touched the outlet: report %+v, outlet %+v", res.rep, o)
				}
				return
			}
			r.clock.WaitForTimers(1)
			if o := r.sim.Outlets()[0]; o.On || o.Countdown != tc.armed {
				t.Fatalf("during the off time: %+v, want the timer armed %v", o, tc.armed)
			}
			r.clock.Advance(5 * time.Second)
			res := <-done
			if res.err != nil || !res.rep.Verified || res.rep.FlipBackArmed != tc.armed {
				t.Fatalf("report %+v, err %v", res.rep, res.err)
			}
			// The safe cycle reads the timer back itself only when required
			// (the Kasa client reads it back inside ArmFlipBack anyway).
			if _, ok := p.(actuator.FlipBackVerifier); ok && tc.policy == config.FlipBackRequired && !res.rep.FlipBackVerified {
				t.Errorf("timer read back but not reported verified: %+v", res.rep)
			}
			if o := r.sim.Outlets()[0]; !o.On || o.Countdown {
				t.Fatalf("after the cycle: %+v", o)
			}
		})
	}
}
