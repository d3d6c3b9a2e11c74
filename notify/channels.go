package notify

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/restartinator/restartinator/internal/event"
)

// Channels is every configured channel's pipeline behind one
// event.Notifier: Notify hands the event to each enabled channel (which
// only queues it), Run runs each channel's delivery loop on a goroutine of
// its own, Flush flushes them all at once.
type Channels struct {
	mu      sync.Mutex
	order   []*Pipeline
	enabled map[string]bool
	ctx     context.Context // set by Run: channels added later start at once
	wg      sync.WaitGroup
}

var _ event.Notifier = (*Channels)(nil)

// NewChannels returns an empty set.
func NewChannels() *Channels { return &Channels{enabled: map[string]bool{}} }

// Get returns the pipeline of the named channel, enabled or not.
func (c *Channels) Get(name string) *Pipeline {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.order {
		if p.name == name {
			return p
		}
	}
	return nil
}

// Put adds p, or enables it again, and starts its loop when Run is running.
func (c *Channels) Put(p *Pipeline) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enabled[p.name] = true
	p.mu.Lock()
	p.tell = c.Tell
	p.mu.Unlock()
	for _, q := range c.order {
		if q == p {
			return
		}
	}
	c.order = append(c.order, p)
	if c.ctx != nil {
		c.start(p)
	}
}

// Keep disables every channel not named: it gets no new events but still
// delivers what it has queued (a reload that removes a channel loses
// nothing already promised).
func (c *Channels) Keep(names map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := range c.enabled {
		if !names[n] {
			c.enabled[n] = false
		}
	}
}

// Enabled lists the enabled channels, in the order they were added.
func (c *Channels) Enabled() []*Pipeline {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Pipeline
	for _, p := range c.order {
		if c.enabled[p.name] {
			out = append(out, p)
		}
	}
	return out
}

func (c *Channels) all() []*Pipeline {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Pipeline(nil), c.order...)
}

// Notify queues e on every enabled channel; it never blocks on the network.
func (c *Channels) Notify(e event.Event) {
	for _, p := range c.Enabled() {
		p.Notify(e)
	}
}

// Tell hands a channel_* event about e.Channel to every other enabled
// channel (never to that channel itself). Pipelines call it when their
// health changes; the MQTT connection, which is not a pipeline, too.
func (c *Channels) Tell(e event.Event) {
	for _, p := range c.Enabled() {
		if p.name != e.Channel {
			p.Notify(e)
		}
	}
}

// Run runs every channel's delivery loop until ctx ends.
func (c *Channels) Run(ctx context.Context) {
	c.mu.Lock()
	c.ctx = ctx
	for _, p := range c.order {
		c.start(p)
	}
	c.mu.Unlock()
	<-ctx.Done()
	c.wg.Wait()
}

func (c *Channels) start(p *Pipeline) {
	if c.ctx.Err() != nil {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		p.Run(c.ctx)
	}()
}

// Flush flushes every channel at once (a dead one does not use up another's
// time) and joins what each says is left.
func (c *Channels) Flush(ctx context.Context) error {
	ps := c.all()
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() {
			if err := p.Flush(ctx); err != nil {
				errs[i] = &ChannelError{Channel: p.name, Err: err}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Statuses is every channel's delivery state, in order.
func (c *Channels) Statuses() []Status {
	var out []Status
	for _, p := range c.Enabled() {
		out = append(out, p.Status())
	}
	return out
}

// Collector exports every channel's metrics, under its name.
func (c *Channels) Collector() prometheus.Collector { return collector(c.all) }

// ChannelError is an error of one channel, prefixed with its name.
type ChannelError struct {
	Channel string
	Err     error
}

func (e *ChannelError) Error() string { return e.Channel + ": " + e.Err.Error() }
func (e *ChannelError) Unwrap() error { return e.Err }
