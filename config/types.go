package config

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Duration accepts a Prometheus duration string ("30s", "5m") or a bare
// number of seconds, the seeds' form.
type Duration time.Duration

// D is the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return model.Duration(d).String() }

func parseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 {
			return 0, &ValueError{Value: s, Msg: "is negative: durations must be positive"}
		}
		return Duration(f * float64(time.Second)), nil
	}
	md, err := model.ParseDuration(s)
	if err != nil {
		return 0, &ValueError{Value: s, Msg: "is not a duration: use a number of seconds or a string like 30s, 5m, 1h"}
	}
	return Duration(md), nil
}

func (d *Duration) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	p, err := parseDuration(fmt.Sprint(v))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// Bool accepts true/false, yes/no, on/off and the seeds' 1/0.
type Bool bool

func parseBool(s string) (Bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off", "":
		return false, nil
	}
	return false, &ValueError{Value: s, Msg: "is not a boolean: use true or false (or 1 or 0)"}
}

func (b *Bool) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	v, err := parseBool(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// StringList accepts one string or a list of strings; the seed wrote a
// single address for email_to.
type StringList []string

func (l *StringList) UnmarshalYAML(unmarshal func(any) error) error {
	var one string
	if err := unmarshal(&one); err == nil {
		*l = splitAddresses(one)
		return nil
	}
	var many []string
	if err := unmarshal(&many); err != nil {
		return err
	}
	*l = many
	return nil
}

func splitAddresses(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ValueError is a value that does not parse. The loader finds the line and
// key it stands on, since the YAML decoder does not say.
type ValueError struct {
	Value, Msg string
	Line       int
	Key        string
	// Shown replaces Value in the message when Value may hold a secret
	// (a URL with credentials); Value still finds the line.
	Shown string
}

func (e *ValueError) Error() string {
	v := e.Value
	if e.Shown != "" {
		v = e.Shown
	}
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %q %s", e.Line, e.Key, v, e.Msg)
	}
	return fmt.Sprintf("%q %s", v, e.Msg)
}
