package notify

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/restartinator/restartinator/config"
)

const namespace = "restartinator"

// Descriptors, built once; every channel reports under its name.
var (
	sentDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "notifications_total"),
		"Notifications delivered, by channel and the kind of event they report (a message reporting several kinds counts once for each).",
		[]string{"channel", "event"}, nil)
	failedDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "notification_failures_total"),
		"Failed notification delivery attempts, by channel and event kind; a failed notification is retried unless the channel refused it for good.",
		[]string{"channel", "event"}, nil)
	droppedDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "notifications_dropped_total"),
		"Notifications given up on: dropped as the oldest from a full queue, or refused by the server for good.",
		[]string{"channel", "event"}, nil)
	queueDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "notification_queue_length"),
		"Notifications waiting for delivery, by channel.",
		[]string{"channel"}, nil)
)

// metrics are a pipeline's counters, kept under Pipeline.mu.
type metrics struct {
	sent, failed, dropped map[string]float64 // by event kind
}

func newMetrics() *metrics {
	m := &metrics{
		sent:    map[string]float64{},
		failed:  map[string]float64{},
		dropped: map[string]float64{},
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

// Collector exports this pipeline's metrics alone.
func (p *Pipeline) Collector() prometheus.Collector {
	return collector(func() []*Pipeline { return []*Pipeline{p} })
}

// collector exports the metrics of the pipelines it is given at each scrape.
type collector func() []*Pipeline

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- sentDesc
	ch <- failedDesc
	ch <- droppedDesc
	ch <- queueDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c() {
		p.collect(ch)
	}
}

func (p *Pipeline) collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range []struct {
		desc *prometheus.Desc
		vals map[string]float64
	}{{sentDesc, p.metrics.sent}, {failedDesc, p.metrics.failed}, {droppedDesc, p.metrics.dropped}} {
		for kind, v := range s.vals {
			ch <- prometheus.MustNewConstMetric(s.desc, prometheus.CounterValue, v, p.name, kind)
		}
	}
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(len(p.queue)), p.name)
}
