package collector_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
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
	"github.com/restartinator/restartinator/internal/simdevice"
	"github.com/restartinator/restartinator/internal/state"
	"github.com/restartinator/restartinator/internal/testlog"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// bound is the real-time safety net of every wait: a bound, not a timing
// assertion.
const bound = 20 * time.Second

type syncBuf = testlog.Buffer

// recorder is an event.Notifier that keeps every event and wakes waiters.
type recorder struct {
	// gate, when set, runs first in Notify: a test holds a device's
	// goroutine there, between its probe and its decision.
	gate    atomic.Pointer[func(event.Event)]
	mu      sync.Mutex
	events  []event.Event
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) Notify(e event.Event) {
	if g := r.gate.Load(); g != nil {
		(*g)(e)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recorder) all() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.events...)
}

// of returns the events of one kind for one device ("" for events without a device).
func (r *recorder) of(kind event.Kind, device string) []event.Event {
	var out []event.Event
	for _, e := range r.all() {
		if e.Kind == kind && e.Device == device {
			out = append(out, e)
		}
	}
	return out
}

// wait returns the n-th (1-based) event of kind for device, waiting for it.
func (r *recorder) wait(t *testing.T, kind event.Kind, device string, n int) event.Event {
	t.Helper()
	deadline := time.After(bound)
	for {
		r.mu.Lock()
		ch := r.changed
		seen := 0
		for _, e := range r.events {
			if e.Kind == kind && e.Device == device {
				seen++
				if seen == n {
					r.mu.Unlock()
					return e
				}
			}
		}
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no %s event #%d for %q within %s; events: %s", kind, n, device, bound, describeEvents(r.all()))
		}
	}
}

func describeEvents(es []event.Event) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n  %s %s %s state=%s failures=%d %q", e.Time.Format("15:04:05.000"), e.Device, e.Kind, e.State, e.ConsecutiveFailures, e.Detail)
	}
	return b.String()
}

// switchCall is one Switch call the Cycler made on a plug.
type switchCall struct {
	On  bool
	Err error
	At  time.Time
}

// recPlug records every Switch and can cut the plug off the network right
// after it switches off (as when the device being cycled is the router in
// between).
type recPlug struct {
	actuator.Plug
	h *harness
}

func (p recPlug) Switch(ctx context.Context, outlet string, on bool) error {
	err := p.Plug.Switch(ctx, outlet, on)
	p.h.mu.Lock()
	p.h.switches = append(p.h.switches, switchCall{On: on, Err: err, At: p.h.clk.Now()})
	p.h.mu.Unlock()
	if err == nil && !on && p.h.cutAfterOff.Load() {
		p.h.sim.SetFault(kasasim.Unreachable)
	}
	return err
}

// dev describes one device of a test config.
type dev struct {
	name   string
	extra  string // more YAML fields, e.g. "mode: monitor"
	outlet string
	plug   string // default "p"; "-" for none
}

type harnessOpts struct {
	devices     []dev
	guard       string // YAML of global.guard fields
	dryRun      bool
	plugTimeout time.Duration
	settings    string // YAML of per-device settings
	noWait      bool
	stateEnum   bool // the full device_state enum in the metrics
}

// harness is a supervisor, Cycler and plug registry on a fake clock, with a
// simulated Kasa plug and simulated devices on loopback.
type harness struct {
	t       *testing.T
	clk     *clock.Fake
	sim     *kasasim.Plug
	plugs   *actuator.Plugs
	store   *state.Store
	cycler  *actuator.Cycler
	sup     *collector.Supervisor
	ev      *recorder
	updates chan actuator.Update
	dev     map[string]*simdevice.Device
	log     *syncBuf
	opts    harnessOpts

	// onUpdate runs in the Cycler's listener before the supervisor hears the
	// update.
	onUpdate atomic.Pointer[func(actuator.Update)]

	cutAfterOff atomic.Bool
	overflow    atomic.Bool // more Cycler updates than the test took
	mu          sync.Mutex
	switches    []switchCall
}

