package hostreset

import (
	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "restartinator"

// Metrics counts host reset attempts and failures. Register it once and hand
// the same Metrics to every Resetter built on a config reload, so the
// counters survive the reload.
type Metrics struct {
	resets   *prometheus.CounterVec
	failures *prometheus.CounterVec
}

// NewMetrics builds the host reset counters.
func NewMetrics() *Metrics {
	return &Metrics{
		resets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prometheus.BuildFQName(namespace, "", "host_resets_total"),
			Help: "Host hard-reset attempts, by method (watchdog, rtc) and trigger (file, webhook, manual).",
		}, []string{"method", "trigger"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prometheus.BuildFQName(namespace, "", "host_reset_failures_total"),
			Help: "Host hard-reset attempts that failed, or after which the host was still alive well past the watchdog timeout.",
		}, []string{"method"}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.resets.Describe(ch)
	m.failures.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.resets.Collect(ch)
	m.failures.Collect(ch)
}

// init makes the failure series of the methods in use exist at zero, so an
// alert on increase() sees the first failure.
func (m *Metrics) init(methods ...string) {
	for _, method := range methods {
		if method != "" {
			m.failures.WithLabelValues(method)
		}
	}
}
