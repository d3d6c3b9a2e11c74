package collector

import (
	"bytes"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/restartinator/restartinator/collector/probe"
	"github.com/restartinator/restartinator/config"
)

// probeCount counts one probe type's probes without a lock on the probe
// path; each device holds its type's.
type probeCount struct {
	total, failures atomic.Uint64
}

func (c *probeCount) add(ok bool) {
	c.total.Add(1)
	if !ok {
		c.failures.Add(1)
	}
}

// probeCounters are the counters by probe type: the known types from the
// start (exposed at 0), any other type as its probers appear, under its own
// name.
type probeCounters struct {
	mu     sync.Mutex
	byType map[string]*probeCount
}

var probeTypes = []string{config.ProbeTCP, config.ProbeHTTP, config.ProbeICMP, config.ProbePower}

func (p *probeCounters) init() {
	p.byType = map[string]*probeCount{}
	for _, t := range probeTypes {
		p.byType[t] = &probeCount{}
	}
}

func (p *probeCounters) of(typ string) *probeCount {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.byType[typ]
	if c == nil {
		c = &probeCount{}
		p.byType[typ] = c
	}
	return c
}

// types returns the probe types seen, sorted, with their counters.
func (p *probeCounters) types() ([]string, []*probeCount) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ts := make([]string, 0, len(p.byType))
	for t := range p.byType {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	cs := make([]*probeCount, len(ts))
	for i, t := range ts {
		cs[i] = p.byType[t]
	}
	return ts, cs
}

// metrics holds the descriptors of the families that go through the
// registry: a few series for the whole process.
type metrics struct {
	probes, probeFailures, holding, dryRun, inFlight, workers *prometheus.Desc
	// delay is how late probes start against their due time: the
	// scheduler's own account of being on time.
	delay prometheus.Histogram

	// The per-device families are rendered by WriteMetrics straight into
	// the exposition, not through the registry: at 10,000 devices building,
	// sorting and encoding a dto.Metric per series cost ~0.45 CPU-s per
	// scrape. mu guards the config-time parts.
	mu        sync.Mutex
	stateEnum bool
	scratch   []deviceValues
	chunk     []byte
}

func newMetrics() *metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("restartinator", "", name), help, labels, nil)
	}
	return &metrics{
		probes:        d("probes_total", "Probes run, by probe type.", "type"),
		probeFailures: d("probe_failures_total", "Probes that failed, by probe type.", "type"),
		holding:       d("guard_holding", "1 while the guard holds every automatic power cycle."),
		dryRun:        d("dry_run", "1 when dry run is on: decisions are logged, power is never switched."),
		inFlight:      d("probes_in_flight", "Probes running now (and reboot schedules being acted on)."),
		workers:       d("probe_workers", "The bound on probes running at once (global.max_concurrent_probes, or sized from the devices)."),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "restartinator", Name: "probe_start_delay_seconds",
			Help:    "How long after its due time each probe started.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5},
		}),
	}
}

// apply takes a new config's devices (their labels were escaped when they
// were built).
func (m *metrics) apply(ds []*device, stateEnum bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stateEnum = stateEnum
	if cap(m.scratch) < len(ds) {
		m.scratch = make([]deviceValues, 0, len(ds))
	}
}

// Describe and Collect make the Supervisor a prometheus.Collector for the
// process-wide families; WriteMetrics writes the per-device ones.
func (s *Supervisor) Describe(ch chan<- *prometheus.Desc) {
	m := s.metrics
	for _, d := range []*prometheus.Desc{m.probes, m.probeFailures, m.holding, m.dryRun, m.inFlight, m.workers} {
		ch <- d
	}
	m.delay.Describe(ch)
}

func (s *Supervisor) Collect(ch chan<- prometheus.Metric) {
	m := s.metrics
	types, counts := s.probes.types()
	for i, t := range types {
		ch <- prometheus.MustNewConstMetric(m.probes, prometheus.CounterValue, float64(counts[i].total.Load()), t)
		ch <- prometheus.MustNewConstMetric(m.probeFailures, prometheus.CounterValue, float64(counts[i].failures.Load()), t)
	}
	holding := 0.0
	if s.holding() != "" {
		holding = 1
	}
	ch <- prometheus.MustNewConstMetric(m.holding, prometheus.GaugeValue, holding)
	dry := 0.0
	if c := s.cycler(); c != nil && c.DryRun() {
		dry = 1
	}
	ch <- prometheus.MustNewConstMetric(m.dryRun, prometheus.GaugeValue, dry)
	ch <- prometheus.MustNewConstMetric(m.inFlight, prometheus.GaugeValue, float64(s.ProbesInFlight()))
	ch <- prometheus.MustNewConstMetric(m.workers, prometheus.GaugeValue, float64(s.sched.workers()))
	m.delay.Collect(ch)
}

