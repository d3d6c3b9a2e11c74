package webhook

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/restartinator/restartinator/config"
)

const namespace = "restartinator"

// action is what a route does; actNone is an alert no route matched.
type action uint8

const (
	actNone action = iota
	actCycle
	actHostReset
	actNotify
	numActions
)

var actionNames = [numActions]string{actNone: "none", actCycle: config.ActionCycle, actHostReset: config.ActionHostReset, actNotify: config.ActionNotify}

func (a action) String() string { return actionNames[a] }

// result is what became of one alert, as in the response body and the
// result label.
type result uint8

const (
	resStarted result = iota
	resDuplicate
	resAlreadyCycling
	resCycledByPeer
	resUnknownDevice
	resNoRoute
	resResolved
	resMissingLabel
	resFailed
	resNotified
	resHostReset
	resTruncated
	numResults
)

var resultNames = [numResults]string{
	resStarted:        "started",
	resDuplicate:      "duplicate",
	resAlreadyCycling: "already_cycling",
	resCycledByPeer:   "cycled_by_peer",
	resUnknownDevice:  "unknown_device",
	resNoRoute:        "no_route",
	resResolved:       "resolved",
	resMissingLabel:   "missing_label",
	resFailed:         "failed",
	resNotified:       "notified",
	resHostReset:      "host_reset",
	resTruncated:      "truncated",
}

func (r result) String() string { return resultNames[r] }

// tally counts one request's alerts by action and result, so the shared
// counters are touched once per pair instead of once per alert.
type tally [numActions][numResults]int

// metrics are the webhook's counters. They live with the Handler, so a config
// reload (SetConfig) keeps them.
type metrics struct {
	requests *prometheus.CounterVec
	alerts   *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prometheus.BuildFQName(namespace, "", "webhook_requests_total"),
			Help: "Alertmanager webhook requests, by HTTP status code of the reply.",
		}, []string{"status"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prometheus.BuildFQName(namespace, "", "webhook_alerts_total"),
			Help: "Alerts received through the webhook, by route action (none when no route matched) and result.",
		}, []string{"action", "result"}),
	}
	// Export the common series from 0, so increase() sees the first one.
	for _, code := range []string{"200", "400", "413", "503"} {
		m.requests.WithLabelValues(code)
	}
	for a, results := range map[action][]result{
		actNone:      {resNoRoute},
		actCycle:     {resStarted, resDuplicate, resAlreadyCycling, resCycledByPeer, resUnknownDevice, resResolved, resMissingLabel, resFailed, resTruncated},
		actHostReset: {resHostReset, resDuplicate, resResolved, resFailed, resTruncated},
		actNotify:    {resNotified, resDuplicate, resResolved, resTruncated},
	} {
		for _, r := range results {
			m.alerts.WithLabelValues(a.String(), r.String())
		}
	}
	return m
}

func (m *metrics) add(t *tally) {
	for a := range t {
		for r, n := range t[a] {
			if n > 0 {
				m.alerts.WithLabelValues(action(a).String(), result(r).String()).Add(float64(n))
			}
		}
	}
}

// Describe implements prometheus.Collector.
func (h *Handler) Describe(ch chan<- *prometheus.Desc) {
	h.metrics.requests.Describe(ch)
	h.metrics.alerts.Describe(ch)
}

// Collect implements prometheus.Collector.
func (h *Handler) Collect(ch chan<- prometheus.Metric) {
	h.metrics.requests.Collect(ch)
	h.metrics.alerts.Collect(ch)
}
