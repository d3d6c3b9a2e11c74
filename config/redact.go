package config

import (
	"net/url"
	"strings"

	commoncfg "github.com/prometheus/common/config"
)

// redacted replaces a secret inside a URL. Not "<secret>": it would be
// percent-escaped.
const redacted = "xxxxx"

// secretQueryWords mark a query parameter whose value is a secret
// (?token=, ?api_key=, ?password=, ?sig=, ?access_token= …).
var secretQueryWords = []string{"token", "secret", "pass", "pwd", "key", "auth", "sig", "credential", "session"}

// RedactURL returns s with its user-info password, a user name standing
// alone (often a token), and the values of secret-looking query parameters
// replaced by xxxxx. Use it wherever a configured URL is shown: /config,
// --config.check, the status page, logs and errors. A string that does not
// parse as a URL is not shown at all.
func RedactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable URL, redacted>"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), redacted)
		} else {
			u.User = url.User(redacted)
		}
	}
	if u.RawQuery != "" {
		u.RawQuery = redactQuery(u.RawQuery)
	}
	return u.String()
}

// redactQuery keeps the order and spelling of the parameters, replacing
// only the secret ones' values.
func redactQuery(q string) string {
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, _, hasValue := strings.Cut(p, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if hasValue && secretQueryName(name) {
			parts[i] = k + "=" + redacted
		}
	}
	return strings.Join(parts, "&")
}

func secretQueryName(name string) bool {
	name = strings.ToLower(name)
	for _, w := range secretQueryWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// redactURLValue redacts a commoncfg.URL (proxy_url) beyond what its own
// marshaller does (the password only).
func redactURLValue(u commoncfg.URL) commoncfg.URL {
	if u.URL == nil {
		return u
	}
	r, err := url.Parse(RedactURL(u.String()))
	if err != nil {
		return commoncfg.URL{}
	}
	return commoncfg.URL{URL: r}
}

// MarshalYAML shows the probe URL, and the URLs of its http_client_config,
// redacted, unless Marshal was asked for secrets (config convert).
func (p ProbeConfig) MarshalYAML() (any, error) {
	type plain ProbeConfig
	q := plain(p)
	if commoncfg.MarshalSecretValue {
		return q, nil
	}
	q.URL = RedactURL(q.URL)
	if hc := q.HTTPClientConfig; hc != nil {
		c := redactHTTPClient(*hc)
		q.HTTPClientConfig = &c
	}
	return q, nil
}

// redactHTTPClient redacts the URLs of an http_client_config beyond what
// prometheus/common does (Secret fields, and proxy_url's password only).
func redactHTTPClient(c commoncfg.HTTPClientConfig) commoncfg.HTTPClientConfig {
	c.ProxyURL = redactURLValue(c.ProxyURL)
	if c.OAuth2 != nil {
		o := *c.OAuth2
		o.TokenURL = RedactURL(o.TokenURL)
		o.ProxyURL = redactURLValue(o.ProxyURL)
		c.OAuth2 = &o
	}
	return c
}

// MarshalYAML shows the broker URL redacted (it may carry user:password@),
// unless Marshal was asked for secrets.
func (m MQTTConfig) MarshalYAML() (any, error) {
	type plain MQTTConfig
	q := plain(m)
	if !commoncfg.MarshalSecretValue {
		q.Broker = RedactURL(q.Broker)
	}
	return q, nil
}
