package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
)

const (
	// KindTest labels the metrics of "notify test" messages.
	KindTest = "test"

	// Retry backoff after a failed attempt: 5s, 10s, 20s ... up to 5m.
	minBackoff = 5 * time.Second
	maxBackoff = 5 * time.Minute
	// MaxBatchEvents closes a burst early: one message lists at most this many.
	MaxBatchEvents = 100
)

// Sender is one channel's integration: it renders a burst into a message
// and makes one delivery attempt. Everything else (coalescing, the queue,
// retries, persistence, the shutdown flush) is the Pipeline's, written once.
type Sender interface {
	// Compose renders the data of a burst into a title and a body. It does
	// not fail: a template that fails on real data falls back to the
	// defaults, so the operator still hears what happened.
	Compose(d *Data) (title, body string)
	// Notify makes one attempt at msgs (at most Settings.Batch of them)
	// before ctx ends and returns one Result per message, in order.
	Notify(ctx context.Context, msgs []*Message) []Result
}

// Result is one message's outcome in an attempt (Alertmanager's
// Notify(ctx, ...) (retry bool, err error)): Err nil is delivered; Retry
// says whether trying the same message again may help.
type Result struct {
	Retry bool
	Err   error
}

// Failed is the Result of every message in an attempt that failed as a
// whole (no connection, a timeout).
func Failed(n int, retry bool, err error) []Result {
	out := make([]Result, n)
	for i := range out {
		out[i] = Result{Retry: retry, Err: err}
	}
	return out
}

// Settings are a channel's delivery settings: what its config says about
// the queue, and what its sender says about batching and refusals.
type Settings struct {
	// Events limits which event kinds go out; empty means all.
	Events []string
	// CoalesceWindow gathers events that arrive close together into one
	// message; 0 sends them as they come.
	CoalesceWindow time.Duration
	// QueueSize bounds the queue; when full the oldest message is dropped.
	QueueSize int
	// Timeout bounds one attempt.
	Timeout time.Duration
	// Batch is how many queued messages one attempt carries (default 1).
	Batch int
	// MaxRejections drops a message refused (Retry false) this often
	// (default 1: at once).
	MaxRejections int
	// Noun and Nouns name a message in logs and errors ("email", "emails");
	// default "message", "messages".
	Noun, Nouns string
}

func (s Settings) withDefaults() Settings {
	if s.Batch < 1 {
		s.Batch = 1
	}
	if s.MaxRejections < 1 {
		s.MaxRejections = 1
	}
	if s.QueueSize < 1 {
		s.QueueSize = 1
	}
	if s.Timeout <= 0 {
		s.Timeout = 30 * time.Second
	}
	if s.Noun == "" {
		s.Noun, s.Nouns = "message", "messages"
	}
	return s
}

func (s Settings) wants(k event.Kind) bool {
	return len(s.Events) == 0 || slices.Contains(s.Events, string(k))
}

// Options are what a Pipeline needs besides its sender and settings.
type Options struct {
	Logger *slog.Logger
	// Clock times the coalescing window and the retry backoff.
	Clock clock.Clock
	// Store keeps the queue across restarts; nil keeps it in memory only.
	Store Store
	// ExternalURL is the status page, from --web.external-url.
	ExternalURL string
	// Hostname names this host in messages; empty means os.Hostname.
	Hostname string
}

// Pipeline delivers one channel's notifications. Notify only queues, so it
// never holds up a probe or a cycle; Run delivers with retries; Flush
// delivers what it can on shutdown and keeps the rest in the Store. Each
// channel has a Pipeline of its own, so one channel being down or slow never
// delays another.
type Pipeline struct {
	name        string
	logger      *slog.Logger
	clock       clock.Clock
	store       Store
	hostname    string
	externalURL string
	wake        chan struct{}

	// sendSem allows one delivery attempt at a time (Run, Flush,
	// SendTest); a channel, so a flush gives up waiting for an attempt
	// that hangs when its context ends.
	sendSem chan struct{}
	saveMu  sync.Mutex // saves in order

	mu            sync.Mutex
	sender        Sender
	s             Settings
	metrics       *metrics
	pending       []event.Event // the burst being gathered
	batchDeadline time.Time     // when the burst becomes a message
	queue         []*Message
	seq           uint64
	failures      int // consecutive failed attempts
	nextAttempt   time.Time
	lastErr       error
	lastDelivery  time.Time
	lastFailure   time.Time
	dirty         bool          // queue changed since the last save
	stepped       chan struct{} // closed after each pass of Run's loop (tests wait on it)
	// health decides when the other channels hear that this one fails
	// and works again; tell (set by Channels) is how they hear it.
	health outage
	tell   func(event.Event)
}

