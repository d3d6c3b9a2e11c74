package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
)

// MQTTConfig publishes device state to an MQTT broker, with Home Assistant
// discovery, and optionally takes power-cycle commands from it.
type MQTTConfig struct {
	// Broker is mqtt://host[:1883] or mqtts://host[:8883] (tcp://, ssl://,
	// tls://, ws:// and wss:// are accepted too).
	Broker       string              `yaml:"broker"`
	ClientID     string              `yaml:"client_id,omitempty"`
	Username     string              `yaml:"username,omitempty"`
	Password     commoncfg.Secret    `yaml:"password,omitempty"`
	PasswordFile string              `yaml:"password_file,omitempty"`
	TLSConfig    commoncfg.TLSConfig `yaml:"tls_config,omitempty"`
	// TopicPrefix starts every state topic: <topic_prefix>/<device>/state.
	// Two restartinators on one broker need different prefixes.
	TopicPrefix string `yaml:"topic_prefix"`
	// Discovery publishes Home Assistant discovery configs under
	// DiscoveryPrefix.
	Discovery       bool   `yaml:"discovery"`
	DiscoveryPrefix string `yaml:"discovery_prefix"`
	// Retain keeps state topics on the broker for late subscribers.
	// Discovery configs and availability are always retained.
	Retain bool `yaml:"retain"`
	QoS    int  `yaml:"qos"`
	// Commands subscribes to <topic_prefix>/<device>/cycle/set: anyone who
	// can publish there can power-cycle plugs.
	Commands bool `yaml:"commands"`
	// StateInterval is how often state is compared and changes published,
	// besides at once on every event.
	StateInterval  Duration `yaml:"state_interval"`
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// MaxReconnectInterval caps the backoff between connection attempts.
	MaxReconnectInterval Duration `yaml:"max_reconnect_interval"`
}

// DefaultMQTT is what an mqtt: section starts from.
var DefaultMQTT = MQTTConfig{
	TopicPrefix:          "restartinator",
	Discovery:            true,
	DiscoveryPrefix:      "homeassistant",
	Retain:               true,
	QoS:                  1,
	StateInterval:        Duration(5 * time.Second),
	ConnectTimeout:       Duration(10 * time.Second),
	MaxReconnectInterval: Duration(2 * time.Minute),
}

// MQTT broker URL schemes and their default ports.
var mqttSchemes = map[string]int{"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883, "tls": 8883, "ws": 80, "wss": 443}

// mqttTLSSchemes are the schemes that connect over TLS.
var mqttTLSSchemes = map[string]bool{"mqtts": true, "ssl": true, "tls": true, "wss": true}

// MQTTSchemeUsesTLS says whether a broker URL's scheme connects over TLS.
func MQTTSchemeUsesTLS(scheme string) bool { return mqttTLSSchemes[scheme] }

func (m *MQTTConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*m = DefaultMQTT
	type plain MQTTConfig
	if err := unmarshal((*plain)(m)); err != nil {
		return err
	}
	if m.Broker == "" {
		return fmt.Errorf("mqtt.broker is required (mqtt://host:1883 or mqtts://host:8883)")
	}
	u, err := ParseBrokerURL(m.Broker)
	if err != nil {
		// A ValueError: the loader names the line and key.
		return err
	}
	m.Broker = u.String()
	return nil
}

// ParseBrokerURL checks an MQTT broker URL and fills in the scheme's default
// port, since the client dials host:port as it is.
func ParseBrokerURL(s string) (*url.URL, error) {
	bad := func(why string) error {
		return &ValueError{Value: s, Shown: RedactURL(s), Msg: why + ": use mqtt://host:1883 or mqtts://host:8883"}
	}
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Opaque != "" {
		return nil, bad("is not a broker URL")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	port, ok := mqttSchemes[u.Scheme]
	if !ok {
		return nil, bad(fmt.Sprintf("has scheme %q, not one of mqtt, mqtts, tcp, ssl, tls, ws, wss", u.Scheme))
	}
	if u.Hostname() == "" {
		return nil, bad("names no host")
	}
	if u.User != nil {
		return nil, bad("carries credentials: put them in username and password_file")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, bad("has a bad port")
		}
	} else {
		u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(port))
	}
	if (u.Path != "" && u.Path != "/") && u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, bad("has a path, which only ws:// and wss:// use")
	}
	return u, nil
}

// mqttTopicPrefix says why s cannot start a topic (a wildcard, an empty
// level), or returns nil.
func mqttTopicPrefix(s string) error {
	if s == "" {
		return fmt.Errorf("is empty")
	}
	if strings.ContainsAny(s, "+#\x00") {
		return fmt.Errorf("contains a wildcard (+ or #)")
	}
	for _, level := range strings.Split(s, "/") {
		if level == "" {
			return fmt.Errorf("has an empty level (a leading, trailing or double /)")
		}
	}
	return nil
}

func (m *MQTTConfig) check() []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf("mqtt: "+format, args...)) }
	if err := mqttTopicPrefix(m.TopicPrefix); err != nil {
		fail("topic_prefix %q %v", m.TopicPrefix, err)
	}
	if m.Discovery {
		if err := mqttTopicPrefix(m.DiscoveryPrefix); err != nil {
			fail("discovery_prefix %q %v", m.DiscoveryPrefix, err)
		}
	}
	if m.QoS < 0 || m.QoS > 2 {
		fail("qos must be 0, 1 or 2, got %d", m.QoS)
	}
	if m.Password != "" && m.PasswordFile != "" {
		fail("give password or password_file, not both")
	}
	if (m.Password != "" || m.PasswordFile != "") && m.Username == "" {
		fail("a password needs a username")
	}
	if err := checkSecretFile("mqtt.password_file", m.PasswordFile); err != nil {
		errs = append(errs, err)
	}
	// tls_config beside a plain broker URL would connect in clear text
	// while the user believes it is encrypted.
	if u, err := url.Parse(m.Broker); err == nil && !mqttTLSSchemes[u.Scheme] && !reflect.ValueOf(m.TLSConfig).IsZero() {
		fail("tls_config is set but broker %s is not encrypted: use mqtts://host:8883 (or wss://) to connect over TLS", RedactURL(m.Broker))
	}
	if err := m.TLSConfig.Validate(); err != nil {
		fail("tls_config: %v", err)
	}
	for _, f := range []struct{ key, path string }{{"ca_file", m.TLSConfig.CAFile}, {"cert_file", m.TLSConfig.CertFile}, {"key_file", m.TLSConfig.KeyFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			fail("tls_config.%s: %v", f.key, err)
		}
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{{"state_interval", m.StateInterval}, {"connect_timeout", m.ConnectTimeout}, {"max_reconnect_interval", m.MaxReconnectInterval}} {
		if d.v <= 0 {
			fail("%s must be positive, got %s", d.key, d.v)
		}
	}
	if m.StateInterval > 0 && m.StateInterval.D() < 100*time.Millisecond {
		fail("state_interval must be at least 100ms, got %s", m.StateInterval)
	}
	return errs
}
