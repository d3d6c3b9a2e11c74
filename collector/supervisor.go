package collector

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"net"
	"reflect"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/collector/probe"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/internal/state"
)

// Errors of RequestCycle.
var (
	ErrUnknownDevice = errors.New("unknown device")
	ErrNoPlug        = errors.New("the device has no plug to cycle")
)

// Options are what a Supervisor works with.
type Options struct {
	// Cycler may be nil at New when the Cycler is built after the
	// Supervisor (it takes the Supervisor's Listen); UseCycler sets it
	// before the first Apply.
	Cycler   *actuator.Cycler
	Plugs    *actuator.Plugs
	State    *state.Store
	Notifier event.Notifier
	Clock    clock.Clock
	Logger   *slog.Logger
	// Dial is used by the guard's TCP checks; nil means net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// StateEnum exposes restartinator_device_state as one series per
	// device and state (0 or 1), besides the state code.
	StateEnum bool
}

// Supervisor runs one state machine per device and the guard, and exposes
// what they see as metrics.
type Supervisor struct {
	opt   Options
	log   *slog.Logger
	ctx   context.Context
	sched *scheduler
	cyc   atomic.Pointer[actuator.Cycler]

	applyMu sync.Mutex // serialises Apply and Stop; guards guardStop, guardDone, stopped
	mu      sync.RWMutex
	cfg     *config.Config
	devices map[string]*device
	order   []*device // by name
	stopped bool

	failing   atomic.Int64 // devices whose last probe failed
	guardDown atomic.Bool  // no guard target answers
	guardStop context.CancelFunc
	guardDone chan struct{}

	probes  probeCounters
	metrics *metrics

	deps  atomic.Pointer[depGraph]
	depMu sync.Mutex // serialises propagate

	histMu      sync.Mutex // serialises writes of the availability timelines
	histFlushed time.Time
}

// New returns a Supervisor; Apply gives it devices.
func New(ctx context.Context, opt Options) *Supervisor {
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Notifier == nil {
		opt.Notifier = event.Discard{}
	}
	if opt.Dial == nil {
		opt.Dial = (&net.Dialer{}).DialContext
	}
	s := &Supervisor{opt: opt, log: opt.Logger, ctx: ctx, devices: map[string]*device{}}
	s.cyc.Store(opt.Cycler)
	s.probes.init()
	s.metrics = newMetrics()
	s.sched = newScheduler(opt.Clock, minProbeWorkers, func(e *timerEntry, at time.Time) { e.d.due(e, at) })
	return s
}

// ProbesInFlight is how many due probes and reboot schedules the
// scheduler has handed out and that have not finished (tests wait for 0
// after advancing a fake clock; /metrics shows it).
func (s *Supervisor) ProbesInFlight() int { return int(s.sched.inFlight.Load()) }

// UseCycler sets the Cycler when it was built after the Supervisor.
func (s *Supervisor) UseCycler(c *actuator.Cycler) { s.cyc.Store(c) }

func (s *Supervisor) cycler() *actuator.Cycler { return s.cyc.Load() }

// Listen is the Cycler's listener: it moves every device on the outlet.
func (s *Supervisor) Listen(u actuator.Update) {
	s.mu.RLock()
	var ds []*device
	for _, name := range u.Request.Devices {
		if d := s.devices[name]; d != nil {
			ds = append(ds, d)
		}
	}
	s.mu.RUnlock()
	for _, d := range ds {
		d.onCycle(u)
	}
}

// ErrStopped: Apply after Stop.
var ErrStopped = errors.New("the supervisor was stopped")

