// Package channels turns notifications config into channels: one table
// entry per kind of channel, each making a notify.Sender and its delivery
// settings. Adding a kind of channel is one package and one line here.
package channels

import (
	"fmt"
	"log/slog"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/notify"
	"github.com/restartinator/restartinator/notify/email"
	"github.com/restartinator/restartinator/notify/push"
	"github.com/restartinator/restartinator/notify/webhook"
)

// sender is what a kind of channel makes from its config.
type sender interface {
	notify.Sender
	Settings() notify.Settings
}

// kinds are the kinds of channel under notifications.channels, tried in
// order: the first whose match is true builds the channel.
var kinds = []struct {
	match func(*config.ChannelConfig) bool
	build func(c *config.ChannelConfig, where string, o Options) (sender, string, error)
}{
	{match: func(c *config.ChannelConfig) bool { return c.Webhook != nil }, build: buildWebhook},
	{match: func(c *config.ChannelConfig) bool { return c.URL != "" || c.URLFile != "" }, build: buildPush},
}

func buildWebhook(c *config.ChannelConfig, where string, o Options) (sender, string, error) {
	s, err := webhook.New(webhook.Options{Name: c.Name, Where: where, Config: c.Webhook,
		TitleTemplate: c.TitleTemplate, MessageTemplate: c.MessageTemplate, Logger: o.Logger})
	return s, "webhook", err
}

func buildPush(c *config.ChannelConfig, where string, o Options) (sender, string, error) {
	u, err := config.ReadSecret(string(c.URL), c.URLFile)
	if err != nil {
		return nil, "", fmt.Errorf("%s: url_file: %w — check the path and that restartinator may read it", where, err)
	}
	s, err := push.New(push.Options{Name: c.Name, Where: where, URL: u,
		TitleTemplate: c.TitleTemplate, MessageTemplate: c.MessageTemplate, Logger: o.Logger})
	if err != nil {
		return nil, "", err
	}
	return s, s.Service(), nil
}

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
	for i := range cfg.Channels {
		c := &cfg.Channels[i]
		where := c.Where(i)
		built := false
		for _, k := range kinds {
			if !k.match(c) {
				continue
			}
			snd, kind, err := k.build(c, where, o)
			if err != nil {
				return nil, err
			}
			st := snd.Settings()
			st.Events, st.CoalesceWindow, st.QueueSize, st.Timeout = c.Events, c.CoalesceWindow.D(), c.QueueSize, c.Timeout.D()
			out = append(out, Channel{Name: c.Name, Kind: kind, Sender: snd, Settings: st})
			built = true
			break
		}
		if !built {
			return nil, fmt.Errorf("%s: give url, url_file or webhook", where)
		}
	}
	return out, nil
}

// Validate reports whether Build would succeed, for --config.check.
func Validate(cfg *config.NotificationsConfig) error {
	_, err := Build(cfg, Options{Logger: slog.New(slog.DiscardHandler), Hostname: "check"})
	return err
}