// cycle_time is 5.5s so the end of the off time never coincides with a
// probe (every retry_interval while cycling): each fake-clock step has one
// outcome.
const defaultSettings = "check_interval: 10s, retry_interval: 1s, retries: 3, timeout: 1s, cycle_time: 5500ms, boot_time: 60s, max_cycles: 2, cycle_window: 1h"

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	if o.plugTimeout == 0 {
		o.plugTimeout = 2 * time.Second
	}
	if o.settings == "" {
		o.settings = defaultSettings
	}
	h := &harness{t: t, clk: clock.NewFake(t0), ev: newRecorder(), updates: make(chan actuator.Update, 1000),
		dev: map[string]*simdevice.Device{}, log: &syncBuf{}, opts: o}
	logger := slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	t.Cleanup(func() {
		if h.overflow.Load() {
			t.Errorf("more than %d Cycler updates: a cycle loop?", cap(h.updates))
		}
		if t.Failed() {
			t.Logf("log:\n%s", h.log)
		}
	})
	sim, err := kasasim.Start(kasasim.Options{Model: "HS100", Clock: h.clk})
	if err != nil {
		t.Fatal(err)
	}
	h.sim = sim
	t.Cleanup(func() { sim.Close() })
	st, err := state.Open(filepath.Join(t.TempDir(), "state.json"), logger)
	if err != nil {
		t.Fatal(err)
	}
	h.store = st
	ctx, cancel := context.WithCancel(context.Background())
	factory := func(pc config.PlugConfig) (actuator.Plug, error) {
		c, err := kasa.New(kasa.Options{Host: pc.Host, Port: pc.Port, Protocol: pc.Kasa().Protocol, Timeout: o.plugTimeout,
			Clock: h.clk, Logger: logger, Name: pc.Name})
		if err != nil {
			return nil, err
		}
		return recPlug{c, h}, nil
	}
	h.plugs = actuator.NewPlugs(ctx, factory, time.Hour, h.ev, h.clk, logger)
	h.cycler = actuator.NewCycler(actuator.CyclerOptions{
		Plugs: h.plugs, State: st, Clock: h.clk, Logger: logger, MaxConcurrent: 2, DryRun: o.dryRun,
		Safe: actuator.SafeCycleOptions{OnAttempts: 2, RetryDelay: time.Second, RestoreTimeout: bound},
		Listener: func(u actuator.Update) {
			if f := h.onUpdate.Load(); f != nil {
				(*f)(u)
			}
			h.sup.Listen(u)
			select {
			case h.updates <- u:
			default:
				h.overflow.Store(true)
			}
		},
	})
	h.sup = collector.New(ctx, collector.Options{Cycler: h.cycler, Plugs: h.plugs, State: st, Notifier: h.ev, Clock: h.clk, Logger: logger,
		StateEnum: o.stateEnum})
	t.Cleanup(func() {
		// Bounded: a hang here is a bug of its own. The Cycler's shutdown
		// has a bound of its own, within this one, and its error is
		// reported here: a goroutine's report after the test ended panics.
		done := make(chan error, 1)
		go func() {
			h.sup.Stop()
			err := h.shutdownCycler()
			cancel()
			h.plugs.Close()
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("cycler shutdown: %v", err)
			}
		case <-time.After(2 * bound):
			t.Errorf("stopping the supervisor, cycler and plugs hung")
		}
	})
	for _, d := range o.devices {
		sd, err := simdevice.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sd.Close() })
		h.dev[d.name] = sd
	}
	if err := h.sup.Apply(h.config(o)); err != nil {
		t.Fatal(err)
	}
	if !o.noWait {
		h.waitPending(h.base())
	}
	return h
}

// shutdownCycler is the Cycler's Shutdown with time passing on the fake
// clock, as it would for a real shutdown: a test may end mid-cycle, and a
// cycle ended by the shutdown restores power with the safe cycle's retries,
// whose delays are on h.clk. A retry is needed when the shutdown cancels the
// switch-off after its request went out: the simulator may then serve it
// after the switch-on sent on a fresh connection, and read back the outlet
// off (seen under load).
func (h *harness) shutdownCycler() error {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.cycler.Shutdown(ctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if h.clk.Pending() > 0 {
				h.clk.Advance(time.Second)
			}
		}
	}
}