// Apply starts supervising a new config. Devices whose settings did not
// change keep their state and their place in the schedule; changed ones
// start over; removed ones stop.
//
// Replaced devices are stopped and waited for after s.mu is released: a
// device's probe between its result and its decision takes s.mu (read) to
// consult the guard and its outlet's devices, so waiting for it under the
// lock would deadlock.
func (s *Supervisor) Apply(cfg *config.Config) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	s.mu.Lock()
	next := make(map[string]*device, len(cfg.Devices))
	var started []*device
	for i := range cfg.Devices {
		dc := cfg.Devices[i]
		if old, ok := s.devices[dc.Name]; ok && sameDevice(old.cfg, dc) && s.samePlug(cfg, dc) {
			next[dc.Name] = old
			continue
		}
		d, err := s.newDevice(dc)
		if err != nil {
			// Nothing was started yet: the running config stays as it is.
			s.mu.Unlock()
			return err
		}
		next[dc.Name] = d
		started = append(started, d)
	}
	var retired []*device
	for name, old := range s.devices {
		if next[name] != old {
			retired = append(retired, old)
		}
	}
	var oldGuard *config.GuardConfig
	if s.cfg != nil {
		oldGuard = &s.cfg.Global.Guard
	}
	s.devices = next
	s.order = make([]*device, 0, len(next))
	for _, d := range next {
		s.order = append(s.order, d)
	}
	sort.Slice(s.order, func(i, j int) bool { return s.order[i].cfg.Name < s.order[j].cfg.Name })
	s.cfg = cfg
	s.metrics.apply(s.order, s.opt.StateEnum)
	s.deps.Store(newDepGraph(s.order, next))
	s.mu.Unlock()
	// Kept devices may have new or restarted parents.
	s.propagate(nil)

	workers, want := probeWorkers(cfg)
	if cfg.Global.MaxConcurrentProbes > 0 && cfg.Global.MaxConcurrentProbes < want/2 {
		s.log.Warn("global.max_concurrent_probes is below the probes that may wait on their timeout at once: devices that hang delay the others' probes",
			"max_concurrent_probes", cfg.Global.MaxConcurrentProbes, "rate_x_timeout", want/2)
	}
	s.sched.setWorkers(workers)
	s.retire(retired)
	s.start(started)
	// An unchanged guard keeps running: restarting it would forget that its
	// targets are down (releasing the hold until its first check) and
	// announce the hold again.
	if oldGuard == nil || s.guardStop == nil && len(cfg.Global.Guard.Targets) > 0 || !reflect.DeepEqual(*oldGuard, cfg.Global.Guard) {
		s.restartGuard(cfg.Global.Guard)
	}
	return nil
}

// minProbeWorkers is the least bound on probes at once.
const minProbeWorkers = 64

// probeWorkers is the bound on probes at once: the config's, or twice the
// probes that could be waiting on their timeout at once (rate x timeout,
// counted at each device's shorter interval), at least minProbeWorkers. It
// also returns twice rate x timeout, for a warning.
func probeWorkers(cfg *config.Config) (int, int) {
	var inFlight float64
	for _, d := range cfg.Devices {
		st := d.Settings
		iv := min(st.CheckInterval.D(), st.RetryInterval.D())
		if iv <= 0 {
			continue
		}
		inFlight += float64(min(st.Timeout.D(), iv)) / float64(iv)
	}
	want := 2 * int(math.Ceil(inFlight))
	if cfg.Global.MaxConcurrentProbes > 0 {
		return cfg.Global.MaxConcurrentProbes, want
	}
	return max(want, minProbeWorkers), want
}

// start queues new devices' first probes, spread over their interval, and
// their reboot schedules.
func (s *Supervisor) start(ds []*device) {
	now := s.opt.Clock.Now()
	pauses := s.opt.State.Pauses(now)
	for _, d := range ds {
		// The timeline the state file kept (a replaced device's was
		// written when it was retired); unknown until the first probe.
		d.mu.Lock()
		d.hist = trimTransitions(s.opt.State.Availability(d.cfg.Name), now)
		d.hist, _ = addTransition(d.hist, now, state.Unknown)
		d.mu.Unlock()
		// A pause outlives a restart and a reload.
		if p, ok := pauses[d.cfg.Name]; ok {
			d.step(Pause{Until: p.Until, Reason: p.Reason})
		}
		d.maintenance(now)
	}
	es := make([]*timerEntry, 0, len(ds))
	at := make([]time.Time, 0, len(ds))
	for _, d := range ds {
		es, at = append(es, &d.probeT), append(at, now.Add(s.initialDelay(d)))
		d.mu.Lock()
		d.m.Grid = now.Add(s.phase(d))
		d.mu.Unlock()
		if d.sched != nil {
			d.mu.Lock()
			d.nextReboot = d.sched.Next(now)
			d.mu.Unlock()
			es, at = append(es, &d.cronT), append(at, d.nextReboot)
		}
	}
	s.sched.scheduleMany(es, at)
}

