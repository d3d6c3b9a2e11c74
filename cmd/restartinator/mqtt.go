package main

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/version"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/notify/mqtt"
)

// mqttLink keeps the MQTT publisher in step with the config: started when
// an mqtt: section appears, replaced when it changes, stopped when it goes.
// It is in the app's event fan-out whether or not MQTT is configured.
type mqttLink struct {
	ctx     context.Context
	app     *app
	logger  *slog.Logger
	clock   clock.Clock
	metrics *mqtt.Metrics

	// pub is read by Notify without a lock: a reload that waits for the
	// old connection to close must never hold up an event.
	pub atomic.Pointer[mqtt.Publisher]

	mu      sync.Mutex // serialises apply, start and stop
	cfg     *config.MQTTConfig
	digest  string // of the files cfg names (mqtt.FilesDigest)
	started bool
}

func newMQTTLink(ctx context.Context, a *app, logger *slog.Logger, clk clock.Clock) *mqttLink {
	return &mqttLink{ctx: ctx, app: a, logger: logger, clock: clk, metrics: mqtt.NewMetrics()}
}

func (l *mqttLink) Notify(e event.Event) {
	if p := l.pub.Load(); p != nil {
		p.Notify(e)
	}
}

func (l *mqttLink) options() mqtt.Options {
	return mqtt.Options{Source: l.app, Metrics: l.metrics, Logger: l.logger, Clock: l.clock, Version: version.Version,
		Tell: l.app.notifier.tell,
		Cycle: func(device string) mqtt.CycleAnswer {
			a := l.app.manualCycle(device)
			return mqtt.CycleAnswer{Status: a.Status, Device: a.Device, Next: a.Next, Error: a.Error}
		}}
}

// check validates what the config package cannot (TLS files, the password
// file's contents) before any part of a new config is applied.
func (l *mqttLink) check(c *config.MQTTConfig) error {
	if c == nil {
		return nil
	}
	return mqtt.Check(c, nil, nil, nil)
}

// apply starts, replaces or stops the publisher. An unchanged section
// keeps the connection: devices that come and go reach the broker through
// the publisher's own comparison of snapshots.
func (l *mqttLink) apply(c *config.MQTTConfig) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	digest := ""
	if c != nil {
		digest = mqtt.FilesDigest(c)
	}
	// The files count too: a CA or certificate replaced under the same
	// name is what fixing a TLS error usually looks like.
	if reflect.DeepEqual(c, l.cfg) && digest == l.digest {
		return nil
	}
	var next *mqtt.Publisher
	if c != nil {
		var err error
		if next, err = mqtt.New(c, l.options()); err != nil {
			return err
		}
	}
	// The old connection closes before the new one opens: both may use
	// the same client id, and a broker drops the older of two.
	if old := l.pub.Swap(next); old != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := old.Stop(ctx); err != nil {
			l.logger.Warn("stopping the old MQTT connection", "err", err)
		}
		cancel()
	}
	l.cfg, l.digest = c, digest
	if next != nil && l.started {
		next.Start(l.ctx)
	}
	return nil
}

// start connects, once the first config is applied.
func (l *mqttLink) start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.started = true
	if p := l.pub.Load(); p != nil {
		p.Start(l.ctx)
	}
}

// stop says "offline" and disconnects.
func (l *mqttLink) stop(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.pub.Load(); p != nil {
		return p.Stop(ctx)
	}
	return nil
}
