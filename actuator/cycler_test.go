package actuator_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/state"
)

const cyclerBound = 20 * time.Second

// plugMap is a PlugSource of fixed plugs.
type plugMap map[string]actuator.Plug

func (m plugMap) Plug(name string) (actuator.Plug, error) {
	p, ok := m[name]
	if !ok {
		return nil, fmt.Errorf("plug %q is not configured", name)
	}
	return p, nil
}

// cyclerRig is a Cycler over one simulated plug; the plug's countdown timers
// and the Cycler share one fake clock.
type cyclerRig struct {
	t         *testing.T
	clk       *clock.Fake
	sim       *kasasim.Plug
	plug      actuator.Plug
	plugs     plugMap
	statePath string
	store     *state.Store
	cycler    *actuator.Cycler
	updates   chan actuator.Update
	log       *syncBuf
	logger    *slog.Logger
}

func newCyclerRig(t *testing.T, model string, mod func(*actuator.CyclerOptions)) *cyclerRig {
	t.Helper()
	r := &cyclerRig{t: t, clk: clock.NewFake(t0), updates: make(chan actuator.Update, 100), log: &syncBuf{}}
	r.logger = slog.New(slog.NewTextHandler(r.log, nil))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", r.log)
		}
	})
	sim, err := kasasim.Start(kasasim.Options{Model: model, Clock: r.clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	c, err := r.client(sim, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r.sim, r.plug = sim, c
	r.plugs = plugMap{"p": c}
	r.statePath = filepath.Join(t.TempDir(), "state.json")
	r.store = r.openState()
	opt := actuator.CyclerOptions{Plugs: r.plugs, State: r.store, Clock: r.clk, Logger: r.logger, MaxConcurrent: 2,
		Listener: func(u actuator.Update) {
			select {
			case r.updates <- u:
			default:
				t.Errorf("update dropped: %+v", u)
			}
		},
		Safe: actuator.SafeCycleOptions{OnAttempts: 2, RetryDelay: time.Second, RestoreTimeout: cyclerBound}}
	if mod != nil {
		mod(&opt)
	}
	r.cycler = actuator.NewCycler(opt)
	t.Cleanup(func() {
		if err := shutdown(r.cycler, r.clk); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return r
}

// shutdown is c.Shutdown with time passing on the fake clock, as it would
// for a real shutdown: a test may end mid-cycle, and a cycle ended by the
// shutdown restores power with the safe cycle's retries, whose delays are on
// clk. A retry is needed when the shutdown cancels the switch-off after its
// request went out: the simulator may then serve it after the switch-on sent
// on a fresh connection, and read back the outlet off (seen under load).
func shutdown(c *actuator.Cycler, clk *clock.Fake) error {
	ctx, cancel := context.WithTimeout(context.Background(), cyclerBound)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Shutdown(ctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if clk.Pending() > 0 {
				clk.Advance(time.Second)
			}
		}
	}
}

// client is a Kasa client of sim. The timeout is real time: generous, as
// the race detector on a busy machine is slow; short only where a test
// waits for it on purpose.
func (r *cyclerRig) client(sim *kasasim.Plug, timeout time.Duration) (*kasa.Client, error) {
	return kasa.New(kasa.Options{Host: sim.Host(), Port: sim.Port(), Protocol: sim.Protocol(), Timeout: timeout, Logger: r.logger, Clock: r.clk, Name: "p"})
}

func (r *cyclerRig) openState() *state.Store {
	r.t.Helper()
	st, err := state.Open(r.statePath, r.logger)
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

func (r *cyclerRig) update(phase string) actuator.Update {
	r.t.Helper()
	select {
	case u := <-r.updates:
		if u.Phase != phase {
			r.t.Fatalf("update = %+v, want phase %s", u, phase)
		}
		return u
	case <-time.After(cyclerBound):
		r.t.Fatalf("no %s update within %s", phase, cyclerBound)
	}
	return actuator.Update{}
}

func req(outlet string, devices ...string) actuator.Request {
	return actuator.Request{Plug: "p", Outlet: outlet, Devices: devices, Trigger: actuator.TriggerManual, Off: 10 * time.Second, Boot: time.Minute}
}

// A whole cycle: intent written before power goes off, the outlet off with
// the flip-back armed for the off time, on again, verified; intent cleared,
// history and metrics written, the outlet busy until boot ends.
func TestCyclerCycle(t *testing.T) {
	r := newCyclerRig(t, "HS100", nil)
	if err := r.cycler.Start(req("", "cam", "nvr")); err != nil {
		t.Fatal(err)
	}
	cyc := r.update(actuator.PhaseCycling)
	if !cyc.Time.Equal(t0) {
		t.Fatalf("cycling at %s", cyc.Time)
	}
	waitTimers(t, r.clk, 2) // the plug's countdown and our off wait
	if o := r.sim.Outlets()[0]; o.On || !o.Countdown {
		t.Fatalf("during the off time: %+v", o)
	}
	in := r.store.Intents()
	if len(in) != 1 || in[0].Plug != "p" || in[0].Outlet != "" || fmt.Sprint(in[0].Devices) != "[cam nvr]" || in[0].Trigger != actuator.TriggerManual {
		t.Fatalf("intents during the off time = %+v", in)
	}
	// The intent is on disk, for the next start.
	if in := r.openState().Intents(); len(in) != 1 {
		t.Fatalf("intents on disk = %+v", in)
	}
	if err := r.cycler.Start(req("", "cam")); !errors.Is(err, actuator.ErrAlreadyCycling) {
		t.Fatalf("second Start = %v", err)
	}
	if _, err := r.cycler.Cycle(req("", "cam")); !errors.Is(err, actuator.ErrAlreadyCycling) {
		t.Fatalf("Cycle while cycling = %v", err)
	}
	if phase, busy := r.cycler.Busy("p", ""); !busy || phase != actuator.PhaseCycling {
		t.Fatalf("Busy = %s %v", phase, busy)
	}
	r.clk.Advance(10 * time.Second)
	b := r.update(actuator.PhaseBooting)
	if b.Err != nil || !b.Report.Verified || !b.Report.FlipBackDisarmed || !b.Time.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("booting = %+v", b)
	}
	if o := r.sim.Outlets()[0]; !o.On || o.Countdown {
		t.Fatalf("after the cycle: %+v", o)
	}
	if in := r.store.Intents(); len(in) != 0 {
		t.Fatalf("intents after the cycle = %+v", in)
	}
	for _, d := range []string{"cam", "nvr"} {
		h := r.store.History(d)
		if len(h) != 1 || !h[0].OK || !h[0].Started.Equal(t0) || !h[0].Ended.Equal(b.Time) {
			t.Fatalf("%s history = %+v", d, h)
		}
	}
	// Booting: still busy until boot time passes.
	if phase, busy := r.cycler.Busy("p", ""); !busy || phase != actuator.PhaseBooting {
		t.Fatalf("Busy while booting = %s %v", phase, busy)
	}
	r.clk.Advance(time.Minute - time.Millisecond)
	if _, busy := r.cycler.Busy("p", ""); !busy {
		t.Fatal("not busy before boot time ended")
	}
	r.clk.Advance(time.Millisecond)
	if _, busy := r.cycler.Busy("p", ""); busy {
		t.Fatal("busy after boot time ended")
	}
	want := `
# HELP restartinator_power_cycles_total Power cycles started, by device and what triggered them.
# TYPE restartinator_power_cycles_total counter
restartinator_power_cycles_total{device="cam",trigger="manual"} 1
restartinator_power_cycles_total{device="nvr",trigger="manual"} 1
`
	if err := testutil.CollectAndCompare(r.cycler, strings.NewReader(want), "restartinator_power_cycles_total", "restartinator_power_cycle_failures_total"); err != nil {
		t.Fatal(err)
	}
}

// Booted ends the boot grace early; another outlet of a strip is never
// blocked by a busy one.
func TestCyclerBootedAndOtherOutlets(t *testing.T) {
	r := newCyclerRig(t, "HS300", nil)
	if err := r.cycler.Start(req("0", "cam")); err != nil {
		t.Fatal(err)
	}
	r.update(actuator.PhaseCycling)
	if err := r.cycler.Start(req("1", "nvr")); err != nil {
		t.Fatalf("another outlet: %v", err)
	}
	r.update(actuator.PhaseCycling)
	waitTimers(t, r.clk, 4)
	if r.sim.On(0) || r.sim.On(1) || !r.sim.On(2) {
		t.Fatalf("outlets during the off time: %+v", r.sim.Outlets())
	}
	r.clk.Advance(10 * time.Second)
	r.update(actuator.PhaseBooting)
	r.update(actuator.PhaseBooting)
	r.cycler.Booted("p", "0")
	if _, busy := r.cycler.Busy("p", "0"); busy {
		t.Fatal("busy after Booted")
	}
	if _, busy := r.cycler.Busy("p", "1"); !busy {
		t.Fatal("Booted of outlet 0 freed outlet 1")
	}
	// Outlet 0 can cycle again at once.
	if err := r.cycler.Start(req("0", "cam")); err != nil {
		t.Fatalf("after Booted: %v", err)
	}
	r.update(actuator.PhaseCycling)
	if err := r.cycler.Start(req("1", "nvr")); !errors.Is(err, actuator.ErrAlreadyCycling) || !strings.Contains(err.Error(), "booting") {
		t.Fatalf("outlet 1 still booting: %v", err)
	}
}

// MaxConcurrent bounds cycles across outlets: the next waits for a slot.
func TestCyclerMaxConcurrent(t *testing.T) {
	r := newCyclerRig(t, "HS300", func(o *actuator.CyclerOptions) { o.MaxConcurrent = 1 })
	for _, o := range []string{"0", "1"} {
		if err := r.cycler.Start(req(o, "d"+o)); err != nil {
			t.Fatal(err)
		}
	}
	first := r.update(actuator.PhaseCycling)
	waitTimers(t, r.clk, 2)
	select {
	case u := <-r.updates:
		t.Fatalf("a second cycle ran at once: %+v", u)
	default:
	}
	if r.sim.On(0) == r.sim.On(1) {
		t.Fatalf("outlets: %+v", r.sim.Outlets())
	}
	r.clk.Advance(10 * time.Second)
	r.update(actuator.PhaseBooting)
	second := r.update(actuator.PhaseCycling)
	if second.Request.Outlet == first.Request.Outlet {
		t.Fatalf("same outlet twice: %+v", second)
	}
	waitTimers(t, r.clk, 2)
	r.clk.Advance(10 * time.Second)
	r.update(actuator.PhaseBooting)
}

// A plug that cannot be reached before switching off: nothing is switched,
// the outlet is free again, the failure counted.
func TestCyclerFailsBeforeSwitchingOff(t *testing.T) {
	r := newCyclerRig(t, "HS100", nil)
	r.sim.SetFault(kasasim.Refuse)
	u, err := r.cycler.Cycle(req("", "cam"))
	if err == nil || u.Phase != actuator.PhaseFailed || u.Report.SwitchedOff {
		t.Fatalf("Cycle = %+v, %v", u, err)
	}
	r.update(actuator.PhaseCycling)
	r.update(actuator.PhaseFailed)
	if _, busy := r.cycler.Busy("p", ""); busy {
		t.Fatal("busy after a cycle that never switched off")
	}
	if in := r.store.Intents(); len(in) != 0 {
		t.Fatalf("intents = %+v", in)
	}
	r.sim.SetFault(kasasim.NoFault)
	if !r.sim.On(0) {
		t.Fatal("switched off")
	}
	want := `
# HELP restartinator_power_cycle_failures_total Power cycles that failed, by device and the step that failed (reason); power_cycles_total has the trigger.
# TYPE restartinator_power_cycle_failures_total counter
restartinator_power_cycle_failures_total{device="cam",reason="flip_back"} 1
`
	if err := testutil.CollectAndCompare(r.cycler, strings.NewReader(want), "restartinator_power_cycle_failures_total"); err != nil {
		t.Fatal(err)
	}
	if h := r.store.History("cam"); len(h) != 1 || h[0].OK || !strings.Contains(h[0].Detail, "arming") {
		t.Fatalf("history = %+v", h)
	}
	_, err = r.cycler.Cycle(actuator.Request{Plug: "nosuch", Devices: []string{"x"}, Off: time.Second})
	if err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("unknown plug: %v", err)
	}
}

// Dry run decides and tells, and switches nothing. Until the listener has
// heard the outcome the outlet stays reserved.
func TestCyclerDryRun(t *testing.T) {
	var during error
	var r *cyclerRig
	r = newCyclerRig(t, "HS100", func(o *actuator.CyclerOptions) {
		o.DryRun = true
		next := o.Listener
		o.Listener = func(u actuator.Update) {
			during = r.cycler.Start(req("", "cam"))
			next(u)
		}
	})
	u, err := r.cycler.Cycle(req("", "cam"))
	if err != nil || u.Phase != actuator.PhaseDryRun {
		t.Fatalf("Cycle = %+v, %v", u, err)
	}
	r.update(actuator.PhaseDryRun)
	if !errors.Is(during, actuator.ErrAlreadyCycling) {
		t.Fatalf("Start while the listener hears the dry run = %v", during)
	}
	if n := r.sim.Requests(); n != 0 {
		t.Fatalf("%d requests to the plug in dry run", n)
	}
	if _, busy := r.cycler.Busy("p", ""); busy {
		t.Fatal("busy after a dry run")
	}
	if h := r.store.History("cam"); len(h) != 0 {
		t.Fatalf("history = %+v", h)
	}
	r.cycler.SetLimits(2, false)
	if r.cycler.DryRun() {
		t.Fatal("SetLimits did not end dry run")
	}
}

// Shutdown during the off time switches the outlet back on before it
// returns.
func TestCyclerShutdownMidCycleRestoresPower(t *testing.T) {
	r := newCyclerRig(t, "HS300", nil)
	if err := r.cycler.Start(req("2", "cam")); err != nil {
		t.Fatal(err)
	}
	r.update(actuator.PhaseCycling)
	waitTimers(t, r.clk, 2)
	if r.sim.On(2) {
		t.Fatal("not off")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cyclerBound)
	defer cancel()
	if err := r.cycler.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if o := r.sim.Outlets()[2]; !o.On || o.Countdown {
		t.Fatalf("after Shutdown returned: %+v", o)
	}
	if !r.clk.Now().Equal(t0) {
		t.Fatal("the clock moved")
	}
	b := r.update(actuator.PhaseBooting)
	if !b.Report.Interrupted || !b.Report.Verified || !errors.Is(b.Err, context.Canceled) {
		t.Fatalf("booting = %+v", b)
	}
	if in := r.store.Intents(); len(in) != 0 {
		t.Fatalf("intents = %+v", in)
	}
}

// Reconcile switches on every outlet a previous run left off mid-cycle, as
// its state file says, and keeps the intent of a plug it cannot reach.
func TestCyclerReconcile(t *testing.T) {
	r := newCyclerRig(t, "HS300", nil)
	started := t0.Add(-time.Minute)
	for _, in := range []state.Intent{
		{Plug: "p", Outlet: "1", Devices: []string{"cam"}, Trigger: actuator.TriggerAuto, Started: started},
		{Plug: "gone", Outlet: "", Devices: []string{"nvr"}, Trigger: actuator.TriggerAuto, Started: started},
	} {
		if err := r.store.AddIntent(in); err != nil {
			t.Fatal(err)
		}
	}
	r.sim.SetOn(1, false) // the previous run died during the off time
	// The next start reads the state file.
	st := r.openState()
	c := actuator.NewCycler(actuator.CyclerOptions{Plugs: r.plugs, State: st, Clock: r.clk, Logger: r.logger})
	c.Reconcile(context.Background())
	if !r.sim.On(1) {
		t.Fatal("outlet left off")
	}
	in := st.Intents()
	if len(in) != 1 || in[0].Plug != "gone" {
		t.Fatalf("intents after Reconcile = %+v", in)
	}
	h := st.History("cam")
	if len(h) != 1 || !h[0].OK || !h[0].Started.Equal(started) || !strings.Contains(h[0].Detail, "start-up") {
		t.Fatalf("history = %+v", h)
	}
	if !strings.Contains(r.log.String(), "could not be switched on") {
		t.Fatalf("unreachable plug not logged:\n%s", r.log)
	}
	// On disk too.
	if in := r.openState().Intents(); len(in) != 1 {
		t.Fatalf("intents on disk = %+v", in)
	}
}

// lostAnswer switches the outlet off but loses the answer, and the plug
// drops off the network with it.
type lostAnswer struct {
	actuator.Plug
	sim *kasasim.Plug
}

func (p lostAnswer) Switch(ctx context.Context, outlet string, on bool) error {
	err := p.Plug.Switch(ctx, outlet, on)
	if err == nil && !on {
		p.sim.SetFault(kasasim.Unreachable)
		return errors.New("the answer was lost")
	}
	return err
}

// When the outlet may be off with nothing to bring it back (no flip-back,
// the switch-off's answer lost, switching on failing), the intent stays in
// the state file so the next start switches the outlet on.
func TestCyclerKeepsTheIntentWhileUnsure(t *testing.T) {
	r := newCyclerRig(t, "HS100", nil)
	r.sim.RefuseMethod("count_down.add_rule")
	// Our switch-on attempts time out against the unreachable plug.
	short, err := r.client(r.sim, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	r.plugs["p"] = lostAnswer{short, r.sim}
	if err := r.cycler.Start(req("", "cam")); err != nil {
		t.Fatal(err)
	}
	r.update(actuator.PhaseCycling)
	waitTimers(t, r.clk, 1) // the first switch-on failed; the retry waits
	r.clk.Advance(time.Second)
	u := r.update(actuator.PhaseFailed)
	if u.Err == nil || u.Report.SwitchedOn || u.Report.FlipBackArmed || u.Report.OnAttempts != 2 {
		t.Fatalf("update = %+v", u)
	}
	r.sim.SetFault(kasasim.NoFault)
	if r.sim.On(0) {
		t.Fatal("the outlet is on; this test needs it left off")
	}
	in := r.openState().Intents()
	if len(in) != 1 || in[0].Plug != "p" {
		t.Fatalf("intents on disk = %+v: the outlet is off and nothing will switch it on", in)
	}
	c := actuator.NewCycler(actuator.CyclerOptions{Plugs: plugMap{"p": r.plug}, State: r.openState(), Clock: r.clk, Logger: r.logger})
	c.Reconcile(context.Background())
	if !r.sim.On(0) {
		t.Fatal("Reconcile left the outlet off")
	}
}

// A cycle that never got as far as recording its intent leaves the intent
// table alone: an intent a previous run left (its plug unreachable at
// start-up) still waits for the next start.
func TestCyclerFailedCycleKeepsOlderIntent(t *testing.T) {
	r := newCyclerRig(t, "HS100", nil)
	old := state.Intent{Plug: "p", Outlet: "", Devices: []string{"cam"}, Trigger: actuator.TriggerAuto, Started: t0.Add(-time.Hour)}
	if err := r.store.AddIntent(old); err != nil {
		t.Fatal(err)
	}
	r.sim.SetFault(kasasim.Refuse)
	if _, err := r.cycler.Cycle(req("", "cam")); err == nil {
		t.Fatal("cycle through a refusing plug succeeded")
	}
	if in := r.openState().Intents(); len(in) != 1 || !in[0].Started.Equal(old.Started) {
		t.Fatalf("intents = %+v", in)
	}
}

// waitTimers is clk.WaitForTimers(n), bounded.
func waitTimers(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	done := make(chan struct{})
	go func() { clk.WaitForTimers(n); close(done) }()
	select {
	case <-done:
	case <-time.After(cyclerBound):
		t.Fatalf("%d timers pending, want %d, within %s", clk.Pending(), n, cyclerBound)
	}
}
