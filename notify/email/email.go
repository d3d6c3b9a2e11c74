package email

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/notify"
)

const (
	// Channel is the email channel's name, its metrics' channel label.
	Channel = "email"
	// maxPerConnection is how many queued mails one connection carries.
	maxPerConnection = 20
	// maxRejections drops a mail the server refused this often for its
	// content (5xx after DATA); retrying it forever would help no one.
	maxRejections = 3
)

// Mailer is the email channel's pipeline with what only email has: the
// server's address and an Update that takes an EmailConfig.
type Mailer struct {
	*notify.Pipeline
	mu     sync.Mutex
	sender *Sender
}

// New checks cfg (password file, TLS files, templates on sample data,
// addresses) and restores the queue from opts.Store.
func New(cfg *config.EmailConfig, opts notify.Options) (*Mailer, error) {
	snd, err := NewSender(cfg, opts.Logger, opts.Hostname)
	if err != nil {
		return nil, err
	}
	p := notify.NewPipeline(Channel, snd, snd.Settings(), opts)
	return &Mailer{Pipeline: p, sender: snd}, nil
}

// Addr is the SMTP server as host:port, with the default port applied.
func (m *Mailer) Addr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sender.s.addr()
}

// Update swaps in a new configuration (on reload) and keeps the queue. A
// config that does not check out leaves the old one in place.
func (m *Mailer) Update(cfg *config.EmailConfig) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	snd, err := NewSender(cfg, m.sender.logger, m.sender.hostname)
	if err != nil {
		return err
	}
	m.sender = snd
	m.Pipeline.Update(snd, snd.Settings())
	return nil
}

// Sender sends mail over SMTP.
type Sender struct {
	s        *settings
	defaults *templates
	logger   *slog.Logger
	hostname string // for the Message-ID
}

var _ notify.Sender = (*Sender)(nil)

// NewSender checks cfg and makes its sender. hostname is the Message-ID's
// domain; empty means os.Hostname.
func NewSender(cfg *config.EmailConfig, logger *slog.Logger, hostname string) (*Sender, error) {
	s, err := newSettings(cfg)
	if err != nil {
		return nil, err
	}
	defaults, err := parseTemplates(&config.EmailConfig{})
	if err != nil {
		return nil, fmt.Errorf("default email templates: %w", err) // a bug, caught by the tests
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	return &Sender{s: s, defaults: defaults, logger: logger, hostname: hostname}, nil
}

// Settings are email's delivery settings: its config's queue and window,
// 20 mails per connection, a mail refused 3 times dropped.
func (snd *Sender) Settings() notify.Settings {
	c := snd.s.cfg
	return notify.Settings{
		Events:         c.Events,
		CoalesceWindow: c.CoalesceWindow.D(),
		QueueSize:      c.QueueSize,
		// The attempt's context is a backstop; go-mail times each
		// connection with the configured timeout.
		Timeout:       c.Timeout.D() * maxPerConnection,
		Batch:         maxPerConnection,
		MaxRejections: maxRejections,
		Noun:          "email",
		Nouns:         "emails",
	}
}

// Compose renders the subject and body. A template that fails on real data
// (it passed on sample data) falls back to the defaults.
func (snd *Sender) Compose(d *notify.Data) (title, body string) {
	subject, body, err := snd.s.tmpl.render(d)
	if err != nil {
		snd.logger.Error("email template failed; sending this mail with the default templates", "channel", Channel, "err", err)
		subject, body, _ = snd.defaults.render(d)
	}
	return subject, body
}

// Notify sends msgs over one connection. A mail the server refuses for what
// it is (5xx after DATA) is not worth retrying as it is; everything else
// (connection, TLS, login, sender, recipient) is, since a reload may fix it.
func (snd *Sender) Notify(ctx context.Context, msgs []*notify.Message) []notify.Result {
	per, connErr := snd.s.send(ctx, msgs, snd.hostname, attemptTimeout(ctx, snd.s.cfg.Timeout.D()))
	if connErr != nil {
		return notify.Failed(len(msgs), true, connErr)
	}
	out := make([]notify.Result, len(msgs))
	for i, err := range per {
		var de *DeliveryError
		rejected := errors.As(err, &de) && de.rejected
		out[i] = notify.Result{Err: err, Retry: !rejected}
	}
	return out
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
func (s *settings) send(ctx context.Context, batch []*notify.Message, hostname string, timeout time.Duration) (per []error, connErr error) {
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

// Destination says where a test mail goes, for "notify test".
func (snd *Sender) Destination() string {
	return "a test email to " + strings.Join(snd.s.cfg.EmailTo, ", ") + " via " + snd.s.addr()
}
