package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
)

const (
	channelEmail = "email"
	// kindTest labels the metrics of "notify test" mails.
	kindTest = "test"

	// Retry backoff after a failed attempt: 5s, 10s, 20s ... up to 5m.
	minBackoff = 5 * time.Second
	maxBackoff = 5 * time.Minute
	// maxBatchEvents closes a burst early: one mail lists at most this many.
	maxBatchEvents = 100
	// maxPerConnection is how many queued mails one connection carries.
	maxPerConnection = 20
	// maxRejections drops a mail the server refused this often for its
	// content (5xx after DATA); retrying it forever would help no one.
	maxRejections = 3
)

// Options are what New needs besides the email config.
type Options struct {
	Logger *slog.Logger
	// Clock times the coalescing window and the retry backoff.
	Clock clock.Clock
	// Store keeps the queue across restarts; nil keeps it in memory only.
	Store Store
	// ExternalURL is the status page, from --web.external-url.
	ExternalURL string
	// Hostname names this host in mails; empty means os.Hostname.
	Hostname string
}

// Mailer sends events by email. Notify only queues, so it never holds up a
// probe or a cycle; Run delivers with retries; Flush delivers what it can on
// shutdown and keeps the rest in the Store.
type Mailer struct {
	logger      *slog.Logger
	clock       clock.Clock
	store       Store
	hostname    string
	externalURL string
	metrics     *metrics
	defaults    *templates
	wake        chan struct{}

	sendMu sync.Mutex // one delivery attempt at a time (Run, Flush, SendTest)
	saveMu sync.Mutex // saves in order

	mu            sync.Mutex
	s             *settings
	pending       []event.Event // the burst being gathered
	batchDeadline time.Time     // when the burst becomes a mail
	queue         []*message
	seq           uint64
	failures      int // consecutive failed attempts
	nextAttempt   time.Time
	lastErr       error
	dirty         bool          // queue changed since the last save
	stepped       chan struct{} // closed after each pass of Run's loop (tests wait on it)
}

var _ event.Notifier = (*Mailer)(nil)

// New checks cfg (password file, TLS files, templates on sample data,
// addresses) and restores the queue from opts.Store.
func New(cfg *config.EmailConfig, opts Options) (*Mailer, error) {
	s, err := newSettings(cfg)
	if err != nil {
		return nil, err
	}
	defaults, err := parseTemplates(&config.EmailConfig{})
	if err != nil {
		return nil, fmt.Errorf("default email templates: %w", err) // a bug, caught by the tests
	}
	m := &Mailer{
		logger:      opts.Logger,
		clock:       opts.Clock,
		store:       opts.Store,
		hostname:    opts.Hostname,
		externalURL: opts.ExternalURL,
		metrics:     newMetrics(),
		defaults:    defaults,
		wake:        make(chan struct{}, 1),
		s:           s,
		stepped:     make(chan struct{}),
	}
	if m.logger == nil {
		m.logger = slog.New(slog.DiscardHandler)
	}
	if m.clock == nil {
		m.clock = clock.Real{}
	}
	if m.hostname == "" {
		m.hostname, _ = os.Hostname()
	}
	m.restore()
	return m, nil
}

// Addr is the SMTP server as host:port, with the default port applied.
func (m *Mailer) Addr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s.addr()
}

// Update swaps in a new configuration (on reload) and keeps the queue. A
// config that does not check out leaves the old one in place.
func (m *Mailer) Update(cfg *config.EmailConfig) error {
	s, err := newSettings(cfg)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.s = s
	m.trimLocked()
	// New settings may be the fix: try them now rather than after the backoff.
	m.failures, m.nextAttempt = 0, time.Time{}
	m.mu.Unlock()
	m.poke()
	return nil
}

