package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/internal/state"
	"github.com/restartinator/restartinator/notify"
)

// notifier logs every event and hands it to the mailer when email is
// configured. The mailer is created on the first config that has email and
// updated on reload, keeping its queue.
type notifier struct {
	logger      *slog.Logger
	store       *state.Store
	clock       clock.Clock
	externalURL string
	ctx         context.Context

	mu      sync.Mutex
	mailer  *notify.Mailer
	enabled bool
	running bool
	col     *lazyCollector
}

func (n *notifier) Notify(e event.Event) {
	n.logger.Info("event", "kind", e.Kind, "device", e.Device, "plug", e.Plug, "state", e.State, "detail", e.Detail, "next", e.Next)
	n.mu.Lock()
	m, on := n.mailer, n.enabled
	n.mu.Unlock()
	if m != nil && on {
		m.Notify(e)
	}
}

func (n *notifier) apply(cfg *config.EmailConfig) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if cfg == nil {
		n.enabled = false
		return nil
	}
	if n.mailer != nil {
		if err := n.mailer.Update(cfg); err != nil {
			return err
		}
		n.enabled = true
		return nil
	}
	m, err := notify.New(cfg, notify.Options{Logger: n.logger, Clock: n.clock, Store: n.store, ExternalURL: n.externalURL})
	if err != nil {
		return err
	}
	n.mailer, n.enabled = m, true
	n.collector().set(m.Collector())
	if n.running {
		go m.Run(n.ctx)
	}
	return nil
}

func (n *notifier) run() {
	n.mu.Lock()
	n.running = true
	m := n.mailer
	n.mu.Unlock()
	if m != nil {
		m.Run(n.ctx)
	}
}

func (n *notifier) flush(ctx context.Context) error {
	n.mu.Lock()
	m := n.mailer
	n.mu.Unlock()
	if m == nil {
		return nil
	}
	return m.Flush(ctx)
}

func (n *notifier) collector() *lazyCollector {
	if n.col == nil {
		n.col = &lazyCollector{}
	}
	return n.col
}

func (n *notifier) metrics() prometheus.Collector {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.collector()
}

// lazyCollector forwards to the mailer's collector once there is one, so
// the registry needs no re-registration when email is configured later.
type lazyCollector struct {
	mu sync.Mutex
	c  prometheus.Collector
}

func (l *lazyCollector) set(c prometheus.Collector) {
	l.mu.Lock()
	l.c = c
	l.mu.Unlock()
}

// Describe sends nothing: the collector is unchecked, since its metrics
// appear only once email is configured.
func (l *lazyCollector) Describe(chan<- *prometheus.Desc) {}

func (l *lazyCollector) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	c := l.c
	l.mu.Unlock()
	if c != nil {
		c.Collect(ch)
	}
}
