package actuator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/state"
)

// Triggers: what asked for a cycle.
const (
	TriggerAuto     = "auto"
	TriggerWebhook  = "webhook"
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
	TriggerFile     = "file"
)

// ErrAlreadyCycling answers a request for an outlet that is cycling or whose
// devices are still booting: it is not queued.
var ErrAlreadyCycling = errors.New("already cycling")

// Request asks for one outlet to be power-cycled.
type Request struct {
	Plug    string
	Outlet  string
	Devices []string // every device powered by this outlet
	Trigger string
	Off     time.Duration // how long the outlet stays off
	Boot    time.Duration // how long the devices may take to come back
}

func (r Request) key() string { return state.IntentKey(r.Plug, r.Outlet) }

// Phases a listener hears about.
const (
	PhaseCycling = "cycling" // about to switch off
	PhaseBooting = "booting" // power is back (or will be, by the plug's own timer)
	PhaseFailed  = "failed"  // the outlet was never switched off
	PhaseDryRun  = "dry_run" // dry run: decided, logged, nothing switched
)

// Update tells a listener where a cycle is.
type Update struct {
	Request Request
	Phase   string
	Report  SafeCycleReport
	Err     error
	Time    time.Time
	// BootUntil, in a booting update, ends the boot grace of the outlet's
	// devices: the Cycler owns it and refuses new cycles of the outlet
	// until then (or until Booted).
	BootUntil time.Time
}

// PlugSource finds a configured plug by name.
type PlugSource interface {
	Plug(name string) (Plug, error)
}

// plugConfigs is a PlugSource that also knows each plug's config (Plugs
// does); the Cycler takes the plug's flip_back policy from it.
type plugConfigs interface {
	Config(name string) (config.PlugConfig, bool)
}

// CyclerOptions configures a Cycler.
type CyclerOptions struct {
	Plugs         PlugSource
	State         *state.Store
	Clock         clock.Clock
	Logger        *slog.Logger
	MaxConcurrent int
	DryRun        bool
	// Listener hears every phase of every cycle, synchronously: keep it quick.
	Listener func(Update)
	// Safe tunes the safe cycle (retries, timeouts); Clock and Logger are
	// filled in.
	Safe SafeCycleOptions
	// Peer makes this Cycler one of a redundant pair on the same plugs.
	Peer PeerOptions
}

type busy struct {
	phase string
	until time.Time // booting ends then at the latest
}

// Cycler is the one way anything power-cycles an outlet: one cycle per
// outlet at a time, a bounded number overall, intents in the state file
// before power goes off, and the plug's own flip-back armed first.
type Cycler struct {
	opt CyclerOptions
	log *slog.Logger

	mu     sync.Mutex
	busy   map[string]busy
	lastOn map[string]time.Time // when we last switched each outlet on
	sem    chan struct{}

	ctx    context.Context // cancelled at shutdown: cycles restore power early
	cancel context.CancelFunc
	wg     sync.WaitGroup

	cycles, failures, flipBackUnsupported, skipped *prometheus.CounterVec
	last                                           *prometheus.GaugeVec
}

// NewCycler returns a Cycler.
func NewCycler(opt CyclerOptions) *Cycler {
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.MaxConcurrent < 1 {
		opt.MaxConcurrent = 1
	}
	if opt.Listener == nil {
		opt.Listener = func(Update) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Cycler{
		opt: opt, log: opt.Logger, busy: map[string]busy{}, lastOn: map[string]time.Time{}, sem: make(chan struct{}, opt.MaxConcurrent),
		ctx: ctx, cancel: cancel,
		cycles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "restartinator", Name: "power_cycles_total",
			Help: "Power cycles started, by device and what triggered them.",
		}, []string{"device", "trigger"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "restartinator", Name: "power_cycle_failures_total",
			Help: "Power cycles that failed, by device and the step that failed (reason); power_cycles_total has the trigger.",
		}, []string{"device", "reason"}),
		flipBackUnsupported: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "restartinator", Name: "power_cycles_without_flip_back_total",
			Help: "Power cycles where the plug refused its own flip-back timer, so only restartinator could switch power back on.",
		}, []string{"plug"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "restartinator", Name: "power_cycles_skipped_total",
			Help: "Power cycles decided but not done, by device and reason (cycled_by_peer: another instance was already cycling the outlet).",
		}, []string{"device", "reason"}),
		last: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "restartinator", Name: "last_power_cycle_timestamp_seconds",
			Help: "When the device's outlet was last switched off for a power cycle.",
		}, []string{"device"}),
	}
}

// Describe and Collect make the Cycler a prometheus.Collector.
func (c *Cycler) Describe(ch chan<- *prometheus.Desc) {
	c.cycles.Describe(ch)
	c.failures.Describe(ch)
	c.flipBackUnsupported.Describe(ch)
	c.skipped.Describe(ch)
	c.last.Describe(ch)
}