// retire stops devices, waits for their running work to end and takes
// them out of the failing count. Callers hold applyMu, not mu.
func (s *Supervisor) retire(ds []*device) {
	defer s.flushHistory(ds)
	for _, old := range ds {
		old.retire()
		old.mark(state.Unknown)
		old.mu.Lock()
		failed := old.counted && !old.prevUp
		old.mu.Unlock()
		if failed {
			s.failing.Add(-1)
		}
	}
}

func sameDevice(a, b config.DeviceConfig) bool { return reflect.DeepEqual(a, b) }

// samePlug: the device's plug config is unchanged (the old one is in s.cfg).
func (s *Supervisor) samePlug(cfg *config.Config, d config.DeviceConfig) bool {
	if d.Plug == "" || s.cfg == nil {
		return true
	}
	a, b := s.cfg.Plug(d.Plug), cfg.Plug(d.Plug)
	return a != nil && b != nil && reflect.DeepEqual(*a, *b)
}

func (s *Supervisor) newDevice(dc config.DeviceConfig) (*device, error) {
	d := &device{s: s, cfg: dc}
	d.m = NewMachine(&d.cfg)
	d.probeT = timerEntry{idx: -1, d: d}
	d.cronT = timerEntry{idx: -1, d: d, cron: true}
	var err error
	if dc.Schedule != "" {
		if d.sched, err = config.CronParser.Parse(dc.Schedule); err != nil {
			return nil, fmt.Errorf("device %q: schedule: %w", dc.Name, err)
		}
	}
	for i, w := range dc.Settings.Maintenance {
		sched, err := config.CronParser.Parse(w.Schedule)
		if err != nil {
			return nil, fmt.Errorf("device %q: maintenance[%d]: %w", dc.Name, i, err)
		}
		d.maint = append(d.maint, maintWindow{sched: sched, dur: w.Duration.D()})
	}
	var power probe.PowerReader
	if dc.Probe != nil && dc.Probe.Type == config.ProbePower || slices.ContainsFunc(dc.Probes, func(p config.ProbeConfig) bool { return p.Type == config.ProbePower }) {
		power = s.powerReader(dc.Plug, dc.Outlet)
	}
	popts := probe.Options{Logger: s.log, PowerReader: power}
	if dc.Probe != nil && dc.Probe.Type == config.ProbeBMC || slices.ContainsFunc(dc.Probes, func(p config.ProbeConfig) bool { return p.Type == config.ProbeBMC }) {
		popts.BMCReader = s.bmcReader(dc.Plug)
	}
	if len(dc.Probes) > 0 {
		if d.multi, err = probe.NewMulti(&d.cfg, popts); err != nil {
			return nil, fmt.Errorf("device %q: %w", dc.Name, err)
		}
		d.prober = d.multi
	} else if d.prober, err = probe.New(&d.cfg, popts); err != nil {
		return nil, err
	}
	d.count = s.probes.of(d.prober.Type())
	d.labels = newDeviceLabels(d)
	return d, nil
}

// bmcReader asks a device's BMC plug for its own view of the server.
func (s *Supervisor) bmcReader(plug string) probe.BMCReader {
	return func(ctx context.Context) (actuator.BMCStatus, error) {
		p, err := s.opt.Plugs.Plug(plug)
		if err != nil {
			return actuator.BMCStatus{}, err
		}
		r, ok := p.(actuator.BMCStatusReader)
		if !ok {
			return actuator.BMCStatus{}, fmt.Errorf("plug %q is not a BMC: a bmc probe needs a plug of type redfish or ipmi", plug)
		}
		return r.BMCStatus(ctx)
	}
}

