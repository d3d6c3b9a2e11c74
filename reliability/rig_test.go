package reliability

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/internal/state"
)

// rig is the supervisor, the Cycler and the plug registry in-process on a
// fake clock, with one simulated Kasa plug (on the same clock) and one
// simulated device per device. Nothing here sleeps: the test advances the
// clock and waits until every goroutine it woke is parked on a timer again.
type rig struct {
	t      *testing.T
	clk    *clock.Fake
	names  []string
	sims   map[string]*kasasim.Plug // by device
	farm   *deviceFarm
	plugs  *actuator.Plugs
	store  *state.Store
	cycler *actuator.Cycler
	sup    *collector.Supervisor
	log    *logBuffer
	logger *slog.Logger

	mu      sync.Mutex
	events  []event.Event
	updates []actuator.Update
	// active is the number of cycles between their cycling and booting
	// updates: each holds two timers (its off wait, the plug's flip-back).
	active atomic.Int64
	// inCycle: devices between their cycling and their last update.
	inCycle       map[string]bool
	maxConcurrent int
	// onUpdate runs in the Cycler's listener before the supervisor hears.
	onUpdate func(actuator.Update)
	// forward also gets every event (a mailer).
	forward event.Notifier
	// cutAfterOff makes a plug unreachable right after it switches off.
	cutAfterOff atomic.Bool
	guard       bool
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 8<<20 {
		l.b.Reset()
		l.b.WriteString("[earlier log dropped]\n")
	}
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	if len(s) > 20000 {
		s = "...\n" + s[len(s)-20000:]
	}
	return s
}

// Notify records, then forwards: the rig is the supervisor's notifier.
func (r *rig) Notify(e event.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	fwd := r.forward
	r.mu.Unlock()
	if fwd != nil {
		fwd.Notify(e)
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type rigOptions struct {
	devices  int
	settings string // YAML flow fields for every device
	global   string // YAML flow fields of global
	mode     string
	safe     actuator.SafeCycleOptions
}

// recPlug cuts its simulator off the network right after a switch-off when
// asked to (the device being cycled was the router in between).
type recPlug struct {
	actuator.Plug
	r   *rig
	sim *kasasim.Plug
}

func (p recPlug) Switch(ctx context.Context, outlet string, on bool) error {
	err := p.Plug.Switch(ctx, outlet, on)
	if err == nil && !on && p.r.cutAfterOff.Load() {
		p.sim.SetFault(kasasim.Unreachable)
	}
	return err
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	if o.mode == "" {
		o.mode = "auto"
	}
	r := &rig{t: t, clk: clock.NewFake(t0), sims: map[string]*kasasim.Plug{}, farm: newDeviceFarm(t), log: &logBuffer{}}
	logger := slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r.logger = logger
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", r.log)
		}
	})
	var y strings.Builder
	fmt.Fprintf(&y, "global: {%s}\nplugs:\n", o.global)
	simByPlug := map[string]*kasasim.Plug{}
	for i := range o.devices {
		name := fmt.Sprintf("d%03d", i)
		r.names = append(r.names, name)
		sim, err := kasasim.Start(kasasim.Options{Model: "HS100", Clock: r.clk})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sim.Close() })
		r.sims[name] = sim
		simByPlug["p"+name] = sim
		fmt.Fprintf(&y, "  - {name: p%s, host: 127.0.0.1, port: %d, protocol: xor, timeout: 300ms}\n", name, sim.Port())
		r.farm.setUp(name, true)
	}
	y.WriteString("devices:\n")
	for _, name := range r.names {
		fmt.Fprintf(&y, "  - {name: %s, probe: {type: http, url: '%s/%s'}, plug: p%s, mode: %s, %s}\n", name, r.farm.url, name, name, o.mode, o.settings)
	}
	cfg, err := config.Load([]byte(y.String()), "rig.yml")
	if err != nil {
		t.Fatalf("%v\n%s", err, y.String())
	}
	r.guard = len(cfg.Global.Guard.Targets) > 0
	r.maxConcurrent = cfg.Global.MaxConcurrentCycles
	r.inCycle = map[string]bool{}
	st, err := state.Open(filepath.Join(t.TempDir(), "state.json"), logger)
	if err != nil {
		t.Fatal(err)
	}
	r.store = st
	ctx, cancel := context.WithCancel(context.Background())
	factory := func(pc config.PlugConfig) (actuator.Plug, error) {
		c, err := kasa.New(kasa.Options{Host: pc.Host, Port: pc.Port, Protocol: pc.Kasa().Protocol, Timeout: pc.Timeout.D(),
			Clock: r.clk, Logger: logger, Name: pc.Name})
		if err != nil {
			return nil, err
		}
		return recPlug{c, r, simByPlug[pc.Name]}, nil
	}
	// Plugs are polled hourly: the poll is not what these tests are about.
	r.plugs = actuator.NewPlugs(ctx, factory, time.Hour, r, r.clk, logger)
	if err := r.plugs.Apply(cfg.Plugs); err != nil {
		t.Fatal(err)
	}
	if o.safe.RestoreTimeout == 0 {
		o.safe.RestoreTimeout = bound
	}
	r.cycler = actuator.NewCycler(actuator.CyclerOptions{
		Plugs: r.plugs, State: st, Clock: r.clk, Logger: logger,
		MaxConcurrent: cfg.Global.MaxConcurrentCycles, DryRun: cfg.Global.DryRun, Safe: o.safe,
		Listener: func(u actuator.Update) {
			switch u.Phase {
			case actuator.PhaseCycling:
				r.active.Add(1)
			case actuator.PhaseBooting:
				r.active.Add(-1)
			}
			r.mu.Lock()
			for _, d := range u.Request.Devices {
				r.inCycle[d] = u.Phase == actuator.PhaseCycling
			}
			r.updates = append(r.updates, u)
			f := r.onUpdate
			r.mu.Unlock()
			if f != nil {
				f(u)
			}
			r.sup.Listen(u)
		},
	})
	r.sup = collector.New(ctx, collector.Options{Cycler: r.cycler, Plugs: r.plugs, State: st, Notifier: r, Clock: r.clk, Logger: logger})
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.sup.Stop()
			sctx, scancel := context.WithTimeout(context.Background(), bound)
			defer scancel()
			if err := r.cycler.Shutdown(sctx); err != nil {
				t.Errorf("cycler shutdown: %v", err)
			}
			cancel()
			r.plugs.Close()
		}()
		select {
		case <-done:
		case <-time.After(bound):
			t.Errorf("stopping the supervisor, cycler and plugs hung")
		}
	})
	if err := r.sup.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	r.settle()
	return r
}