func (c *Cycler) Collect(ch chan<- prometheus.Metric) {
	c.cycles.Collect(ch)
	c.failures.Collect(ch)
	c.flipBackUnsupported.Collect(ch)
	c.skipped.Collect(ch)
	c.last.Collect(ch)
}

// SetLimits changes the concurrency limit and dry run on reload. Cycles
// already running keep their slot.
func (c *Cycler) SetLimits(maxConcurrent int, dryRun bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opt.DryRun = dryRun
	if maxConcurrent >= 1 && maxConcurrent != cap(c.sem) {
		c.sem = make(chan struct{}, maxConcurrent)
	}
}

// DryRun reports whether cycles are only logged.
func (c *Cycler) DryRun() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opt.DryRun
}

// Busy reports whether an outlet is cycling or its devices booting.
func (c *Cycler) Busy(plug, outlet string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.busyLocked(state.IntentKey(plug, outlet))
}

func (c *Cycler) busyLocked(key string) (string, bool) {
	b, ok := c.busy[key]
	if !ok {
		return "", false
	}
	if b.phase == PhaseBooting && !c.opt.Clock.Now().Before(b.until) {
		delete(c.busy, key)
		return "", false
	}
	return b.phase, true
}

// Booted ends an outlet's boot grace early: its devices answer again.
func (c *Cycler) Booted(plug, outlet string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := state.IntentKey(plug, outlet)
	if b, ok := c.busy[key]; ok && b.phase == PhaseBooting {
		delete(c.busy, key)
	}
}

// reserve claims the outlet or says it is already cycling.
func (c *Cycler) reserve(r Request) (chan struct{}, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if phase, ok := c.busyLocked(r.key()); ok {
		return nil, fmt.Errorf("plug %q outlet %q: %w (%s)", r.Plug, r.Outlet, ErrAlreadyCycling, phase)
	}
	c.busy[r.key()] = busy{phase: PhaseCycling}
	return c.sem, nil
}

// Start reserves the outlet and runs the cycle in the background; it returns
// ErrAlreadyCycling at once if the outlet is busy.
func (c *Cycler) Start(r Request) error {
	sem, err := c.reserve(r)
	if err != nil {
		return err
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.run(r, sem)
	}()
	return nil
}

// Cycle runs a cycle and waits for it: power is back (or the plug's own timer
// will bring it back) when it returns without ErrAlreadyCycling.
func (c *Cycler) Cycle(r Request) (Update, error) {
	sem, err := c.reserve(r)
	if err != nil {
		return Update{}, err
	}
	c.wg.Add(1)
	defer c.wg.Done()
	u := c.run(r, sem)
	return u, u.Err
}

func (c *Cycler) release(key string) {
	c.mu.Lock()
	delete(c.busy, key)
	c.mu.Unlock()
}

func (c *Cycler) run(r Request, sem chan struct{}) Update {
	log := c.log.With("plug", r.Plug, "outlet", r.Outlet, "devices", r.Devices, "trigger", r.Trigger)
	select {
	case sem <- struct{}{}:
		defer func() { <-sem }()
	case <-c.ctx.Done():
		u := Update{Request: r, Phase: PhaseFailed, Err: fmt.Errorf("shutting down: %w", c.ctx.Err()), Time: c.opt.Clock.Now()}
		c.opt.Listener(u)
		c.release(r.key())
		return u
	}
	// The outlet is released only after the listener has heard the outcome:
	// a request meanwhile is "already cycling", never decided on a state
	// that does not know about this cycle yet.
	if c.DryRun() {
		log.Info("dry run: would power-cycle the outlet now", "off_time", r.Off)
		u := Update{Request: r, Phase: PhaseDryRun, Time: c.opt.Clock.Now()}
		c.opt.Listener(u)
		c.release(r.key())
		return u
	}

	if u, skip := c.skipForPeer(r); skip {
		c.opt.Listener(u)
		return u
	}

	started := c.opt.Clock.Now()
	for _, d := range r.Devices {
		c.cycles.WithLabelValues(d, r.Trigger).Inc()
		c.last.WithLabelValues(d).Set(float64(started.UnixNano()) / 1e9)
	}
	c.opt.Listener(Update{Request: r, Phase: PhaseCycling, Time: started})

	rep, clearIntent, err := c.cycle(r, log)
	now := c.opt.Clock.Now()
	u := Update{Request: r, Report: rep, Err: err, Time: now}
	if rep.FlipBackUnsupported {
		c.flipBackUnsupported.WithLabelValues(r.Plug).Inc()
	}
	if err != nil {
		reason := rep.Reason
		if reason == "" {
			reason = ReasonPlug
		}
		for _, d := range r.Devices {
			c.failures.WithLabelValues(d, reason).Inc()
		}
	}
	if !rep.SwitchedOff {
		// Power never went off: nothing boots; released after the listener.
		u.Phase = PhaseFailed
		if rep.OnAttempts > 0 && !rep.SwitchedOn && !rep.FlipBackArmed {
			log.Error("switching off reported an error and the outlet could not be switched on: it may be off; it is switched on at the next start", "err", err)
		} else {
			log.Error("power cycle failed before switching off", "err", err)
		}
	} else {
		switch {
		case rep.SwitchedOn:
			c.poweredOn(r.key(), now)
		case rep.FlipBackArmed:
			c.poweredOn(r.key(), started.Add(r.Off)) // the plug's own timer
		}
		u.BootUntil = now.Add(r.Boot)
		c.mu.Lock()
		c.busy[r.key()] = busy{phase: PhaseBooting, until: u.BootUntil}
		c.mu.Unlock()
		u.Phase = PhaseBooting
		if err != nil {
			log.Error("power cycle did not finish cleanly", "err", err, "flip_back_armed", rep.FlipBackArmed)
		} else {
			log.Info("power cycle done; devices booting", "boot_time", r.Boot)
		}
	}
	recs := make([]state.Cycle, 0, len(r.Devices))
	for _, d := range r.Devices {
		rec := state.Cycle{Device: d, Trigger: r.Trigger, Started: started, Ended: now, OK: err == nil}
		if err != nil {
			rec.Detail = err.Error()
		}
		recs = append(recs, rec)
	}
	// The history and the cleared intent in one write: a crash between two
	// writes would lose the cycle.
	if serr := c.opt.State.FinishCycle(r.Plug, r.Outlet, clearIntent, recs); serr != nil {
		log.Error("could not record the cycle in the state file", "err", serr)
	}
	c.opt.Listener(u)
	if u.Phase == PhaseFailed {
		c.release(r.key())
	}
	return u
}

