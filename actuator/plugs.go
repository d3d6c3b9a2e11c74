package actuator

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
)

// PlugFactory builds a driver for a configured plug.
type PlugFactory func(cfg config.PlugConfig) (Plug, error)

// PlugPoll is the last reading of a plug.
type PlugPoll struct {
	Status Status
	Err    error
	Time   time.Time
}

type plugEntry struct {
	cfg  config.PlugConfig
	plug Plug
	stop context.CancelFunc
	done chan struct{}

	mu   sync.Mutex
	last PlugPoll
	up   bool
}

// Plugs holds a driver per configured plug, rebuilt only when its config
// changes, and polls each for the status page and the plug metrics.
type Plugs struct {
	factory  PlugFactory
	notifier event.Notifier
	clock    clock.Clock
	logger   *slog.Logger
	interval time.Duration

	mu      sync.RWMutex
	entries map[string]*plugEntry
	ctx     context.Context

	upDesc, relayDesc, wattsDesc, voltsDesc, ampsDesc, energyDesc, infoDesc *prometheus.Desc
	inputAmpsDesc, inputWattsDesc                                           *prometheus.Desc
}

// defaultPlugPoll is the poll interval when NewPlugs is given none.
const defaultPlugPoll = 30 * time.Second

// NewPlugs returns an empty registry; Apply fills it. Plugs are polled every
// poll (30s if poll is not positive).
func NewPlugs(ctx context.Context, factory PlugFactory, poll time.Duration, notifier event.Notifier, clk clock.Clock, logger *slog.Logger) *Plugs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("restartinator", "plug", name), help, labels, nil)
	}
	po := []string{"plug", "outlet"}
	if poll <= 0 {
		// Zero would poll every plug in a tight loop.
		poll = defaultPlugPoll
	}
	return &Plugs{
		factory: factory, notifier: notifier, clock: clk, logger: logger, interval: poll,
		entries: map[string]*plugEntry{}, ctx: ctx,
		upDesc:         d("up", "Whether the plug answered its last poll.", "plug"),
		relayDesc:      d("relay_on", "Whether the outlet's relay was on at the last poll.", po...),
		wattsDesc:      d("power_watts", "Power drawn through the outlet at the last poll.", po...),
		voltsDesc:      d("voltage_volts", "Mains voltage at the last poll.", po...),
		ampsDesc:       d("current_amperes", "Current through the outlet at the last poll.", po...),
		energyDesc:     d("energy_joules_total", "Energy through the outlet as the plug's meter counts it, at the last poll.", po...),
		inputAmpsDesc:  d("input_current_amperes", "Current a PDU measures on a phase or bank (or the whole device) at the last poll. PDUs metered this way do not meter single outlets: this is not one device's draw.", "plug", "input"),
		inputWattsDesc: d("input_power_watts", "Power a PDU measures for the whole device (or a phase or bank) at the last poll. Not per outlet: this is not one device's draw.", "plug", "input"),
		infoDesc:       d("info", "The plug's model and firmware, from the last poll that answered.", "plug", "model", "hw_version", "sw_version", "protocol"),
	}
}

// Apply makes the registry match the config: new plugs are added, changed
// ones rebuilt, removed ones closed.
func (p *Plugs) Apply(cfgs []config.PlugConfig) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := map[string]*plugEntry{}
	for _, c := range cfgs {
		if e, ok := p.entries[c.Name]; ok && reflect.DeepEqual(e.cfg, c) {
			next[c.Name] = e
			continue
		}
		drv, err := p.factory(c)
		if err != nil {
			// The running plugs stay; drivers built for this config go.
			for name, e := range next {
				if p.entries[name] != e {
					e.plug.Close()
				}
			}
			return fmt.Errorf("plug %q: %w", c.Name, err)
		}
		next[c.Name] = &plugEntry{cfg: c, plug: drv, up: true}
	}
	for name, e := range p.entries {
		if next[name] != e {
			e.close()
		}
	}
	for _, e := range next {
		if e.stop == nil {
			p.startPolling(e)
		}
	}
	p.entries = next
	return nil
}

func (e *plugEntry) close() {
	if e.stop != nil {
		e.stop()
		<-e.done
	}
	e.plug.Close()
}

// Plug returns the driver of a configured plug.
func (p *Plugs) Plug(name string) (Plug, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	e, ok := p.entries[name]
	if !ok {
		return nil, fmt.Errorf("plug %q is not configured", name)
	}
	return e.plug, nil
}

