package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
)

// ChannelConfig is one notification channel under notifications.channels:
// a shoutrrr service URL (url or url_file: ntfy://, telegram://,
// pushover://, gotify://, discord://, slack://, matrix://,
// generic+https://, ...) or the native JSON webhook. Package
// notify/channels checks the URL itself.
type ChannelConfig struct {
	Name    string           `yaml:"name"`
	URL     commoncfg.Secret `yaml:"url,omitempty"`
	URLFile string           `yaml:"url_file,omitempty"`
	Webhook *ChannelWebhook  `yaml:"webhook,omitempty"`
	Events  []string         `yaml:"events,omitempty"`
	// TitleTemplate and MessageTemplate are Go text/template sources over
	// the same data as the email templates; empty means the short defaults.
	TitleTemplate   string   `yaml:"title_template,omitempty"`
	MessageTemplate string   `yaml:"message_template,omitempty"`
	CoalesceWindow  Duration `yaml:"coalesce_window"`
	QueueSize       int      `yaml:"queue_size"`
	Timeout         Duration `yaml:"timeout"`

	// Line is where the channel's name stands in the file (0: unknown), for
	// errors found after loading.
	Line int `yaml:"-"`
}

// ChannelWebhook is the native webhook: restartinator POSTs a documented
// JSON body to URL.
type ChannelWebhook struct {
	URL              commoncfg.Secret            `yaml:"url,omitempty"`
	URLFile          string                      `yaml:"url_file,omitempty"`
	HTTPClientConfig commoncfg.HTTPClientConfig  `yaml:"http_client_config,omitempty"`
	Headers          map[string]commoncfg.Secret `yaml:"headers,omitempty"`
}

// DefaultChannel are a channel's defaults: push services want a message
// soon, so the window is shorter than email's.
var DefaultChannel = ChannelConfig{
	CoalesceWindow: Duration(5 * time.Second),
	QueueSize:      100,
	Timeout:        Duration(10 * time.Second),
}

func (c *ChannelConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultChannel
	type plain ChannelConfig
	return unmarshal((*plain)(c))
}

// Where names the channel in an error: `notifications.channels[1] "phone"
// (line 42)`.
func (c *ChannelConfig) Where(i int) string {
	s := fmt.Sprintf("notifications.channels[%d] %q", i, c.Name)
	if c.Line > 0 {
		s += fmt.Sprintf(" (line %d)", c.Line)
	}
	return s
}

var channelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// checkChannels checks what a channel's own keys can tell: names, one
// destination each, events, sizes. The URL is the sender's to check.
func (n *NotificationsConfig) checkChannels() []error {
	var errs []error
	seen := map[string]bool{}
	for i := range n.Channels {
		c := &n.Channels[i]
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf(c.Where(i)+": "+format, args...))
		}
		switch {
		case c.Name == "":
			fail("name is required (it labels the channel's metrics and log lines)")
		case !channelName.MatchString(c.Name):
			fail("name may hold only letters, digits, '.', '_' and '-'")
		case c.Name == "email":
			fail(`the name "email" is the notifications.email channel's; pick another`)
		case seen[c.Name]:
			fail("is defined twice: channel names must be unique")
		}
		seen[c.Name] = true
		dests := 0
		for _, set := range []bool{c.URL != "", c.URLFile != "", c.Webhook != nil} {
			if set {
				dests++
			}
		}
		if dests != 1 {
			fail("give exactly one of url, url_file or webhook")
		}
		if err := checkSecretFile(fmt.Sprintf("notifications.channels[%d].url_file", i), c.URLFile); err != nil {
			errs = append(errs, err)
		}
		if w := c.Webhook; w != nil {
			if (w.URL == "") == (w.URLFile == "") {
				fail("webhook: give url or url_file")
			}
			if err := checkSecretFile(fmt.Sprintf("notifications.channels[%d].webhook.url_file", i), w.URLFile); err != nil {
				errs = append(errs, err)
			}
			if err := w.HTTPClientConfig.Validate(); err != nil {
				fail("webhook.http_client_config: %v", err)
			}
		}
		for _, ev := range c.Events {
			if !slices.Contains(Events, ev) {
				fail("events: %q is not one of %s", ev, strings.Join(Events, ", "))
			}
		}
		if c.Timeout <= 0 {
			fail("timeout must be positive")
		}
		if c.QueueSize < 1 {
			fail("queue_size must be at least 1")
		}
		if c.CoalesceWindow < 0 {
			fail("coalesce_window must not be negative")
		}
	}
	return errs
}

// locateChannels sets each channel's Line: the first "name: X" line after
// "channels:".
func (n *NotificationsConfig) locateChannels(data []byte) {
	lines := strings.Split(string(data), "\n")
	start := slices.IndexFunc(lines, func(l string) bool {
		return strings.HasPrefix(strings.TrimSpace(l), "channels:")
	})
	if start < 0 {
		return
	}
	from := start
	for i := range n.Channels {
		c := &n.Channels[i]
		for j := from; j < len(lines); j++ {
			t := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[j]), "-"))
			k, v, ok := strings.Cut(t, ":")
			if ok && strings.TrimSpace(k) == "name" && strings.Trim(strings.TrimSpace(v), `"'`) == c.Name {
				c.Line, from = j+1, j+1
				break
			}
		}
	}
}

// MarshalYAML shows url_file through RedactURL like every key named url
// (a path is shown as it is), unless Marshal was asked for secrets.
func (c ChannelConfig) MarshalYAML() (any, error) {
	type plain ChannelConfig
	q := plain(c)
	if !commoncfg.MarshalSecretValue {
		q.URLFile = RedactURL(q.URLFile)
	}
	return q, nil
}

// MarshalYAML shows the URLs of the webhook's http_client_config redacted,
// unless Marshal was asked for secrets. url and headers are Secrets.
func (w ChannelWebhook) MarshalYAML() (any, error) {
	type plain ChannelWebhook
	q := plain(w)
	if commoncfg.MarshalSecretValue {
		return q, nil
	}
	q.URLFile = RedactURL(q.URLFile)
	q.HTTPClientConfig.ProxyURL = redactURLValue(q.HTTPClientConfig.ProxyURL)
	if o := q.HTTPClientConfig.OAuth2; o != nil {
		r := *o
		r.TokenURL = RedactURL(r.TokenURL)
		r.ProxyURL = redactURLValue(r.ProxyURL)
		q.HTTPClientConfig.OAuth2 = &r
	}
	return q, nil
}