var _ event.Notifier = (*Pipeline)(nil)

// NewPipeline makes channel name's pipeline and restores its queue from
// opts.Store.
func NewPipeline(name string, sender Sender, s Settings, opts Options) *Pipeline {
	p := &Pipeline{
		name:        name,
		logger:      opts.Logger,
		clock:       opts.Clock,
		store:       opts.Store,
		hostname:    opts.Hostname,
		externalURL: opts.ExternalURL,
		wake:        make(chan struct{}, 1),
		sendSem:     make(chan struct{}, 1),
		sender:      sender,
		s:           s.withDefaults(),
		metrics:     newMetrics(),
		stepped:     make(chan struct{}),
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	p.logger = p.logger.With("channel", name)
	if p.clock == nil {
		p.clock = clock.Real{}
	}
	if p.hostname == "" {
		p.hostname, _ = os.Hostname()
	}
	p.restore()
	return p
}

// Name is the channel's name, its metrics' channel label.
func (p *Pipeline) Name() string { return p.name }

// Hostname is the host named in messages.
func (p *Pipeline) Hostname() string { return p.hostname }

// Update swaps in a new sender and settings (on reload) and keeps the queue.
func (p *Pipeline) Update(sender Sender, s Settings) {
	p.mu.Lock()
	p.sender, p.s = sender, s.withDefaults()
	p.trimLocked()
	// New settings may be the fix: try them now rather than after the backoff.
	p.failures, p.nextAttempt = 0, time.Time{}
	p.mu.Unlock()
	p.poke()
}

// Notify queues e if the channel's events filter lets it through. It never
// blocks on the network.
func (p *Pipeline) Notify(e event.Event) {
	e.Labels = maps.Clone(e.Labels)
	if e.Reading != nil {
		r := *e.Reading
		e.Reading = &r
	}
	p.mu.Lock()
	if !p.s.wants(e.Kind) {
		p.mu.Unlock()
		return
	}
	now := p.clock.Now()
	if e.Time.IsZero() {
		e.Time = now
	}
	if len(p.pending) == 0 {
		p.batchDeadline = now.Add(p.s.CoalesceWindow)
	}
	p.pending = append(p.pending, e)
	if len(p.pending) >= MaxBatchEvents {
		// Close a huge burst here (rendering only, no network), so memory
		// stays bounded by queue_size even while Run is busy or not running.
		p.closeBatchLocked()
	}
	p.mu.Unlock()
	p.poke()
}

func (p *Pipeline) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run delivers queued messages until ctx ends: bursts become one message
// after the coalesce window, failed attempts are retried with backoff.
func (p *Pipeline) Run(ctx context.Context) {
	timer := p.clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		p.step(ctx)
		if wait, ok := p.nextWake(); ok {
			timer.Reset(wait)
		}
		p.signalStep()
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-timer.C():
		}
		timer.Stop()
	}
}

// step closes a burst whose window has passed, delivers what is due and
// saves the queue if it changed.
func (p *Pipeline) step(ctx context.Context) {
	p.mu.Lock()
	if len(p.pending) > 0 && !p.clock.Now().Before(p.batchDeadline) {
		p.closeBatchLocked()
	}
	p.mu.Unlock()
	for ctx.Err() == nil && p.due() {
		if !p.deliver(ctx) {
			break
		}
	}
	_ = p.save() // save logs its own failure and keeps the queue in memory
}