// powerReader reads the meter of a device's outlet for power probes.
func (s *Supervisor) powerReader(plug, outlet string) probe.PowerReader {
	return func(ctx context.Context) (actuator.Energy, error) {
		p, err := s.opt.Plugs.Plug(plug)
		if err != nil {
			return actuator.Energy{}, err
		}
		st, err := p.Status(ctx)
		if err != nil {
			return actuator.Energy{}, err
		}
		o, err := actuator.SelectOutlet(st, outlet)
		if err != nil {
			return actuator.Energy{}, err
		}
		if o.Energy == nil {
			return actuator.Energy{}, fmt.Errorf("plug %q (%s) has no power meter", plug, st.Model)
		}
		return *o.Energy, nil
	}
}

// initialDelay spreads first probes over the check interval so thousands of
// devices do not all probe in the same instant.
func (s *Supervisor) initialDelay(d *device) time.Duration {
	iv := d.cfg.Settings.CheckInterval.D()
	if iv <= 0 {
		return 0
	}
	spread := iv
	if spread > 10*time.Second {
		spread = 10 * time.Second // a newcomer wants the first result soon
	}
	return time.Duration(nameHash(d.cfg.Name) % uint64(spread))
}

// phase is the device's place in the check interval once it runs: spread
// over the whole interval (the first probe, within 10 s, moves onto it).
func (s *Supervisor) phase(d *device) time.Duration {
	iv := d.cfg.Settings.CheckInterval.D()
	if iv <= 0 {
		return 0
	}
	return time.Duration(nameHash(d.cfg.Name) % uint64(iv))
}

func nameHash(name string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return h.Sum64()
}

// Stop stops every device and the guard; the Supervisor takes no config
// after it.
func (s *Supervisor) Stop() {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.stopped = true
	s.sched.close()
	s.mu.Lock()
	retired := s.order
	s.devices = map[string]*device{}
	s.order = nil
	s.mu.Unlock()
	s.retire(retired)
	if s.guardStop != nil {
		s.guardStop()
		<-s.guardDone
		s.guardStop = nil
	}
}

// deviceUp tracks how many devices are failing, for the guard's ratio.
func (s *Supervisor) deviceUp(d *device, up bool) {
	d.mu.Lock()
	was := d.prevUp
	first := !d.counted
	d.prevUp, d.counted = up, true
	d.mu.Unlock()
	switch {
	case !up && (first || was):
		s.failing.Add(1)
	case up && !first && !was:
		s.failing.Add(-1)
	}
}

// holding says why every automatic cycle is held now, or "".
func (s *Supervisor) holding() string {
	s.mu.RLock()
	if s.cfg == nil {
		s.mu.RUnlock()
		return ""
	}
	g := s.cfg.Global.Guard
	total := len(s.devices)
	s.mu.RUnlock()
	why := ""
	switch {
	case len(g.Targets) > 0 && s.guardDown.Load():
		why = "guard: none of the guard targets answers, so the monitor itself seems cut off"
	case total >= g.MinDevices && float64(s.failing.Load())/float64(total) > g.MaxFailingRatio:
		why = fmt.Sprintf("guard: %d of %d devices are failing at once (more than max_failing_ratio %g), which looks like a network outage", s.failing.Load(), total, g.MaxFailingRatio)
	}
	return why
}

// Holding reports the guard's state for metrics and the status page.
func (s *Supervisor) Holding() string { return s.holding() }

// cyclesInWindow counts a device's cycles that started within window.
func (s *Supervisor) cyclesInWindow(name string, window time.Duration, now time.Time) int {
	n := 0
	for _, c := range s.opt.State.History(name) {
		if now.Sub(c.Started) < window {
			n++
		}
	}
	return n
}

