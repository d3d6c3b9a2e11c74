package actuator_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/internal/state"
)

// peerRig is a second Cycler — a second restartinator — on the first rig's
// simulated plug, with its own client, state file and options.
func peerRig(t *testing.T, r *cyclerRig, peer actuator.PeerOptions) (*actuator.Cycler, chan actuator.Update) {
	t.Helper()
	c, err := r.client(r.sim, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	st, err := state.Open(t.TempDir()+"/b.json", r.logger)
	if err != nil {
		t.Fatal(err)
	}
	updates := make(chan actuator.Update, 10)
	b := actuator.NewCycler(actuator.CyclerOptions{Plugs: plugMap{"p": c}, State: st, Clock: r.clk, Logger: r.logger.With("instance", peer.Instance),
		MaxConcurrent: 2, Peer: peer, Listener: func(u actuator.Update) { updates <- u },
		Safe: actuator.SafeCycleOptions{OnAttempts: 2, RetryDelay: time.Second, RestoreTimeout: cyclerBound}})
	t.Cleanup(func() {
		if err := shutdown(b, r.clk); err != nil {
			t.Errorf("standby's shutdown: %v", err)
		}
	})
	return b, updates
}

func nextUpdate(t *testing.T, ch chan actuator.Update) actuator.Update {
	t.Helper()
	select {
	case u := <-ch:
		return u
	case <-time.After(cyclerBound):
		t.Fatalf("no update within %s", cyclerBound)
	}
	return actuator.Update{}
}

// metricText is the exposition of one family of c.
func metricText(t *testing.T, c prometheus.Collector, name string) string {
	t.Helper()
	b, err := testutil.CollectAndFormat(c, expfmt.TypeTextPlain, name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Two instances told at the same moment: the primary (no delay) cycles, the
// standby (a delay) finds the outlet off under the primary's flip-back timer
// and skips with cycled_by_peer, giving the device its boot grace.
func TestPeerPairCyclesOnceWhenToldTogether(t *testing.T) {
	r := newCyclerRig(t, "HS100", func(o *actuator.CyclerOptions) {
		o.Peer = actuator.PeerOptions{Check: true, Instance: "a"}
	})
	b, bUpdates := peerRig(t, r, actuator.PeerOptions{Check: true, Instance: "b", Delay: 5 * time.Second})

	if err := r.cycler.Start(req("", "cam")); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(req("", "cam")); err != nil {
		t.Fatal(err)
	}
	r.update(actuator.PhaseCycling)
	waitTimers(t, r.clk, 3) // a's off wait and the plug's countdown; b's delay
	r.clk.Advance(5 * time.Second)
	u := nextUpdate(t, bUpdates)
	if u.Phase != actuator.PhaseBooting || !u.Report.CycledByPeer || u.Err != nil {
		t.Fatalf("standby's update = %+v, want booting, cycled by peer", u)
	}
	if phase, busy := b.Busy("p", ""); !busy || phase != actuator.PhaseBooting {
		t.Fatalf("standby Busy = %s %v: the device should have its boot grace", phase, busy)
	}
	r.clk.Advance(5 * time.Second)
	r.update(actuator.PhaseBooting)
	if !r.sim.On(0) {
		t.Fatal("outlet off after the primary's cycle")
	}
	if got := metricText(t, b, "restartinator_power_cycles_skipped_total"); !strings.Contains(got, `restartinator_power_cycles_skipped_total{device="cam",reason="cycled_by_peer"} 1`) {
		t.Fatalf("standby's skipped counter:\n%s", got)
	}
	if got := metricText(t, b, "restartinator_power_cycles_total"); strings.Contains(got, `device="cam"`) {
		t.Fatalf("the standby counted a cycle it did not do:\n%s", got)
	}
	if got := metricText(t, r.cycler, "restartinator_power_cycles_total"); !strings.Contains(got, `{device="cam",trigger="manual"} 1`) {
		t.Fatalf("primary's cycles:\n%s", got)
	}
}

// An instance that hears of the outage after the peer's cycle finished sees
// power that came on within boot_time, not by itself, and skips; the
// instance that did the cycle is not fooled by its own power-on.
func TestPeerCheckAfterThePeerFinished(t *testing.T) {
	r := newCyclerRig(t, "HS100", func(o *actuator.CyclerOptions) {
		o.Peer = actuator.PeerOptions{Check: true, Instance: "a"}
	})
	b, bUpdates := peerRig(t, r, actuator.PeerOptions{Check: true, Instance: "b"})

	if err := r.cycler.Start(req("", "cam")); err != nil {
		t.Fatal(err)
	}
	r.update(actuator.PhaseCycling)
	waitTimers(t, r.clk, 2)
	r.clk.Advance(10 * time.Second)
	r.update(actuator.PhaseBooting)
	r.clk.Advance(3 * time.Second) // the plug counts on-time in whole seconds

	err := b.CheckPeer(context.Background(), req("", "cam"))
	if !errors.Is(err, actuator.ErrCycledByPeer) || !strings.Contains(err.Error(), "within boot_time") {
		t.Fatalf("standby's CheckPeer = %v, want cycled by peer (power came on recently)", err)
	}
	if err := b.Start(req("", "cam")); err != nil {
		t.Fatal(err)
	}
	if u := nextUpdate(t, bUpdates); !u.Report.CycledByPeer {
		t.Fatalf("standby cycled again: %+v", u)
	}
	// The primary's own power-on is its own: after its boot grace ends
	// early, a new failure may cycle again.
	r.cycler.Booted("p", "")
	if err := r.cycler.CheckPeer(context.Background(), req("", "cam")); err != nil {
		t.Fatalf("primary's CheckPeer after its own cycle = %v, want nil", err)
	}
	if err := r.cycler.Start(req("", "cam")); err != nil {
		t.Fatal(err)
	}
	r.update(actuator.PhaseCycling)
}

// Without the peer check (the default) nothing is read before a cycle and
// an outlet switched off by hand is cycled as before; with it, CheckPeer
// says a plug that does not answer is unreachable, not a peer's.
func TestPeerCheckOffAndUnreachable(t *testing.T) {
	r := newCyclerRig(t, "HS100", nil)
	r.sim.SetOn(0, false)
	if err := r.cycler.CheckPeer(context.Background(), req("", "cam")); err != nil {
		t.Fatalf("CheckPeer without peer_check = %v", err)
	}
	b, _ := peerRig(t, r, actuator.PeerOptions{Check: true, Instance: "b"})
	if err := b.CheckPeer(context.Background(), req("", "cam")); !errors.Is(err, actuator.ErrCycledByPeer) || !strings.Contains(err.Error(), "outlet is off") {
		t.Fatalf("CheckPeer of an outlet that is off = %v", err)
	}
	// A peer that armed its flip-back timer and has not switched off yet.
	r.sim.SetOn(0, true)
	if err := r.plug.ArmFlipBack(context.Background(), "", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.CheckPeer(context.Background(), req("", "cam")); !errors.Is(err, actuator.ErrCycledByPeer) || !strings.Contains(err.Error(), "flip-back timer") {
		t.Fatalf("CheckPeer with a timer armed = %v", err)
	}
	if err := r.plug.DisarmFlipBack(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if err := b.CheckPeer(context.Background(), req("", "cam")); err != nil {
		t.Fatalf("CheckPeer of an idle outlet = %v", err)
	}
	r.sim.Close()
	if err := b.CheckPeer(context.Background(), req("", "cam")); err == nil || errors.Is(err, actuator.ErrCycledByPeer) {
		t.Fatalf("CheckPeer of a closed plug = %v, want a read error", err)
	}
}