// nextWake is how long until the burst closes or the next retry is due.
func (p *Pipeline) nextWake() (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var at time.Time
	if len(p.pending) > 0 {
		at = p.batchDeadline
	}
	if len(p.queue) > 0 && (at.IsZero() || p.nextAttempt.Before(at)) {
		at = p.nextAttempt
	}
	if at.IsZero() {
		return 0, false
	}
	return at.Sub(p.clock.Now()), true
}

func (p *Pipeline) signalStep() {
	p.mu.Lock()
	ch := p.stepped
	p.stepped = make(chan struct{})
	p.mu.Unlock()
	close(ch)
}

// due reports whether there are unsent messages and no backoff in the way.
func (p *Pipeline) due() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.unsentLocked() && !p.clock.Now().Before(p.nextAttempt)
}

func (p *Pipeline) unsentLocked() bool {
	for _, msg := range p.queue {
		if !msg.sending {
			return true
		}
	}
	return false
}

// closeBatchLocked turns the gathered burst into one queued message.
func (p *Pipeline) closeBatchLocked() {
	events := p.pending
	p.pending, p.batchDeadline = nil, time.Time{}
	p.queue = append(p.queue, p.composeLocked(events, false))
	p.dirty = true
	p.trimLocked()
}

// composeLocked renders events into a message.
func (p *Pipeline) composeLocked(events []event.Event, test bool) *Message {
	now := p.clock.Now()
	title, body := p.sender.Compose(NewData(events, p.hostname, p.externalURL, now, test))
	p.seq++
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	kinds := kindsOf(events)
	if test {
		kinds = []string{KindTest}
	}
	return &Message{
		ID:      fmt.Sprintf("%s.%d.%s", now.UTC().Format("20060102T150405"), p.seq, hex.EncodeToString(rnd[:])),
		Created: now,
		Kinds:   kinds,
		Title:   title,
		Body:    body,
		Test:    test,
	}
}

// trimLocked drops the oldest message while the queue is over queue_size.
func (p *Pipeline) trimLocked() {
	for len(p.queue) > p.s.QueueSize {
		i := slices.IndexFunc(p.queue, func(msg *Message) bool { return !msg.sending })
		if i < 0 {
			return
		}
		msg := p.queue[i]
		p.queue = slices.Delete(p.queue, i, i+1)
		p.metrics.add(p.metrics.dropped, msg.Kinds)
		p.dirty = true
		p.logger.Warn(p.s.Noun+" queue full; dropped the oldest "+shortNoun(p.s.Noun), "title", msg.Title, "queue_size", p.s.QueueSize)
	}
}

// shortNoun keeps the first version's "email queue full; dropped the oldest
// mail".
func shortNoun(n string) string {
	if n == "email" {
		return "mail"
	}
	return n
}

func (p *Pipeline) removeLocked(msg *Message) {
	if i := slices.Index(p.queue, msg); i >= 0 {
		p.queue = slices.Delete(p.queue, i, i+1)
	}
}