// reading is the last poll of a device's outlet.
func (s *Supervisor) reading(plug, outlet string) *event.Reading {
	if plug == "" || s.opt.Plugs == nil {
		return nil
	}
	last, ok := s.opt.Plugs.Last(plug)
	if !ok || last.Status.Model == "" {
		return nil
	}
	o, err := actuator.SelectOutlet(last.Status, outlet)
	if err != nil {
		return nil
	}
	r := &event.Reading{RelayOn: o.On}
	if o.Energy != nil {
		r.Metered, r.Watts, r.Volts, r.Amperes, r.WattHours = true, o.Energy.Watts, o.Energy.Volts, o.Energy.Amperes, o.Energy.WattHours
	}
	return r
}

// startCycle asks the Cycler to cycle a device's outlet, with every device
// on that outlet.
func (s *Supervisor) startCycle(d *device, trigger string) error {
	if d.cfg.Plug == "" {
		return fmt.Errorf("device %q: %w", d.cfg.Name, ErrNoPlug)
	}
	// Held across Start: a reload cannot retire the device in between.
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.devices[d.cfg.Name] != d {
		// A reload removed or replaced it while it was deciding.
		return fmt.Errorf("device %q: %w", d.cfg.Name, errRetired)
	}
	// The outlet's boot grace is the longest of its devices': the Cycler
	// owns it and hands it to every device in the booting update.
	var names []string
	boot := d.cfg.Settings.BootTime.D()
	for _, o := range s.order {
		if o.cfg.Plug == d.cfg.Plug && o.cfg.Outlet == d.cfg.Outlet {
			names = append(names, o.cfg.Name)
			boot = max(boot, o.cfg.Settings.BootTime.D())
		}
	}
	return s.cycler().Start(actuator.Request{
		Plug: d.cfg.Plug, Outlet: d.cfg.Outlet, Devices: names, Trigger: trigger,
		Off: d.cfg.Settings.CycleTime.D(), Boot: boot,
	})
}

// errRetired: the device was removed or replaced by a reload.
var errRetired = errors.New("no longer supervised (removed or changed by a reload)")

// RequestCycle cycles a device on request (webhook, manual, file). The guard
// holds only automatic and scheduled cycles: these come from a person or an
// Alertmanager that sees more than we do.
func (s *Supervisor) RequestCycle(name, trigger string) error {
	s.mu.RLock()
	d := s.devices[name]
	s.mu.RUnlock()
	if d == nil {
		return fmt.Errorf("device %q: %w", name, ErrUnknownDevice)
	}
	return d.request(trigger)
}

// Device returns a device's config.
func (s *Supervisor) Device(name string) (config.DeviceConfig, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d := s.devices[name]
	if d == nil {
		return config.DeviceConfig{}, false
	}
	return d.cfg, true
}

// restartGuard (re)starts the guard's target checks. Callers hold applyMu.
func (s *Supervisor) restartGuard(g config.GuardConfig) {
	if s.guardStop != nil {
		s.guardStop()
		<-s.guardDone
		s.guardStop = nil
	}
	s.guardDown.Store(false)
	if len(g.Targets) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.guardStop, s.guardDone = cancel, make(chan struct{})
	go func() {
		defer close(s.guardDone)
		for {
			s.checkGuard(ctx, g)
			t := s.opt.Clock.NewTimer(g.CheckInterval.D())
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
		}
	}()
}

// checkGuard marks the guard down when no target answers a TCP connect.
func (s *Supervisor) checkGuard(ctx context.Context, g config.GuardConfig) {
	answered := false
	for _, t := range g.Targets {
		cctx, cancel := context.WithTimeout(ctx, g.Timeout.D())
		c, err := s.opt.Dial(cctx, "tcp", t)
		cancel()
		if err == nil {
			self := probe.SelfConnected(c)
			c.Close()
			if !self {
				answered = true
				break
			}
		}
	}
	if ctx.Err() != nil {
		return
	}
	was := s.guardDown.Swap(!answered)
	switch {
	case !answered && !was:
		s.log.Error("guard: no guard target answers; holding every automatic power cycle", "targets", g.Targets)
		s.opt.Notifier.Notify(event.Event{Kind: event.Held, Time: s.opt.Clock.Now(),
			Detail: fmt.Sprintf("none of the guard targets (%v) answers: this monitor seems cut off from the network", g.Targets),
			Next:   "no automatic power cycles until a guard target answers"})
	case answered && was:
		s.log.Info("guard: a guard target answers again; automatic power cycles resume")
	}
}

