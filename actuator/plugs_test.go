package actuator_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
)

// eventLog is a Notifier that keeps events.
type eventLog struct {
	mu     sync.Mutex
	events []event.Event
}

func (l *eventLog) Notify(e event.Event) { l.mu.Lock(); l.events = append(l.events, e); l.mu.Unlock() }
func (l *eventLog) all() []event.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]event.Event(nil), l.events...)
}

// trackedPlug counts Close calls of the drivers a factory built.
type trackedPlug struct {
	actuator.Plug
	closed *int
	mu     *sync.Mutex
}

func (p trackedPlug) Close() error {
	p.mu.Lock()
	*p.closed++
	p.mu.Unlock()
	return p.Plug.Close()
}

type plugsRig struct {
	t      *testing.T
	clk    *clock.Fake
	plugs  *actuator.Plugs
	events *eventLog
	log    *syncBuf

	mu     sync.Mutex
	built  map[string]int // drivers built per plug
	closed int
	fail   map[string]bool
}

func newPlugsRig(t *testing.T, poll time.Duration) *plugsRig {
	t.Helper()
	r := &plugsRig{t: t, clk: clock.NewFake(t0), events: &eventLog{}, log: &syncBuf{}, built: map[string]int{}, fail: map[string]bool{}}
	logger := slog.New(slog.NewTextHandler(r.log, nil))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", r.log)
		}
	})
	factory := func(pc config.PlugConfig) (actuator.Plug, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fail[pc.Name] {
			return nil, errors.New("no driver for this plug")
		}
		c, err := kasa.New(kasa.Options{Host: pc.Host, Port: pc.Port, Protocol: pc.Kasa().Protocol, Timeout: 2 * time.Second, Clock: r.clk, Logger: logger, Name: pc.Name})
		if err != nil {
			return nil, err
		}
		r.built[pc.Name]++
		return trackedPlug{c, &r.closed, &r.mu}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.plugs = actuator.NewPlugs(ctx, factory, poll, r.events, r.clk, logger)
	t.Cleanup(func() { r.plugs.Close(); cancel() })
	return r
}