// Notify queues e for mailing if the events filter lets it through. It never
// blocks on the network.
func (m *Mailer) Notify(e event.Event) {
	e.Labels = maps.Clone(e.Labels)
	if e.Reading != nil {
		r := *e.Reading
		e.Reading = &r
	}
	m.mu.Lock()
	if !m.s.wants(e.Kind) {
		m.mu.Unlock()
		return
	}
	now := m.clock.Now()
	if e.Time.IsZero() {
		e.Time = now
	}
	if len(m.pending) == 0 {
		m.batchDeadline = now.Add(m.s.cfg.CoalesceWindow.D())
	}
	m.pending = append(m.pending, e)
	if len(m.pending) >= maxBatchEvents {
		// Close a huge burst here (rendering only, no network), so memory
		// stays bounded by queue_size even while Run is busy or not running.
		m.closeBatchLocked()
	}
	m.mu.Unlock()
	m.poke()
}

func (m *Mailer) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run delivers queued mail until ctx ends: bursts become one mail after the
// coalesce window, failed attempts are retried with backoff.
func (m *Mailer) Run(ctx context.Context) {
	timer := m.clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		m.step(ctx)
		if wait, ok := m.nextWake(); ok {
			timer.Reset(wait)
		}
		m.signalStep()
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		case <-timer.C():
		}
		timer.Stop()
	}
}

// step closes a burst whose window has passed, delivers what is due and
// saves the queue if it changed.
func (m *Mailer) step(ctx context.Context) {
	m.mu.Lock()
	if len(m.pending) > 0 && !m.clock.Now().Before(m.batchDeadline) {
		m.closeBatchLocked()
	}
	m.mu.Unlock()
	for ctx.Err() == nil && m.due() {
		if !m.deliver(ctx) {
			break
		}
	}
	_ = m.save() // save logs its own failure and keeps the queue in memory
}

// nextWake is how long until the burst closes or the next retry is due.
func (m *Mailer) nextWake() (time.Duration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var at time.Time
	if len(m.pending) > 0 {
		at = m.batchDeadline
	}
	if len(m.queue) > 0 && (at.IsZero() || m.nextAttempt.Before(at)) {
		at = m.nextAttempt
	}
	if at.IsZero() {
		return 0, false
	}
	return at.Sub(m.clock.Now()), true
}

func (m *Mailer) signalStep() {
	m.mu.Lock()
	ch := m.stepped
	m.stepped = make(chan struct{})
	m.mu.Unlock()
	close(ch)
}

// due reports whether there is unsent mail and no backoff in the way.
func (m *Mailer) due() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.unsentLocked() && !m.clock.Now().Before(m.nextAttempt)
}

func (m *Mailer) unsentLocked() bool {
	for _, msg := range m.queue {
		if !msg.sending {
			return true
		}
	}
	return false
}

// closeBatchLocked turns the gathered burst into one queued mail.
func (m *Mailer) closeBatchLocked() {
	events := m.pending
	m.pending, m.batchDeadline = nil, time.Time{}
	m.queue = append(m.queue, m.composeLocked(events, false))
	m.dirty = true
	m.trimLocked()
}

// composeLocked renders events into a message. A template that fails on real
// data (it passed on sample data) falls back to the defaults: the operator
// still hears what happened.
func (m *Mailer) composeLocked(events []event.Event, test bool) *message {
	now := m.clock.Now()
	d := newData(events, m.hostname, m.externalURL, now, test)
	subject, body, err := m.s.tmpl.render(d)
	if err != nil {
		m.logger.Error("email template failed; sending this mail with the default templates", "err", err)
		subject, body, _ = m.defaults.render(d)
	}
	m.seq++
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	kinds := kindsOf(events)
	if test {
		kinds = []string{kindTest}
	}
	return &message{
		ID:      fmt.Sprintf("%s.%d.%s", now.UTC().Format("20060102T150405"), m.seq, hex.EncodeToString(rnd[:])),
		Created: now,
		Kinds:   kinds,
		Subject: subject,
		Body:    body,
	}
}

// trimLocked drops the oldest mail while the queue is over queue_size.
func (m *Mailer) trimLocked() {
	for len(m.queue) > m.s.cfg.QueueSize {
		i := slices.IndexFunc(m.queue, func(msg *message) bool { return !msg.sending })
		if i < 0 {
			return
		}
		msg := m.queue[i]
		m.queue = slices.Delete(m.queue, i, i+1)
		m.metrics.add(m.metrics.dropped, msg.Kinds)
		m.dirty = true
		m.logger.Warn("email queue full; dropped the oldest mail", "subject", msg.Subject, "queue_size", m.s.cfg.QueueSize)
	}
}

