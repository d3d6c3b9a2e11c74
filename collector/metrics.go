package collector

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/restartinator/restartinator/config"
)

var probeTypes = []string{config.ProbeTCP, config.ProbeHTTP, config.ProbeICMP, config.ProbePower}

// probeCounters count probes by type without a lock on the probe path.
type probeCounters struct {
	total, failures [4]atomic.Uint64
}

func typeIndex(t string) int {
	for i, p := range probeTypes {
		if p == t {
			return i
		}
	}
	return 0
}

func (s *Supervisor) countProbe(typ string, ok bool) {
	i := typeIndex(typ)
	s.probes.total[i].Add(1)
	if !ok {
		s.probes.failures[i].Add(1)
	}
}

// metrics holds the descriptors, built once.
type metrics struct {
	up, duration, failures, state, info, probes, probeFailures, holding, dryRun, nextReboot *prometheus.Desc
}

func newMetrics() *metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("restartinator", "", name), help, labels, nil)
	}
	return &metrics{
		up:            d("device_up", "Whether the device answered its last probe (1) or not (0).", "device"),
		duration:      d("device_probe_duration_seconds", "How long the device's last probe took.", "device"),
		failures:      d("device_consecutive_failures", "Failed probes in a row.", "device"),
		state:         d("device_state", "The device's supervisor state: 1 for the current one.", "device", "state"),
		info:          d("device_info", "What a device is and how it is watched.", "device", "plug", "outlet", "mode", "probe"),
		probes:        d("probes_total", "Probes run, by probe type.", "type"),
		probeFailures: d("probe_failures_total", "Probes that failed, by probe type.", "type"),
		holding:       d("guard_holding", "1 while the guard holds every automatic power cycle."),
		dryRun:        d("dry_run", "1 when dry run is on: decisions are logged, power is never switched."),
		nextReboot:    d("device_next_scheduled_reboot_timestamp_seconds", "When the device's scheduled reboot is due.", "device"),
	}
}

// initDevice is a no-op kept for symmetry with the Cycler's counters: device
// metrics are computed at scrape time.
func (m *metrics) initDevice(*device) {}

// Describe and Collect make the Supervisor a prometheus.Collector: values are
// read from the state machines at scrape time.
func (s *Supervisor) Describe(ch chan<- *prometheus.Desc) {
	m := s.metrics
	for _, d := range []*prometheus.Desc{m.up, m.duration, m.failures, m.state, m.info, m.probes, m.probeFailures, m.holding, m.dryRun, m.nextReboot} {
		ch <- d
	}
}

func (s *Supervisor) Collect(ch chan<- prometheus.Metric) {
	m := s.metrics
	for i, t := range probeTypes {
		ch <- prometheus.MustNewConstMetric(m.probes, prometheus.CounterValue, float64(s.probes.total[i].Load()), t)
		ch <- prometheus.MustNewConstMetric(m.probeFailures, prometheus.CounterValue, float64(s.probes.failures[i].Load()), t)
	}
	holding := 0.0
	if s.holding() != "" {
		holding = 1
	}
	ch <- prometheus.MustNewConstMetric(m.holding, prometheus.GaugeValue, holding)
	dry := 0.0
	if s.opt.Cycler != nil && s.opt.Cycler.DryRun() {
		dry = 1
	}
	ch <- prometheus.MustNewConstMetric(m.dryRun, prometheus.GaugeValue, dry)

	s.mu.RLock()
	devices := make([]*device, 0, len(s.devices))
	for _, d := range s.devices {
		devices = append(devices, d)
	}
	s.mu.RUnlock()
	for _, d := range devices {
		name := d.cfg.Name
		ch <- prometheus.MustNewConstMetric(m.info, prometheus.GaugeValue, 1, name, d.cfg.Plug, d.cfg.Outlet, d.cfg.Mode, d.prober.Type())
		d.mu.Lock()
		state, probed, res, failures, next := d.state, d.probed, d.lastProbe, d.failures, d.nextReboot
		d.mu.Unlock()
		for _, st := range States {
			v := 0.0
			if st == state {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(m.state, prometheus.GaugeValue, v, name, st)
		}
		ch <- prometheus.MustNewConstMetric(m.failures, prometheus.GaugeValue, float64(failures), name)
		if !next.IsZero() {
			ch <- prometheus.MustNewConstMetric(m.nextReboot, prometheus.GaugeValue, float64(next.Unix()), name)
		}
		if !probed {
			continue
		}
		up := 0.0
		if res.Success {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(m.up, prometheus.GaugeValue, up, name)
		ch <- prometheus.MustNewConstMetric(m.duration, prometheus.GaugeValue, res.Duration.Seconds(), name)
	}
}