func startSim(t *testing.T, model string, clk clock.Clock) *kasasim.Plug {
	t.Helper()
	sim, err := kasasim.Start(kasasim.Options{Model: model, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

func plugCfg(name string, sim *kasasim.Plug) config.PlugConfig {
	return config.PlugConfig{Name: name, Type: config.PlugKasa, Host: sim.Host(), Port: sim.Port(), Settings: &config.KasaSettings{Protocol: sim.Protocol()}}
}

func (r *plugsRig) counts() (map[string]int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := map[string]int{}
	for k, v := range r.built {
		b[k] = v
	}
	return b, r.closed
}

// polled waits until plug name has a poll at the fake clock's now.
func (r *plugsRig) polled(name string) actuator.PlugPoll {
	r.t.Helper()
	var last actuator.PlugPoll
	now := r.clk.Now()
	waitFor(r.t, "a poll of "+name+" at "+now.Format(time.TimeOnly), func() bool {
		var ok bool
		last, ok = r.plugs.Last(name)
		return ok && last.Time.Equal(now)
	})
	return last
}

// The registry polls each plug on the fake clock, keeps the last reading,
// tells once when a plug stops answering, and exposes plug metrics.
func TestPlugsPollAndMetrics(t *testing.T) {
	r := newPlugsRig(t, time.Minute)
	meter := startSim(t, "HS110v4", r.clk)
	strip := startSim(t, "HS300", r.clk)
	if _, ok := r.plugs.Last("meter"); ok {
		t.Fatal("a reading before Apply")
	}
	if err := r.plugs.Apply([]config.PlugConfig{plugCfg("meter", meter), plugCfg("strip", strip)}); err != nil {
		t.Fatal(err)
	}
	m := r.polled("meter")
	if m.Err != nil || m.Status.Model == "" || len(m.Status.Outlets) != 1 || m.Status.Outlets[0].Energy == nil || !m.Status.Outlets[0].On {
		t.Fatalf("meter poll = %+v", m)
	}
	s := r.polled("strip")
	if !s.Status.Strip || len(s.Status.Outlets) != 6 {
		t.Fatalf("strip poll = %+v", s)
	}
	if p, err := r.plugs.Plug("strip"); err != nil || p == nil {
		t.Fatalf("Plug(strip) = %v, %v", p, err)
	}
	if _, err := r.plugs.Plug("nosuch"); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("Plug(nosuch) = %v", err)
	}
	if cfg, ok := r.plugs.Config("meter"); !ok || cfg.Port != meter.Port() {
		t.Fatalf("Config = %+v %v", cfg, ok)
	}

	// The strip's second outlet goes off; the next poll sees it.
	strip.SetOn(1, false)
	waitTimers(t, r.clk, 2)
	r.clk.Advance(time.Minute)
	s = r.polled("strip")
	r.polled("meter")
	waitTimers(t, r.clk, 2)
	alias := s.Status.Outlets[1].Alias
	if s.Status.Outlets[1].On {
		t.Fatalf("strip outlet 1 after the poll: %+v", s.Status.Outlets[1])
	}
	n, err := testutil.GatherAndCount(registry(r.plugs), "restartinator_plug_relay_on")
	if err != nil || n != 7 {
		t.Fatalf("relay_on series = %d, %v", n, err)
	}
	want := `
# HELP restartinator_plug_up Whether the plug answered its last poll.
# TYPE restartinator_plug_up gauge
restartinator_plug_up{plug="meter"} 1
restartinator_plug_up{plug="strip"} 1
`
	if err := testutil.CollectAndCompare(r.plugs, strings.NewReader(want), "restartinator_plug_up"); err != nil {
		t.Fatal(err)
	}
	text := gatherText(t, r.plugs)
	for _, line := range []string{
		fmt.Sprintf(`restartinator_plug_relay_on{outlet=%q,plug="strip"} 0`, alias),
		`restartinator_plug_relay_on{outlet="",plug="meter"} 1`,
		`restartinator_plug_power_watts{outlet="",plug="meter"}`,
		`restartinator_plug_info{hw_version=`,
	} {
		if !strings.Contains(text, line) {
			t.Fatalf("no %s in:\n%s", line, text)
		}
	}

	// The meter drops off the network: told once, plug_up 0, the last good
	// status kept; then it answers again.
	meter.SetFault(kasasim.Refuse)
	for range 3 {
		r.clk.Advance(time.Minute)
		p := r.polled("meter")
		if p.Err == nil || p.Status.Model == "" {
			t.Fatalf("poll of an unreachable plug = %+v", p)
		}
		r.polled("strip")
		waitTimers(t, r.clk, 2)
	}
	var unreachable []event.Event
	for _, e := range r.events.all() {
		if e.Kind == event.PlugUnreachable {
			unreachable = append(unreachable, e)
		}
	}
	if len(unreachable) != 1 || unreachable[0].Plug != "meter" || unreachable[0].Detail == "" {
		t.Fatalf("events: %+v", r.events.all())
	}
	if !strings.Contains(gatherText(t, r.plugs), `restartinator_plug_up{plug="meter"} 0`) {
		t.Fatal("plug_up not 0 for an unreachable plug")
	}
	meter.SetFault(kasasim.NoFault)
	r.clk.Advance(time.Minute)
	if p := r.polled("meter"); p.Err != nil {
		t.Fatalf("poll after the plug came back: %+v", p)
	}
	waitFor(t, "recovery logged", func() bool { return strings.Contains(r.log.String(), "plug answers again") })
}

// Apply keeps unchanged plugs (same driver, same poll rhythm), rebuilds
// changed ones and closes removed ones.
func TestPlugsApply(t *testing.T) {
	r := newPlugsRig(t, time.Minute)
	a, b := startSim(t, "HS100", r.clk), startSim(t, "HS100", r.clk)
	if err := r.plugs.Apply([]config.PlugConfig{plugCfg("a", a), plugCfg("b", b)}); err != nil {
		t.Fatal(err)
	}
	r.polled("a")
	r.polled("b")
	waitTimers(t, r.clk, 2)
	pa, _ := r.plugs.Plug("a")

	changedB := plugCfg("b", b)
	changedB.Timeout = config.Duration(3 * time.Second)
	if err := r.plugs.Apply([]config.PlugConfig{plugCfg("a", a), changedB}); err != nil {
		t.Fatal(err)
	}
	if p, _ := r.plugs.Plug("a"); p != pa {
		t.Fatal("an unchanged plug got a new driver")
	}
	built, closed := r.counts()
	if built["a"] != 1 || built["b"] != 2 || closed != 1 {
		t.Fatalf("built %v, closed %d", built, closed)
	}
	r.polled("b") // the rebuilt one polls at once
	waitTimers(t, r.clk, 2)

	if err := r.plugs.Apply([]config.PlugConfig{plugCfg("a", a)}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.plugs.Plug("b"); err == nil {
		t.Fatal("a removed plug is still there")
	}
	if _, closed := r.counts(); closed != 2 {
		t.Fatalf("closed %d", closed)
	}
	if n := r.clk.Pending(); n != 1 {
		t.Fatalf("%d poll timers for one plug", n)
	}
	if text := gatherText(t, r.plugs); strings.Contains(text, `plug="b"`) {
		t.Fatalf("metrics of a removed plug:\n%s", text)
	}

	// A config whose driver cannot be built is refused as a whole: what ran
	// keeps running, and drivers built for it are closed.
	r.mu.Lock()
	r.fail["d"] = true
	r.mu.Unlock()
	c := startSim(t, "HS100", r.clk)
	err := r.plugs.Apply([]config.PlugConfig{plugCfg("a", a), plugCfg("c", c), plugCfg("d", c)})
	if err == nil || !strings.Contains(err.Error(), `"d"`) {
		t.Fatalf("Apply = %v", err)
	}
	if p, _ := r.plugs.Plug("a"); p != pa {
		t.Fatal("a refused config replaced a plug")
	}
	if _, err := r.plugs.Plug("c"); err == nil {
		t.Fatal("a refused config added a plug")
	}
	built, closed = r.counts()
	if built["c"] != 1 || closed != 3 {
		t.Fatalf("built %v, closed %d: the driver built for the refused config leaks", built, closed)
	}
}

// A zero poll interval must not poll in a tight loop.
func TestPlugsZeroPollIntervalDoesNotSpin(t *testing.T) {
	r := newPlugsRig(t, 0)
	sim := startSim(t, "HS100", r.clk)
	if err := r.plugs.Apply([]config.PlugConfig{plugCfg("a", sim)}); err != nil {
		t.Fatal(err)
	}
	r.polled("a")
	// It waits for its next poll on the clock (the default 30s).
	waitFor(t, "the poll timer", func() bool { return r.clk.Pending() == 1 })
	if n := sim.Requests(); n > 2 {
		t.Fatalf("%d requests without the clock moving", n)
	}
	r.clk.Advance(29 * time.Second)
	if p, _ := r.plugs.Last("a"); !p.Time.Equal(t0) {
		t.Fatalf("polled again at %s", p.Time)
	}
	r.clk.Advance(time.Second)
	r.polled("a")
}

func registry(cs ...prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(cs...)
	return reg
}

func gatherText(t *testing.T, cs ...prometheus.Collector) string {
	t.Helper()
	mfs, err := registry(cs...).Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}