// deviceLabels are a device's label values, escaped once when the device
// is built.
type deviceLabels struct {
	device string // `device="NAME"`
	info   string // the whole device_info line
	// targets are `device="NAME",target="T"` for each target of a
	// device with several.
	targets []string
}

func newDeviceLabels(d *device) deviceLabels {
	dev := `device="` + escapeLabel(d.cfg.Name) + `"`
	info := "restartinator_device_info{" + dev + `,plug="` + escapeLabel(d.cfg.Plug) + `",outlet="` + escapeLabel(d.cfg.Outlet) +
		`",mode="` + escapeLabel(d.cfg.Mode) + `",probe="` + escapeLabel(d.prober.Type()) + "\"} 1\n"
	l := deviceLabels{device: dev, info: info}
	if d.multi != nil {
		for _, t := range d.multi.Targets() {
			l.targets = append(l.targets, dev+`,target="`+escapeLabel(t)+`"`)
		}
	}
	return l
}

// escapeLabel escapes a label value as the text format wants: backslash,
// double quote and line feed.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(v string) string { return labelEscaper.Replace(v) }

// deviceValues is one device's values at a scrape.
type deviceValues struct {
	d          *device
	state      int
	failures   int
	probed, up bool
	duration   float64
	nextReboot int64 // unix seconds; 0 for none
	targets    []probe.Result
	// paused: -1 for no series (never paused, no maintenance windows),
	// else 0 or 1.
	paused int64
}

// The per-device families, in the order they are written.
const (
	helpInfo     = "# HELP restartinator_device_info What a device is and how it is watched.\n# TYPE restartinator_device_info gauge\n"
	helpCode     = "# HELP restartinator_device_state_code The device's supervisor state as a number: 0 unknown, 1 up, 2 failing, 3 cycling, 4 booting, 5 held, 6 gave_up, 7 blocked, 8 paused.\n# TYPE restartinator_device_state_code gauge\n"
	helpState    = "# HELP restartinator_device_state The device's supervisor state: 1 for the current one.\n# TYPE restartinator_device_state gauge\n"
	helpUp       = "# HELP restartinator_device_up Whether the device answered its last probe (1) or not (0).\n# TYPE restartinator_device_up gauge\n"
	helpDuration = "# HELP restartinator_device_probe_duration_seconds How long the device's last probe took.\n# TYPE restartinator_device_probe_duration_seconds gauge\n"
	helpFailures = "# HELP restartinator_device_consecutive_failures Failed probes in a row.\n# TYPE restartinator_device_consecutive_failures gauge\n"
	helpTargetUp = "# HELP restartinator_device_target_up Whether each target of a device with several answered its last probe.\n# TYPE restartinator_device_target_up gauge\n"
	helpTargetD  = "# HELP restartinator_device_target_probe_duration_seconds How long each target's last probe took, for a device with several.\n# TYPE restartinator_device_target_probe_duration_seconds gauge\n"
	helpPaused   = "# HELP restartinator_device_paused 1 while the device is paused (API or maintenance window): probed, never cycled automatically. Only for devices with maintenance windows or a pause.\n# TYPE restartinator_device_paused gauge\n"
	helpReboot   = "# HELP restartinator_device_next_scheduled_reboot_timestamp_seconds When the device's scheduled reboot is due.\n# TYPE restartinator_device_next_scheduled_reboot_timestamp_seconds gauge\n"
)

// WriteMetrics appends the per-device families to buf (see WriteMetricsTo).
func (s *Supervisor) WriteMetrics(buf []byte) []byte {
	bb := bytes.NewBuffer(buf)
	_ = s.WriteMetricsTo(bb) // a bytes.Buffer does not fail
	return bb.Bytes()
}

// chunk is how much WriteMetricsTo renders before it writes: the body is
// streamed, not built whole (3 MB at 10,000 devices, 32 MB at 100,000).
const chunk = 32 << 10