// config renders and loads the YAML of o.
func (h *harness) config(o harnessOpts) *config.Config {
	h.t.Helper()
	y := h.yaml(o)
	cfg, err := config.Load([]byte(y), "test.yml")
	if err != nil {
		h.t.Fatalf("%v\n%s", err, y)
	}
	h.cycler.SetLimits(cfg.Global.MaxConcurrentCycles, cfg.Global.DryRun)
	if err := h.plugs.Apply(cfg.Plugs); err != nil {
		h.t.Fatal(err)
	}
	return cfg
}

func (h *harness) yaml(o harnessOpts) string {
	if o.settings == "" {
		o.settings = defaultSettings
	}
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  dry_run: %v\n  max_concurrent_cycles: 2\n", o.dryRun)
	if o.guard != "" {
		fmt.Fprintf(&b, "  guard: {%s}\n", o.guard)
	}
	fmt.Fprintf(&b, "plugs:\n  - {name: p, host: 127.0.0.1, port: %d, protocol: xor}\n", h.sim.Port())
	b.WriteString("devices:\n")
	for _, d := range o.devices {
		sd := h.dev[d.name]
		// The device's own fields win over the common settings.
		var set []string
		for _, kv := range strings.Split(o.settings, ", ") {
			if k, _, _ := strings.Cut(kv, ":"); !strings.Contains(d.extra, k+":") {
				set = append(set, kv)
			}
		}
		fmt.Fprintf(&b, "  - {name: %s, host: 127.0.0.1, port: %d, %s", d.name, sd.Port(), strings.Join(set, ", "))
		switch d.plug {
		case "":
			b.WriteString(", plug: p")
		case "-":
		default:
			fmt.Fprintf(&b, ", plug: %s", d.plug)
		}
		if d.outlet != "" {
			fmt.Fprintf(&b, ", outlet: %q", d.outlet)
		}
		if d.extra != "" {
			b.WriteString(", " + d.extra)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// base is the number of timers pending while nothing happens: the
// supervisor's one scheduler timer, the plug's poll timer, the guard's timer.
func (h *harness) base() int {
	n := 2
	if strings.Contains(h.opts.guard, "targets") {
		n++
	}
	return n
}

// waitPending waits until exactly n fake-clock timers are pending and no
// probe taken from the supervisor's schedule is still running: every
// goroutine woken by the last Advance has armed its next timer.
func (h *harness) waitPending(n int) {
	h.t.Helper()
	deadline := time.Now().Add(bound)
	for h.clk.Pending() != n || h.sup.ProbesInFlight() != 0 {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d timers pending, want %d, within %s", h.clk.Pending(), n, bound)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// waitUntil waits for cond, polling; the bound is a safety net.
func (h *harness) waitUntil(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: not within %s", what, bound)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

func (h *harness) status(name string) collector.DeviceStatus {
	h.t.Helper()
	for _, s := range h.sup.Snapshot() {
		if s.Name == name {
			return s
		}
	}
	h.t.Fatalf("no device %q in the snapshot", name)
	return collector.DeviceStatus{}
}

// probed reports whether device name has probed at fake time at.
func (h *harness) probedAt(name string, at time.Time) bool {
	s := h.status(name)
	return s.LastProbe != nil && s.LastProbe.Time.Equal(at)
}

// probe advances the clock by d, which must bring device name's next probe,
// and waits for that probe and for every timer to be re-armed (pending).
func (h *harness) probe(name string, d time.Duration, pending int) collector.DeviceStatus {
	h.t.Helper()
	h.clk.Advance(d)
	now := h.clk.Now()
	h.waitUntil(fmt.Sprintf("%s probes at %s", name, now.Format("15:04:05.000")), func() bool { return h.probedAt(name, now) })
	h.waitPending(pending)
	return h.status(name)
}

// first brings every device's first probe, in the order they are due, and
// returns the time of the last.
func (h *harness) first() {
	h.t.Helper()
	type due struct {
		name string
		at   time.Duration
	}
	var ds []due
	for _, d := range h.opts.devices {
		ds = append(ds, due{d.name, h.sup.InitialDelay(d.name)})
	}
	for i := range ds {
		for j := i + 1; j < len(ds); j++ {
			if ds[j].at < ds[i].at {
				ds[i], ds[j] = ds[j], ds[i]
			}
		}
	}
	for _, d := range ds {
		h.probe(d.name, t0.Add(d.at).Sub(h.clk.Now()), h.base())
	}
}

func (h *harness) switchCalls() []switchCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]switchCall(nil), h.switches...)
}

// update waits for the next Cycler update.
func (h *harness) update() actuator.Update {
	h.t.Helper()
	select {
	case u := <-h.updates:
		return u
	case <-time.After(bound):
		h.t.Fatalf("no Cycler update within %s", bound)
	}
	return actuator.Update{}
}

func (h *harness) setUp(name string, up bool) {
	h.t.Helper()
	if err := h.dev[name].SetUp(up); err != nil {
		h.t.Fatal(err)
	}
}

// goOffline takes device name, up and on its check_interval rhythm, down:
// two failed probes, then the third, and returns when the offline event is
// out. In auto mode a cycle is starting then.
func (h *harness) goOffline(name string) event.Event {
	h.t.Helper()
	h.setUp(name, false)
	n := len(h.ev.of(event.Offline, name))
	h.probe(name, 10*time.Second, h.base())
	h.probe(name, time.Second, h.base())
	h.clk.Advance(time.Second)
	return h.ev.wait(h.t, event.Offline, name, n+1)
}

// cycleThrough follows a cycle already started: it checks the outlet is off
// with the flip-back armed during the off time, advances through the 5.5s
// off time, and returns the booting update once the devices have probed
// after it. revive brings the named devices back when power returns.
func (h *harness) cycleThrough(revive ...string) (cycling, booting actuator.Update) {
	h.t.Helper()
	cycling = h.update()
	if cycling.Phase != actuator.PhaseCycling {
		h.t.Fatalf("update = %+v, want cycling", cycling)
	}
	// Probe timers, the poll timer, the plug's flip-back and our off wait.
	h.waitPending(h.base() + 2)
	if o := h.sim.Outlets()[0]; o.On || !o.Countdown {
		h.t.Fatalf("during the off time the outlet is %+v, want off with the flip-back armed", o)
	}
	for range 5 {
		h.clk.Advance(time.Second)
		h.waitPending(h.base() + 2)
	}
	for _, name := range revive {
		h.setUp(name, true)
	}
	h.clk.Advance(500 * time.Millisecond)
	booting = h.update()
	if booting.Phase != actuator.PhaseBooting {
		h.t.Fatalf("update = %+v, want booting", booting)
	}
	// Every device of the outlet probes at once when power is back.
	for _, name := range booting.Request.Devices {
		h.waitUntil(name+" probes when power is back", func() bool { return h.probedAt(name, booting.Time) })
	}
	h.waitPending(h.base())
	return cycling, booting
}

// tick advances the clock by step and waits until every timer that fired is
// armed again, or a cycle started (its timers change the count). Tests never
// tick during an off wait: cycleThrough steps through that.
func (h *harness) tick(step time.Duration) {
	h.t.Helper()
	cycles := len(h.updates)
	h.clk.Advance(step)
	h.waitUntil("timers re-armed after a tick", func() bool {
		phase, _ := h.cycler.Busy("p", "")
		// A cycle decided in this tick holds the outlet "cycling" until
		// its listener has run (a dry run: then it is released).
		return h.clk.Pending() == h.base() && h.sup.ProbesInFlight() == 0 && phase != actuator.PhaseCycling || len(h.updates) > cycles
	})
}

// tickUntil ticks by step until cond holds, at most max times.
func (h *harness) tickUntil(what string, step time.Duration, max int, cond func() bool) {
	h.t.Helper()
	for range max {
		if cond() {
			return
		}
		h.tick(step)
	}
	if !cond() {
		h.t.Fatalf("%s: not within %d ticks of %s; events: %s", what, max, step, describeEvents(h.ev.all()))
	}
}

// waitGoroutine waits until some goroutine's stack holds every one of
// parts, e.g. "[chan receive" and "(*Supervisor).Apply(".
func waitGoroutine(t *testing.T, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(bound)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(g, p)
			}
			if all {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine with %q within %s", parts, bound)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// outletBusy reports whether p's outlet is cycling or booting. The Cycler
// reserves the outlet before a device's decision returns, so after a tick
// this is exact, unlike the updates that follow from the Cycler's goroutine.
func (h *harness) outletBusy() bool {
	_, busy := h.cycler.Busy("p", "")
	return busy
}
