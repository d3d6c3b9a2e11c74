package mqtt

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the MQTT link's; one set lives across reloads, whichever
// publisher is current.
type Metrics struct {
	Connected         prometheus.Gauge
	Published         prometheus.Counter
	PublishFailures   prometheus.Counter
	ConnectionAttempt *prometheus.CounterVec
}

// NewMetrics returns the metrics; register them with Collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		Connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "restartinator", Name: "mqtt_connected",
			Help: "Whether restartinator is connected to the MQTT broker (1) or not (0).",
		}),
		Published: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "restartinator", Name: "mqtt_messages_published_total",
			Help: "MQTT messages the broker accepted (state, discovery, events, command answers).",
		}),
		PublishFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "restartinator", Name: "mqtt_publish_failures_total",
			Help: "MQTT messages that could not be published (not connected, timed out, or dropped from a full queue); retained state is published again once connected.",
		}),
		ConnectionAttempt: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "restartinator", Name: "mqtt_connection_attempts_total",
			Help: "Attempts to connect to the MQTT broker, by result (ok, refused (login), tls (a certificate not accepted either way), unreachable).",
		}, []string{"result"}),
	}
}

// Describe and Collect make Metrics a prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.Connected.Describe(ch)
	m.Published.Describe(ch)
	m.PublishFailures.Describe(ch)
	m.ConnectionAttempt.Describe(ch)
}

func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.Connected.Collect(ch)
	m.Published.Collect(ch)
	m.PublishFailures.Collect(ch)
	m.ConnectionAttempt.Collect(ch)
}