// recheckGuard checks the guard targets now, so a cycle is not decided on
// a guard result up to check_interval old.
func (s *Supervisor) recheckGuard() {
	s.mu.RLock()
	if s.cfg == nil || len(s.cfg.Global.Guard.Targets) == 0 {
		s.mu.RUnlock()
		return
	}
	g := s.cfg.Global.Guard
	s.mu.RUnlock()
	s.checkGuard(s.ctx, g)
}

// GuardDown is for tests: whether the guard targets are unreachable.
func (s *Supervisor) GuardDown() bool { return s.guardDown.Load() }

// ErrPauseTooLong: a pause longer than global.max_pause.
var ErrPauseTooLong = errors.New("longer than global.max_pause")

// Pause pauses a device for dur: it is probed and shown, never cycled
// automatically, and announces nothing, until the pause ends or Resume.
// The pause is kept in the state file.
func (s *Supervisor) Pause(name string, dur time.Duration, reason string) (time.Time, error) {
	s.mu.RLock()
	d := s.devices[name]
	max := time.Duration(0)
	if s.cfg != nil {
		max = s.cfg.Global.MaxPause.D()
	}
	s.mu.RUnlock()
	if d == nil {
		return time.Time{}, fmt.Errorf("device %q: %w", name, ErrUnknownDevice)
	}
	if dur <= 0 {
		return time.Time{}, fmt.Errorf("the pause must be longer than 0, got %s", dur)
	}
	if max > 0 && dur > max {
		return time.Time{}, fmt.Errorf("a pause of %s is %w (%s)", dur, ErrPauseTooLong, max)
	}
	until := s.opt.Clock.Now().Add(dur)
	if err := s.opt.State.SetPause(name, state.Pause{Until: until, Reason: reason}); err != nil {
		return time.Time{}, fmt.Errorf("keeping the pause in the state file: %w", err)
	}
	d.step(Pause{Until: until, Reason: reason})
	return until, nil
}

// Resume ends a device's pause (a maintenance window it is in goes on).
func (s *Supervisor) Resume(name string) error {
	s.mu.RLock()
	d := s.devices[name]
	s.mu.RUnlock()
	if d == nil {
		return fmt.Errorf("device %q: %w", name, ErrUnknownDevice)
	}
	if err := s.opt.State.SetPause(name, state.Pause{}); err != nil {
		return fmt.Errorf("removing the pause from the state file: %w", err)
	}
	d.step(Resume{})
	return nil
}

// maybeFlushHistory writes the changed availability timelines, at most
// once per historyFlush.
func (s *Supervisor) maybeFlushHistory() {
	now := s.opt.Clock.Now()
	s.histMu.Lock()
	due := now.Sub(s.histFlushed) >= historyFlush
	s.histMu.Unlock()
	if !due {
		return
	}
	s.mu.RLock()
	ds := s.order
	s.mu.RUnlock()
	s.flushHistory(ds)
}

// flushHistory writes the timelines of ds that changed, in one write.
func (s *Supervisor) flushHistory(ds []*device) {
	s.histMu.Lock()
	defer s.histMu.Unlock()
	m := map[string][]state.Transition{}
	for _, d := range ds {
		d.mu.Lock()
		if d.histDirty {
			m[d.cfg.Name] = append([]state.Transition(nil), d.hist...)
			d.histDirty = false
		}
		d.mu.Unlock()
	}
	s.histFlushed = s.opt.Clock.Now()
	if err := s.opt.State.SetAvailability(m); err != nil {
		s.log.Warn("could not write the availability history to the state file", "err", err)
	}
}