// Last returns the last poll of a plug.
func (p *Plugs) Last(name string) (PlugPoll, bool) {
	p.mu.RLock()
	e, ok := p.entries[name]
	p.mu.RUnlock()
	if !ok {
		return PlugPoll{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last, !e.last.Time.IsZero()
}

// Config returns a plug's configuration.
func (p *Plugs) Config(name string) (config.PlugConfig, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	e, ok := p.entries[name]
	if !ok {
		return config.PlugConfig{}, false
	}
	return e.cfg, true
}

func (p *Plugs) startPolling(e *plugEntry) {
	ctx, cancel := context.WithCancel(p.ctx)
	e.stop, e.done = cancel, make(chan struct{})
	go func() {
		defer close(e.done)
		for {
			p.poll(ctx, e)
			t := p.clock.NewTimer(p.interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
		}
	}()
}

// poll reads one plug; a plug that stops answering is logged and notified
// once, and again once it answers.
func (p *Plugs) poll(ctx context.Context, e *plugEntry) {
	timeout := e.cfg.Timeout.D()
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	st, err := e.plug.Status(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	now := p.clock.Now()
	e.mu.Lock()
	wasUp := e.up
	e.up = err == nil
	if err == nil {
		e.last = PlugPoll{Status: st, Time: now}
	} else {
		e.last.Err, e.last.Time = err, now
	}
	e.mu.Unlock()
	switch {
	case err != nil && wasUp:
		p.logger.Error("plug does not answer", "plug", e.cfg.Name, "err", err)
		p.notifier.Notify(event.Event{Kind: event.PlugUnreachable, Time: now, Plug: e.cfg.Name, Detail: err.Error(),
			Next: "cycles of its devices will fail until it answers; power stays as it is"})
	case err == nil && !wasUp:
		p.logger.Info("plug answers again", "plug", e.cfg.Name)
	}
}

// Describe and Collect expose the last poll of every plug.
func (p *Plugs) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{p.upDesc, p.relayDesc, p.wattsDesc, p.voltsDesc, p.ampsDesc, p.energyDesc, p.infoDesc, p.inputAmpsDesc, p.inputWattsDesc} {
		ch <- d
	}
}

func (p *Plugs) Collect(ch chan<- prometheus.Metric) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for name, e := range p.entries {
		e.mu.Lock()
		last, up := e.last, e.up && !e.last.Time.IsZero()
		e.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(p.upDesc, prometheus.GaugeValue, b2f(up), name)
		if last.Status.Model == "" {
			continue
		}
		st := last.Status
		ch <- prometheus.MustNewConstMetric(p.infoDesc, prometheus.GaugeValue, 1, name, st.Model, st.HWVersion, st.SWVersion, st.Protocol)
		for _, in := range st.Inputs {
			if in.Amperes != nil {
				ch <- prometheus.MustNewConstMetric(p.inputAmpsDesc, prometheus.GaugeValue, *in.Amperes, name, in.Name)
			}
			if in.Watts != nil {
				ch <- prometheus.MustNewConstMetric(p.inputWattsDesc, prometheus.GaugeValue, *in.Watts, name, in.Name)
			}
		}
		for _, o := range st.Outlets {
			label := OutletLabel(st, o)
			ch <- prometheus.MustNewConstMetric(p.relayDesc, prometheus.GaugeValue, b2f(o.On), name, label)
			if en := o.Energy; en != nil {
				ch <- prometheus.MustNewConstMetric(p.wattsDesc, prometheus.GaugeValue, en.Watts, name, label)
				ch <- prometheus.MustNewConstMetric(p.voltsDesc, prometheus.GaugeValue, en.Volts, name, label)
				ch <- prometheus.MustNewConstMetric(p.ampsDesc, prometheus.GaugeValue, en.Amperes, name, label)
				ch <- prometheus.MustNewConstMetric(p.energyDesc, prometheus.CounterValue, en.WattHours*3600, name, label)
			}
		}
	}
}

// OutletLabel is the outlet label of plug metrics: "" for a single plug, the
// outlet's alias on a strip. Selecting strip outlets by alias in the config
// makes these join restartinator_device_info.
func OutletLabel(st Status, o Outlet) string {
	if !st.Strip {
		return ""
	}
	return o.Alias
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Close stops polling and closes every driver.
func (p *Plugs) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.entries {
		e.close()
	}
	p.entries = map[string]*plugEntry{}
}
