package config

import (
	"fmt"
	"strings"
)

// Each UnmarshalYAML applies the defaults first, so a key left out keeps its
// default and a key given overrides it.

func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	*c = Config{Global: DefaultGlobal, Defaults: DefaultDeviceSettings}
	type plain Config
	return unmarshal((*plain)(c))
}

func (g *GlobalConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*g = DefaultGlobal
	type plain GlobalConfig
	return unmarshal((*plain)(g))
}

func (g *GuardConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*g = DefaultGuard
	type plain GuardConfig
	return unmarshal((*plain)(g))
}

func (s *DeviceSettings) UnmarshalYAML(unmarshal func(any) error) error {
	*s = DefaultDeviceSettings
	type plain DeviceSettings
	return unmarshal((*plain)(s))
}

func (e *EmailConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*e = DefaultEmail
	type plain EmailConfig
	raw := struct {
		plain        `yaml:",inline"`
		SMTPServer   string `yaml:"smtp_server"`
		SMTPUsername string `yaml:"smtp_username"`
	}{plain: plain(*e)}
	if err := unmarshal(&raw); err != nil {
		return err
	}
	*e = EmailConfig(raw.plain)
	var err error
	if e.SMTPHost, err = alias("smtp_host", e.SMTPHost, "smtp_server", raw.SMTPServer); err != nil {
		return err
	}
	if e.SMTPUser, err = alias("smtp_user", e.SMTPUser, "smtp_username", raw.SMTPUsername); err != nil {
		return err
	}
	return nil
}

// alias merges two spellings of one key; both may be given only when they agree.
func alias(key, v, otherKey, other string) (string, error) {
	switch {
	case other == "":
		return v, nil
	case v == "" || v == other:
		return other, nil
	}
	return "", fmt.Errorf("%s and %s are two spellings of one setting and disagree (%q, %q): keep one", key, otherKey, v, other)
}

func (w *WatchdogConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*w = DefaultWatchdog
	type plain WatchdogConfig
	return unmarshal((*plain)(w))
}

func (r *RTCConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*r = DefaultRTC
	type plain RTCConfig
	return unmarshal((*plain)(r))
}

func (t *FileTrigger) UnmarshalYAML(unmarshal func(any) error) error {
	*t = FileTrigger{CheckInterval: Duration(5e9)}
	type plain FileTrigger
	return unmarshal((*plain)(t))
}

func (r *WebhookRoute) UnmarshalYAML(unmarshal func(any) error) error {
	*r = WebhookRoute{DeviceLabel: "device"}
	type plain WebhookRoute
	return unmarshal((*plain)(r))
}

// lower normalises an enumerated value.
func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