func (m *Mailer) removeLocked(msg *message) {
	if i := slices.Index(m.queue, msg); i >= 0 {
		m.queue = slices.Delete(m.queue, i, i+1)
	}
}

func backoff(failures int) time.Duration {
	d := minBackoff
	for i := 1; i < failures && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// deliver makes one attempt at the unsent mail (up to maxPerConnection over
// one connection). It reports whether everything in the attempt went out.
func (m *Mailer) deliver(ctx context.Context) bool {
	m.sendMu.Lock()
	defer m.sendMu.Unlock()

	m.mu.Lock()
	s := m.s
	var batch []*message
	for _, msg := range m.queue {
		if !msg.sending && len(batch) < maxPerConnection {
			msg.sending = true
			batch = append(batch, msg)
		}
	}
	m.mu.Unlock()
	if len(batch) == 0 {
		return false
	}

	per, connErr := s.send(ctx, batch, m.hostname, attemptTimeout(ctx, s.cfg.Timeout.D()))

	m.mu.Lock()
	defer m.mu.Unlock()
	var failed error
	sent := 0
	for i, msg := range batch {
		msg.sending = false
		err := connErr
		if err == nil {
			err = per[i]
		}
		if err == nil {
			m.removeLocked(msg)
			m.metrics.add(m.metrics.sent, msg.Kinds)
			sent++
			continue
		}
		failed = err
		msg.Attempts++
		m.metrics.add(m.metrics.failed, msg.Kinds)
		var de *DeliveryError
		if errors.As(err, &de) && de.rejected {
			msg.Rejections++
			if msg.Rejections >= maxRejections {
				m.removeLocked(msg)
				m.metrics.add(m.metrics.dropped, msg.Kinds)
				m.logger.Error("the mail server keeps refusing this mail; dropped it", "subject", msg.Subject, "err", err)
			}
		}
	}
	m.dirty = true
	// A mail that was dropped above leaves the queue shorter than it was.
	m.trimLocked()
	if sent > 0 {
		m.logger.Debug("sent email", "count", sent, "queued", len(m.queue))
	}
	if failed != nil {
		m.failures++
		wait := backoff(m.failures)
		m.nextAttempt = m.clock.Now().Add(wait)
		m.lastErr = failed
		if len(m.queue) > 0 {
			m.logger.Warn("could not send email; will retry", "err", failed, "queued", len(m.queue), "retry_in", wait)
		}
		return false
	}
	if m.failures > 0 {
		m.logger.Info("email delivery works again", "sent", sent, "after_failed_attempts", m.failures)
	}
	m.failures, m.nextAttempt, m.lastErr = 0, time.Time{}, nil
	return true
}

// attemptTimeout is the configured timeout, shortened to fit ctx's deadline
// (a flush on SIGTERM has one).
func attemptTimeout(ctx context.Context, timeout time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < timeout {
			return max(left, time.Millisecond)
		}
	}
	return timeout
}

// send delivers batch over one connection. connErr is set when no mail could
// go out at all (connect, TLS, login); otherwise per[i] is each mail's result.
func (s *settings) send(ctx context.Context, batch []*message, hostname string, timeout time.Duration) (per []error, connErr error) {
	c, err := s.client(timeout)
	if err != nil {
		return nil, err
	}
	msgs := make([]*mail.Msg, len(batch))
	for i, b := range batch {
		if msgs[i], err = s.newMsg(b, hostname); err != nil {
			return nil, err
		}
	}
	sc, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, s.describe(err)
	}
	// Once the server has taken the mail, a failed QUIT changes nothing.
	defer func() { _ = c.CloseWithSMTPClient(sc) }()
	sendErr := c.SendWithSMTPClient(sc, msgs...)
	per = make([]error, len(batch))
	anyFailed := false
	for i, msg := range msgs {
		if msg.HasSendError() {
			per[i] = s.describe(msg.SendError())
			anyFailed = true
		}
	}
	if sendErr != nil && !anyFailed {
		// The connection check failed before any mail was tried.
		return nil, s.describe(sendErr)
	}
	return per, nil
}

