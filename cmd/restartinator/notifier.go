package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/internal/state"
	"github.com/restartinator/restartinator/notify"
	"github.com/restartinator/restartinator/notify/channels"
)

// notifier logs every event and hands it to every configured notification
// channel. A channel's pipeline is made on the first config that has it
// and updated on reload, keeping its queue; a channel a reload removes gets
// no new events but still delivers what it had queued.
type notifier struct {
	logger      *slog.Logger
	store       *state.Store
	clock       clock.Clock
	externalURL string
	ctx         context.Context

	chans  *notify.Channels
	warned map[string]bool   // orphaned queues already reported
	kinds  map[string]string // each channel's kind (email, webhook, ntfy ...)
}

func (n *notifier) set() *notify.Channels {
	if n.chans == nil {
		n.chans = notify.NewChannels()
	}
	return n.chans
}

func (n *notifier) Notify(e event.Event) {
	n.logger.Info("event", "kind", e.Kind, "device", e.Device, "plug", e.Plug, "state", e.State, "detail", e.Detail, "next", e.Next)
	n.set().Notify(e)
}

// tell hands a channel_* event to every channel but the one it is about.
func (n *notifier) tell(e event.Event) {
	n.logger.Info("event", "kind", e.Kind, "channel", e.Channel, "detail", e.Detail)
	n.set().Tell(e)
}

// apply builds every channel first, so a config with one bad channel
// changes none.
func (n *notifier) apply(cfg *config.NotificationsConfig) error {
	built, err := channels.Build(cfg, channels.Options{Logger: n.logger})
	if err != nil {
		return err
	}
	set := n.set()
	if n.kinds == nil {
		n.kinds = map[string]string{}
	}
	keep := map[string]bool{}
	for _, c := range built {
		keep[c.Name] = true
		if p := set.Get(c.Name); p != nil {
			if old := n.kinds[c.Name]; old != "" && old != c.Kind {
				if q := len(p.Status().Queue); q > 0 {
					n.logger.Warn("a reload changed this channel's kind; the messages it had queued were composed for the old kind and go out as they are",
						"channel", c.Name, "was", old, "now", c.Kind, "queued", q)
				}
			}
			n.kinds[c.Name] = c.Kind
			p.Update(c.Sender, c.Settings)
			set.Put(p)
			continue
		}
		var store notify.Store
		if n.store != nil {
			store = n.store
		}
		n.kinds[c.Name] = c.Kind
		set.Put(notify.NewPipeline(c.Name, c.Sender, c.Settings, notify.Options{
			Logger: n.logger, Clock: n.clock, Store: store, ExternalURL: n.externalURL}))
	}
	set.Keep(keep)
	n.warnOrphans(keep)
	return nil
}

// warnOrphans says when the state file holds a queue for a channel the
// config no longer has (renamed or removed while messages were waiting):
// they are kept, and go out if the channel comes back under that name.
func (n *notifier) warnOrphans(configured map[string]bool) {
	if n.store == nil {
		return
	}
	for _, ch := range n.store.QueueChannels() {
		if configured[ch] || n.set().Get(ch) != nil || n.warned[ch] {
			continue
		}
		b, _ := n.store.LoadQueue(ch)
		msgs, pending, err := notify.DecodeQueue(b)
		if err != nil || len(msgs)+len(pending) == 0 {
			continue
		}
		if n.warned == nil {
			n.warned = map[string]bool{}
		}
		n.warned[ch] = true
		n.logger.Warn("the state file holds queued notifications for a channel the config does not have; they are kept and go out if a channel of that name comes back",
			"channel", ch, "messages", len(msgs), "events", len(pending))
	}
}

func (n *notifier) run() { n.set().Run(n.ctx) }

func (n *notifier) flush(ctx context.Context) error { return n.set().Flush(ctx) }

func (n *notifier) metrics() prometheus.Collector { return n.set().Collector() }

// statuses is each enabled channel's delivery state, for the status page.
func (n *notifier) statuses() []notify.Status { return n.set().Statuses() }

// NotificationChannels is the status page's list of channels.
func (a *app) NotificationChannels() []notify.Status { return a.notifier.statuses() }

// channelStatus is a notification channel in api/v1/devices: whether it
// delivers, never what it queued.
type channelStatus struct {
	Name         string     `json:"name"`
	Failures     int        `json:"failures"`
	NextAttempt  *time.Time `json:"next_attempt,omitempty"`
	LastDelivery *time.Time `json:"last_delivery,omitempty"`
	LastFailure  *time.Time `json:"last_failure,omitempty"`
	LastError    string     `json:"last_error,omitempty"`
	Queued       int        `json:"queued"`
}

func (a *app) channelStatuses() []channelStatus { return channelStatuses(a.notifier.statuses()) }

func channelStatuses(list []notify.Status) []channelStatus {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	var out []channelStatus
	for _, s := range list {
		out = append(out, channelStatus{Name: s.Channel, Failures: s.Failures, NextAttempt: opt(s.NextAttempt),
			LastDelivery: opt(s.LastDelivery), LastFailure: opt(s.LastFailure), LastError: s.LastError, Queued: len(s.Queue)})
	}
	return out
}