// Backoff is the wait after the given number of consecutive failed
// attempts: 5s, 10s, 20s ... at most 5m.
func Backoff(failures int) time.Duration {
	d := minBackoff
	for i := 1; i < failures && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// deliver makes one attempt at the unsent messages (up to Batch). It
// reports whether everything in the attempt went out.
func (p *Pipeline) deliver(ctx context.Context) bool {
	if !p.lockSend(ctx) {
		return false
	}
	defer p.unlockSend()

	p.mu.Lock()
	sender, s := p.sender, p.s
	var batch []*Message
	for _, msg := range p.queue {
		if !msg.sending && len(batch) < s.Batch {
			msg.sending = true
			batch = append(batch, msg)
		}
	}
	p.mu.Unlock()
	if len(batch) == 0 {
		return false
	}

	results := p.attempt(ctx, sender, s, batch)
	if e, tell := p.settle(batch, results, s); e != nil && tell != nil {
		tell(*e) // outside p.mu: the other channels' Notify only queues
	}
	return p.finishAttempt(batch, results, s)
}

// settle feeds the attempt's outcome to the channel's health and returns
// the channel_* event to tell the other channels, if any.
func (p *Pipeline) settle(batch []*Message, results []Result, s Settings) (*event.Event, func(event.Event)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// A message refused for good was answered: the channel works.
	failed, lastErr := false, error(nil)
	for i, r := range results {
		rejected := r.Err != nil && !r.Retry && batch[i].Rejections+1 >= s.MaxRejections
		if r.Err != nil && !rejected {
			failed, lastErr = true, r.Err
		}
	}
	var kind event.Kind
	p.health, kind = p.health.next(attempt{delivered: !failed, onlyChannelEvents: onlyChannelKinds(batch)})
	if kind == "" {
		return nil, nil
	}
	e := channelEvent(kind, p.name, p.clock.Now(), p.health.failures, lastErr)
	if kind == event.ChannelFailing {
		p.logger.Warn("the "+p.name+" channel keeps failing; telling the other channels", "failed_attempts", p.health.failures, "err", lastErr)
	} else {
		p.logger.Info("the " + p.name + " channel works again; telling the other channels")
	}
	return &e, p.tell
}

// finishAttempt books the attempt's results: delivered messages leave the
// queue, failures set the backoff. It reports whether everything went out.
func (p *Pipeline) finishAttempt(batch []*Message, results []Result, s Settings) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	var failed error
	sent := 0
	for i, msg := range batch {
		msg.sending = false
		r := results[i]
		if r.Err == nil {
			p.removeLocked(msg)
			p.metrics.add(p.metrics.sent, msg.Kinds)
			sent++
			continue
		}
		msg.Attempts++
		p.metrics.add(p.metrics.failed, msg.Kinds)
		p.lastErr, p.lastFailure = r.Err, p.clock.Now()
		if !r.Retry {
			msg.Rejections++
			if msg.Rejections >= s.MaxRejections {
				// The channel answered and will never take this one: drop
				// it, and send the rest without a backoff.
				p.removeLocked(msg)
				p.metrics.add(p.metrics.dropped, msg.Kinds)
				p.logger.Error("the "+p.name+" channel refuses this "+s.Noun+" for good; dropped it", "title", msg.Title, "err", r.Err)
				continue
			}
		}
		failed = r.Err
	}
	p.dirty = true
	// A message that was dropped above leaves the queue shorter than it was.
	p.trimLocked()
	now := p.clock.Now()
	if sent > 0 {
		p.lastDelivery = now
		p.logger.Debug("sent "+s.Nouns, "count", sent, "queued", len(p.queue))
	}
	if failed != nil {
		p.failures++
		wait := Backoff(p.failures)
		p.nextAttempt = now.Add(wait)
		if len(p.queue) > 0 {
			p.logger.Warn("could not send "+s.Noun+"; will retry", "err", failed, "queued", len(p.queue), "retry_in", wait)
		}
		return false
	}
	if p.failures > 0 {
		p.logger.Info(s.Noun+" delivery works again", "sent", sent, "after_failed_attempts", p.failures)
	}
	p.failures, p.nextAttempt = 0, time.Time{}
	if sent > 0 {
		p.lastErr = nil
	}
	return true
}