// SendTest sends one test mail now, bypassing the queue, and returns the
// server's answer as a DeliveryError when it fails.
func (m *Mailer) SendTest(ctx context.Context) error {
	m.mu.Lock()
	s := m.s
	ev := event.Event{
		Kind: event.Offline, Time: m.clock.Now(), Device: "Example Device", State: "failing",
		ConsecutiveFailures: 3, Plug: "example-plug", Outlet: "1", Trigger: "auto",
		Detail: "this is a sample event: nothing happened",
	}
	msg := m.composeLocked([]event.Event{ev}, true)
	m.mu.Unlock()

	m.sendMu.Lock()
	per, err := s.send(ctx, []*message{msg}, m.hostname, attemptTimeout(ctx, s.cfg.Timeout.D()))
	m.sendMu.Unlock()
	if err == nil {
		err = per[0]
	}
	m.mu.Lock()
	if err != nil {
		m.metrics.add(m.metrics.failed, msg.Kinds)
	} else {
		m.metrics.add(m.metrics.sent, msg.Kinds)
	}
	m.mu.Unlock()
	return err
}

// Flush is for shutdown: it turns a burst still being gathered into mail,
// tries to deliver everything before ctx ends (ignoring the backoff), and
// saves what is left for the next start. The error says how much is left.
func (m *Mailer) Flush(ctx context.Context) error {
	m.mu.Lock()
	if len(m.pending) > 0 {
		m.closeBatchLocked()
	}
	m.mu.Unlock()
	for ctx.Err() == nil {
		m.mu.Lock()
		unsent := m.unsentLocked()
		m.mu.Unlock()
		if !unsent || !m.deliver(ctx) {
			break
		}
	}
	saveErr := m.save()
	m.mu.Lock()
	left, lastErr := len(m.queue), m.lastErr
	m.mu.Unlock()
	if left == 0 {
		return saveErr
	}
	cause := lastErr
	if cause == nil {
		cause = ctx.Err()
	}
	where := "kept for the next start"
	if m.store == nil {
		where = "lost: there is no state file to keep them in"
	} else if saveErr != nil {
		where = "and could not be saved: " + saveErr.Error()
	}
	return fmt.Errorf("%d %s not delivered before shutdown, %s: %w", left, plural(left, "email", "emails"), where, cause)
}

// save stores the queue if it changed since the last save.
func (m *Mailer) save() error {
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	m.mu.Lock()
	if m.store == nil || !m.dirty {
		m.mu.Unlock()
		return nil
	}
	st := queueState{Version: queueStateVersion, Seq: m.seq, Pending: slices.Clone(m.pending)}
	for _, msg := range m.queue {
		c := *msg
		st.Messages = append(st.Messages, &c)
	}
	m.dirty = false
	m.mu.Unlock()

	b, err := json.Marshal(st)
	if err == nil {
		err = m.store.SaveQueue(b)
	}
	if err != nil {
		m.mu.Lock()
		m.dirty = true
		m.mu.Unlock()
		m.logger.Warn("could not save the email queue; it is kept in memory", "err", err)
		return fmt.Errorf("saving the email queue: %w", err)
	}
	return nil
}

// restore loads the queue the last run saved. A damaged blob is logged and
// set aside, never fatal.
func (m *Mailer) restore() {
	if m.store == nil {
		return
	}
	b, err := m.store.LoadQueue()
	if err != nil {
		m.logger.Warn("could not load the saved email queue; starting with an empty one", "err", err)
		return
	}
	if len(b) == 0 {
		return
	}
	st, err := decodeQueue(b)
	if err != nil {
		m.logger.Warn("could not read the saved email queue; starting with an empty one", "err", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, msg := range st.Messages {
		if msg != nil {
			m.queue = append(m.queue, msg)
		}
	}
	m.pending = st.Pending
	if len(m.pending) > 0 {
		m.batchDeadline = m.clock.Now().Add(m.s.cfg.CoalesceWindow.D())
	}
	m.seq = st.Seq
	m.trimLocked()
	if n := len(m.queue) + len(m.pending); n > 0 {
		m.logger.Info("restored the email queue from the last run", "emails", len(m.queue), "events", len(m.pending))
	}
}