// base is the number of timers pending while nothing happens: the
// supervisor's one scheduler timer, a poll timer per plug, the guard's.
func (r *rig) base() int {
	n := len(r.names) + 1
	if r.guard {
		n++
	}
	return n
}

// settle waits until every goroutine is parked on a fake-clock timer again:
// the base timers, one for each cycle under way (its off wait, or the wait
// before retrying to switch on; none while it talks to the plug) and one
// for each flip-back armed in a plug.
//
// A cycle the supervisor has asked for but whose goroutine has not started
// yet (no cycling update) is not settled either, unless it waits for a free
// slot of max_concurrent_cycles: otherwise the next Advance would pass
// under it and it would start late by the fake clock.
func (r *rig) settle() {
	r.t.Helper()
	r.waitPending(func() int {
		if r.starting() {
			return -1
		}
		return r.base() + int(r.active.Load()) + r.flipBacksArmed()
	})
}

// starting reports whether a reserved outlet's cycle has yet to start
// while a slot is free.
func (r *rig) starting() bool {
	if int(r.active.Load()) >= r.maxConcurrent {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, name := range r.names {
		if phase, busy := r.cycler.Busy("p"+name, ""); busy && phase == actuator.PhaseCycling && !r.inCycle[name] {
			return true
		}
	}
	return false
}

func (r *rig) flipBacksArmed() int {
	n := 0
	for _, s := range r.sims {
		if s.Outlets()[0].Countdown {
			n++
		}
	}
	return n
}

func (r *rig) waitPending(want func() int) {
	r.t.Helper()
	deadline := time.Now().Add(bound)
	for {
		// The base timers come first and cost nothing to count; want()
		// asks every plug and outlet.
		// No probe the scheduler handed out is still running either.
		if p := r.clk.Pending(); p >= r.base() && r.sup.ProbesInFlight() == 0 && p == want() {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%d fake-clock timers pending, want %d, within %s", r.clk.Pending(), want(), bound)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// tick advances the fake clock by step and settles.
func (r *rig) tick(step time.Duration) {
	r.t.Helper()
	r.clk.Advance(step)
	r.settle()
}

func (r *rig) snapshot() map[string]collector.DeviceStatus {
	out := map[string]collector.DeviceStatus{}
	for _, s := range r.sup.Snapshot() {
		out[s.Name] = s
	}
	return out
}

// updatesOf returns the Cycler updates of one phase so far.
func (r *rig) updatesOf(phase string) []actuator.Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []actuator.Update
	for _, u := range r.updates {
		if u.Phase == phase {
			out = append(out, u)
		}
	}
	return out
}

// eventsOf returns the events of a kind for a device ("" for any).
func (r *rig) eventsOf(kind event.Kind, device string) []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event.Event
	for _, e := range r.events {
		if e.Kind == kind && (device == "" || e.Device == device) {
			out = append(out, e)
		}
	}
	return out
}

func (r *rig) allEvents() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.events...)
}

// relaysOff counts outlets that are off now.
func (r *rig) relaysOff() int {
	n := 0
	for _, s := range r.sims {
		if !s.On(0) {
			n++
		}
	}
	return n
}

func (r *rig) setUp(name string, up bool) { r.farm.setUp(name, up) }

// deviceFarm is every simulated device behind one loopback HTTP server: a
// device answers 200 at /NAME while up and 503 while hung. (One listener
// that stays open: closing and reopening a listener per device, as
// simdevice does, races with the probes' own ephemeral ports when hundreds
// of devices go down and up.)
type deviceFarm struct {
	url string
	mu  sync.Mutex
	up  map[string]bool
}

func newDeviceFarm(t *testing.T) *deviceFarm {
	f := &deviceFarm{up: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		up := f.up[strings.TrimPrefix(r.URL.Path, "/")]
		f.mu.Unlock()
		if !up {
			http.Error(w, "hung", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *deviceFarm) setUp(name string, up bool) {
	f.mu.Lock()
	f.up[name] = up
	f.mu.Unlock()
}