// cycle does the switching: intent first, then the plug's safe cycle. It
// reports whether the intent may be cleared (power is back, or the plug's own
// timer brings it back); run clears it together with the history.
func (c *Cycler) cycle(r Request, log *slog.Logger) (SafeCycleReport, bool, error) {
	p, err := c.opt.Plugs.Plug(r.Plug)
	if err != nil {
		return SafeCycleReport{Err: err}, false, err
	}
	opt := c.opt.Safe
	opt.Clock, opt.Logger = c.opt.Clock, log
	if src, ok := c.opt.Plugs.(plugConfigs); ok {
		if pc, ok := src.Config(r.Plug); ok {
			opt.FlipBack = pc.FlipBack
		}
	}
	wrote := false
	opt.BeforeOff = func() error {
		err := c.opt.State.AddIntent(state.Intent{Plug: r.Plug, Outlet: r.Outlet, Devices: r.Devices, Trigger: r.Trigger, Started: c.opt.Clock.Now()})
		wrote = err == nil
		return err
	}
	rep, err := SafeCycle(c.ctx, p, r.Outlet, r.Off, opt)
	// The intent stays while we are unsure power is back: restoring failed
	// and no flip-back timer will switch it on — also when switching off
	// reported an error, as it may have happened with the answer lost. A
	// cycle that never recorded its intent leaves the table alone: an older
	// intent may wait there for the next start.
	return rep, wrote && (rep.SwitchedOn || rep.FlipBackArmed), err
}

// Reconcile switches on every outlet a previous run left mid-cycle. It is
// called at start-up, before any probe.
func (c *Cycler) Reconcile(ctx context.Context) {
	for _, in := range c.opt.State.Intents() {
		log := c.log.With("plug", in.Plug, "outlet", in.Outlet, "devices", in.Devices, "since", in.Started)
		p, err := c.opt.Plugs.Plug(in.Plug)
		if err == nil {
			err = p.Switch(ctx, in.Outlet, true)
		}
		if err != nil {
			log.Error("a previous run left this outlet mid-cycle and it could not be switched on; will retry at the next start — check the plug", "err", err)
			continue
		}
		log.Warn("a previous run stopped mid-cycle; switched the outlet back on")
		c.poweredOn(state.IntentKey(in.Plug, in.Outlet), c.opt.Clock.Now())
		// The plug's own flip-back timer may still be armed; left there it
		// would fire later, after someone may have switched the outlet off.
		if derr := p.DisarmFlipBack(ctx, in.Outlet); derr != nil && !errors.Is(derr, ErrFlipBackUnsupported) {
			log.Warn("could not remove the plug's flip-back timer; it will switch the outlet on when it fires", "err", derr)
		}
		recs := make([]state.Cycle, 0, len(in.Devices))
		for _, d := range in.Devices {
			recs = append(recs, state.Cycle{Device: d, Trigger: in.Trigger, Started: in.Started, Ended: c.opt.Clock.Now(), OK: true, Detail: "finished at start-up after an interrupted run"})
		}
		if err := c.opt.State.FinishCycle(in.Plug, in.Outlet, true, recs); err != nil {
			log.Warn("could not record the finished cycle in the state file; the next start switches the outlet on again", "err", err)
		}
	}
}

// Shutdown ends every cycle in progress with power back on, then returns.
func (c *Cycler) Shutdown(ctx context.Context) error {
	c.cancel()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cycles still running at shutdown: %w", ctx.Err())
	}
}