func (p *Pipeline) lockSend(ctx context.Context) bool {
	select {
	case p.sendSem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *Pipeline) unlockSend() { <-p.sendSem }

// attempt calls the sender with the attempt's timeout and makes sure there
// is one Result per message.
func (p *Pipeline) attempt(ctx context.Context, sender Sender, s Settings, batch []*Message) []Result {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	results := sender.Notify(ctx, batch)
	if len(results) != len(batch) {
		return Failed(len(batch), true, fmt.Errorf("the %s sender answered for %d of %d messages (a bug)", p.name, len(results), len(batch)))
	}
	return results
}

// SendTest sends one test message now, bypassing the queue, and returns the
// channel's answer.
func (p *Pipeline) SendTest(ctx context.Context) error {
	p.mu.Lock()
	sender, s := p.sender, p.s
	ev := event.Event{
		Kind: event.Offline, Time: p.clock.Now(), Device: "Example Device", State: "failing",
		ConsecutiveFailures: 3, Plug: "example-plug", Outlet: "1", Trigger: "auto",
		Detail: "this is a sample event: nothing happened",
	}
	msg := p.composeLocked([]event.Event{ev}, true)
	p.mu.Unlock()

	if !p.lockSend(ctx) {
		return fmt.Errorf("the %s channel is busy with an attempt that has not ended: %w", p.name, ctx.Err())
	}
	err := p.attempt(ctx, sender, s, []*Message{msg})[0].Err
	p.unlockSend()
	p.mu.Lock()
	if err != nil {
		p.metrics.add(p.metrics.failed, msg.Kinds)
		p.lastErr, p.lastFailure = err, p.clock.Now()
	} else {
		p.metrics.add(p.metrics.sent, msg.Kinds)
		p.lastDelivery = p.clock.Now()
	}
	p.mu.Unlock()
	return err
}

// Flush is for shutdown: it turns a burst still being gathered into a
// message, tries to deliver everything before ctx ends (ignoring the
// backoff), and saves what is left for the next start. The error says how
// much is left.
func (p *Pipeline) Flush(ctx context.Context) error {
	p.mu.Lock()
	if len(p.pending) > 0 {
		p.closeBatchLocked()
	}
	p.mu.Unlock()
	for ctx.Err() == nil {
		p.mu.Lock()
		unsent := p.unsentLocked()
		p.mu.Unlock()
		if !unsent || !p.deliver(ctx) {
			break
		}
	}
	saveErr := p.save()
	p.mu.Lock()
	left, lastErr, s := len(p.queue), p.lastErr, p.s
	p.mu.Unlock()
	if left == 0 {
		return saveErr
	}
	cause := lastErr
	if cause == nil {
		cause = ctx.Err()
	}
	where := "kept for the next start"
	if p.store == nil {
		where = "lost: there is no state file to keep them in"
	} else if saveErr != nil {
		where = "and could not be saved: " + saveErr.Error()
	}
	return fmt.Errorf("%d %s not delivered before shutdown, %s: %w", left, Plural(left, s.Noun, s.Nouns), where, cause)
}

// save stores the queue if it changed since the last save.
func (p *Pipeline) save() error {
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	p.mu.Lock()
	if p.store == nil || !p.dirty {
		p.mu.Unlock()
		return nil
	}
	st := queueState{Version: queueStateVersion, Seq: p.seq, Pending: slices.Clone(p.pending)}
	for _, msg := range p.queue {
		c := *msg
		st.Messages = append(st.Messages, &c)
	}
	p.dirty = false
	noun := p.s.Noun
	p.mu.Unlock()

	b, err := json.Marshal(st)
	if err == nil {
		err = p.store.SaveQueue(p.name, b)
	}
	if err != nil {
		p.mu.Lock()
		p.dirty = true
		p.mu.Unlock()
		p.logger.Warn("could not save the "+noun+" queue; it is kept in memory", "err", err)
		return fmt.Errorf("saving the %s queue: %w", noun, err)
	}
	return nil
}

// restore loads the queue the last run saved. A damaged blob is logged and
// set aside, never fatal.
func (p *Pipeline) restore() {
	if p.store == nil {
		return
	}
	noun := p.s.Noun
	b, err := p.store.LoadQueue(p.name)
	if err != nil {
		p.logger.Warn("could not load the saved "+noun+" queue; starting with an empty one", "err", err)
		return
	}
	if len(b) == 0 {
		return
	}
	st, err := decodeQueue(b)
	if err != nil {
		p.logger.Warn("could not read the saved "+noun+" queue; starting with an empty one", "err", err)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, msg := range st.Messages {
		if msg != nil {
			p.queue = append(p.queue, msg)
		}
	}
	p.pending = st.Pending
	if len(p.pending) > 0 {
		p.batchDeadline = p.clock.Now().Add(p.s.CoalesceWindow)
	}
	p.seq = st.Seq
	p.trimLocked()
	if len(p.queue)+len(p.pending) > 0 {
		p.logger.Info("restored the "+noun+" queue from the last run", "messages", len(p.queue), "events", len(p.pending))
	}
}
