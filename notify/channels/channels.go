// Package channels turns notifications config into channels: one table
// entry per kind of channel, each making a notify.Sender and its delivery
// settings. Adding a kind of channel is one package and one line here.
package channels

import (
	"log/slog"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/notify"
	"github.com/restartinator/restartinator/notify/email"
)

// Channel is one configured channel, ready for a notify.Pipeline.
type Channel struct {
	Name     string
	Kind     string // email, webhook, or the shoutrrr service (ntfy, telegram, ...)
	Sender   notify.Sender
	Settings notify.Settings
}

// Destination says, without secrets, where a channel's test message goes:
// "a test email to ops@example.com via mail.example.com:587".
func (c Channel) Destination() string {
	if d, ok := c.Sender.(interface{ Destination() string }); ok {
		return d.Destination()
	}
	return "a test message"
}

// Options are what senders need besides their config.
type Options struct {
	Logger *slog.Logger
	// Hostname names this host in messages; empty means os.Hostname.
	Hostname string
}

// Build makes every configured channel, or returns the first error: a
// sender that does not check out (a secret file, a template that fails on
// sample data, a URL) fails the whole config, so a reload changes nothing.
func Build(cfg *config.NotificationsConfig, o Options) ([]Channel, error) {
	var out []Channel
	if cfg.Email != nil {
		snd, err := email.NewSender(cfg.Email, o.Logger, o.Hostname)
		if err != nil {
			return nil, err
		}
		out = append(out, Channel{Name: email.Channel, Kind: "email", Sender: snd, Settings: snd.Settings()})
	}
	return out, nil
}

// Validate reports whether Build would succeed, for --config.check.
func Validate(cfg *config.NotificationsConfig) error {
	_, err := Build(cfg, Options{Logger: slog.New(slog.DiscardHandler), Hostname: "check"})
	return err
}
