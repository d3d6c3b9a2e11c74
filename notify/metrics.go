package notify

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/restartinator/restartinator/config"
)

const namespace = "restartinator"

// metrics are the mailer's counters, kept under Mailer.mu and exported by a
// collector with descriptors built once.
type metrics struct {
	sent, failed, dropped map[string]float64 // by event kind

	sentDesc, failedDesc, droppedDesc, queueDesc *prometheus.Desc
}

func newMetrics() *metrics {
	m := &metrics{
		sent:    map[string]float64{},
		failed:  map[string]float64{},
		dropped: map[string]float64{},
		sentDesc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "notifications_total"),
			"Notifications delivered, by channel and the kind of event they report (a mail reporting several kinds counts once for each).",
			[]string{"channel", "event"}, nil),
		failedDesc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "notification_failures_total"),
			"Failed notification delivery attempts, by channel and event kind; failed mail is retried.",
			[]string{"channel", "event"}, nil),
		droppedDesc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "notifications_dropped_total"),
			"Notifications given up on: dropped as the oldest from a full queue, or refused by the server for good.",
			[]string{"channel", "event"}, nil),
		queueDesc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "notification_queue_length"),
			"Mails waiting for delivery, by channel.",
			[]string{"channel"}, nil),
	}
	// Every kind starts at zero so rate() and absent() work from the start.
	for _, k := range config.Events {
		m.sent[k], m.failed[k], m.dropped[k] = 0, 0, 0
	}
	return m
}

func (m *metrics) add(c map[string]float64, kinds []string) {
	for _, k := range kinds {
		c[k]++
	}
}

// Collector exports the mailer's metrics.
func (m *Mailer) Collector() prometheus.Collector { return collector{m} }

type collector struct{ m *Mailer }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	mt := c.m.metrics
	ch <- mt.sentDesc
	ch <- mt.failedDesc
	ch <- mt.droppedDesc
	ch <- mt.queueDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	mt := c.m.metrics
	for _, s := range []struct {
		desc *prometheus.Desc
		vals map[string]float64
	}{{mt.sentDesc, mt.sent}, {mt.failedDesc, mt.failed}, {mt.droppedDesc, mt.dropped}} {
		for kind, v := range s.vals {
			ch <- prometheus.MustNewConstMetric(s.desc, prometheus.CounterValue, v, channelEmail, kind)
		}
	}
	ch <- prometheus.MustNewConstMetric(mt.queueDesc, prometheus.GaugeValue, float64(len(c.m.queue)), channelEmail)
}