// WriteMetricsTo writes the per-device families in the text format (the
// same lines in OpenMetrics) to w, devices sorted by name. The values are
// read from each device once, so a scrape is consistent per device; two
// scrapes of an unchanged state give the same bytes.
func (s *Supervisor) WriteMetricsTo(w io.Writer) error {
	s.mu.RLock()
	devices := s.order
	s.mu.RUnlock()
	m := s.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	vs := m.scratch[:0]
	anyProbed, anyReboot, anyTargets, anyPaused := false, false, false, false
	for _, d := range devices {
		d.mu.Lock()
		v := deviceValues{d: d, state: stateCode(d.m.State), failures: d.m.Failures, probed: d.m.Probed,
			up: d.m.LastProbe.Success, duration: d.m.LastProbe.Duration.Seconds()}
		if !d.nextReboot.IsZero() {
			v.nextReboot = d.nextReboot.Unix()
		}
		v.paused = -1
		if now := d.s.opt.Clock.Now(); d.m.Paused(now) {
			v.paused = 1
		} else if len(d.maint) > 0 || !d.m.PausedUntil.IsZero() {
			v.paused = 0
		}
		d.mu.Unlock()
		anyPaused = anyPaused || v.paused >= 0
		if d.multi != nil {
			v.targets = d.multi.Last()
			anyTargets = anyTargets || len(v.targets) > 0
		}
		anyProbed = anyProbed || v.probed
		anyReboot = anyReboot || v.nextReboot != 0
		vs = append(vs, v)
	}
	m.scratch = vs[:0]
	if len(vs) == 0 {
		return nil
	}
	buf := m.chunk[:0]
	defer func() { m.chunk = buf[:0] }()
	var err error
	flush := func(force bool) {
		if err == nil && (force || len(buf) >= chunk) {
			_, err = w.Write(buf)
			buf = buf[:0]
		}
	}
	buf = append(buf, helpInfo...)
	for _, v := range vs {
		buf = append(buf, v.d.labels.info...)
		flush(false)
	}
	buf = append(buf, helpCode...)
	for _, v := range vs {
		buf = line(buf, "restartinator_device_state_code{", v.d.labels.device, int64(v.state))
		flush(false)
	}
	if m.stateEnum {
		buf = append(buf, helpState...)
		for _, v := range vs {
			for i, st := range States {
				buf = append(buf, "restartinator_device_state{"...)
				buf = append(buf, v.d.labels.device...)
				buf = append(buf, `,state="`...)
				buf = append(buf, st...)
				if i == v.state {
					buf = append(buf, "\"} 1\n"...)
				} else {
					buf = append(buf, "\"} 0\n"...)
				}
			}
			flush(false)
		}
	}
	buf = append(buf, helpFailures...)
	for _, v := range vs {
		buf = line(buf, "restartinator_device_consecutive_failures{", v.d.labels.device, int64(v.failures))
		flush(false)
	}
	if anyProbed {
		buf = append(buf, helpUp...)
		for _, v := range vs {
			if v.probed {
				up := int64(0)
				if v.up {
					up = 1
				}
				buf = line(buf, "restartinator_device_up{", v.d.labels.device, up)
				flush(false)
			}
		}
		buf = append(buf, helpDuration...)
		for _, v := range vs {
			if v.probed {
				buf = append(buf, "restartinator_device_probe_duration_seconds{"...)
				buf = append(buf, v.d.labels.device...)
				buf = append(buf, "} "...)
				buf = appendFloat(buf, v.duration)
				buf = append(buf, '\n')
				flush(false)
			}
		}
	}
	if anyPaused {
		buf = append(buf, helpPaused...)
		for _, v := range vs {
			if v.paused >= 0 {
				buf = line(buf, "restartinator_device_paused{", v.d.labels.device, v.paused)
			}
		}
	}
	if anyTargets {
		buf = append(buf, helpTargetUp...)
		for _, v := range vs {
			for i, r := range v.targets {
				up := int64(0)
				if r.Success {
					up = 1
				}
				buf = line(buf, "restartinator_device_target_up{", v.d.labels.targets[i], up)
			}
		}
		buf = append(buf, helpTargetD...)
		for _, v := range vs {
			for i, r := range v.targets {
				buf = append(buf, "restartinator_device_target_probe_duration_seconds{"...)
				buf = append(buf, v.d.labels.targets[i]...)
				buf = append(buf, "} "...)
				buf = appendFloat(buf, r.Duration.Seconds())
				buf = append(buf, '\n')
			}
		}
	}
	if anyReboot {
		buf = append(buf, helpReboot...)
		for _, v := range vs {
			if v.nextReboot != 0 {
				buf = line(buf, "restartinator_device_next_scheduled_reboot_timestamp_seconds{", v.d.labels.device, v.nextReboot)
				flush(false)
			}
		}
	}
	flush(true)
	return err
}

func line(buf []byte, name, labels string, v int64) []byte {
	buf = append(buf, name...)
	buf = append(buf, labels...)
	buf = append(buf, "} "...)
	buf = strconv.AppendInt(buf, v, 10)
	return append(buf, '\n')
}

// appendFloat writes v as client_golang's text encoder does.
func appendFloat(buf []byte, v float64) []byte {
	switch v {
	case 0:
		return append(buf, '0')
	case 1:
		return append(buf, '1')
	}
	return strconv.AppendFloat(buf, v, 'g', -1, 64)
}
