package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v2"
)

// Formats a file can be in, detected by content.
const (
	FormatYAML            = "yaml"
	FormatRestartinator   = "restartinator-json"
	FormatPyStabilityINI  = "py-stability-iot-ini"
	maxConfigBytes        = 16 << 20
	errMissingCommaSuffix = "a comma is probably missing"
)

// LoadFile reads and validates a config file in any supported format.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if len(data) > maxConfigBytes {
		return nil, fmt.Errorf("%s: config is larger than %d bytes", path, maxConfigBytes)
	}
	return Load(data, path)
}

// Load parses and validates a config. name is used in error messages.
func Load(data []byte, name string) (*Config, error) {
	c, err := load(data, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

func load(data []byte, name string) (*Config, error) {
	var c *Config
	var err error
	switch DetectFormat(data) {
	case FormatPyStabilityINI:
		c, err = parsePyStabilityINI(data)
	case FormatRestartinator:
		if err = checkJSONSyntax(data); err != nil {
			return nil, err
		}
		c, err = decodeYAML(data)
		if c != nil {
			c.Format = FormatRestartinator
		}
	default:
		c, err = decodeYAML(data)
	}
	if err != nil {
		return nil, err
	}
	c.Notifications.locateChannels(data)
	c.locateDevices(data)
	if c.Format == FormatYAML {
		c.source = data
	}
	err = c.validate()
	c.source = nil
	if err != nil {
		return nil, err
	}
	return c, nil
}

var iniHeader = regexp.MustCompile(`^\s*\[[A-Za-z0-9_.-]+\]\s*$`)

// DetectFormat tells the three formats apart by content, never by name: a
// JSON object is the Restartinator format, a file whose first statement is an
// [section] header is the py-stability-iot INI, anything else is YAML.
func DetectFormat(data []byte) string {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if bytes.HasPrefix(trimmed, []byte("{")) {
		return FormatRestartinator
	}
	for line := range bytes.Lines(data) {
		t := strings.TrimSpace(string(line))
		if t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") {
			continue
		}
		if iniHeader.MatchString(t) {
			return FormatPyStabilityINI
		}
		break
	}
	return FormatYAML
}

func decodeYAML(data []byte) (*Config, error) {
	if b, ok := cutDeviceBlock(data); ok && len(b.items) > 0 {
		if c, ok := decodeYAMLByBatch(b); ok {
			c.Format = FormatYAML
			return c, nil
		}
	}
	return decodeWholeYAML(data)
}

// decodeWholeYAML decodes the document in one go: every error is reported
// from here, with its line and key.
func decodeWholeYAML(data []byte) (*Config, error) {
	// An empty document never calls UnmarshalYAML: start from the defaults.
	c := &Config{Global: DefaultGlobal, Defaults: DefaultDeviceSettings}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		return nil, tidyYAMLError(data, err)
	}
	c.Format = FormatYAML
	return c, nil
}

var yamlFieldNotFound = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// tidyYAMLError rewrites yaml's "field x not found in type config.plain" to
// name the key in words a user knows.
func tidyYAMLError(data []byte, err error) error {
	var ve *ValueError
	if errors.As(err, &ve) {
		ve.Line, ve.Key = locateValue(data, ve.Value)
		return ve
	}
	msg := yamlFieldNotFound.ReplaceAllString(err.Error(), `line $1: unknown key "$2"`)
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
	return errors.New(msg)
}

// checkJSONSyntax reports a JSON syntax error with its line and column, and
// says what is most likely wrong: the seed's own sample lacks a comma.
func checkJSONSyntax(data []byte) error {
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return nil // other errors surface in the strict decode
	}
	line, col := lineCol(data, int(se.Offset)-1)
	msg := fmt.Sprintf("line %d, column %d: invalid JSON: %s", line, col, se.Error())
	if strings.Contains(se.Error(), "after object key:value pair") || strings.Contains(se.Error(), "after array element") {
		prev := previousContentLine(data, int(se.Offset)-1)
		msg += fmt.Sprintf(" — %s at the end of line %d", errMissingCommaSuffix, prev)
	}
	return errors.New(msg)
}

// lineCol converts a byte offset into 1-based line and column.
func lineCol(data []byte, off int) (int, int) {
	if off < 0 {
		off = 0
	}
	if off > len(data) {
		off = len(data)
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := off - bytes.LastIndexByte(before, '\n')
	return line, col
}

// previousContentLine is the line of the last non-space byte before off.
func previousContentLine(data []byte, off int) int {
	i := min(off, len(data)) - 1
	for i >= 0 && strings.ContainsRune(" \t\r\n", rune(data[i])) {
		i--
	}
	line, _ := lineCol(data, max(i, 0))
	return line
}

// Marshal renders the config as modern YAML. With secrets false, every
// secret is shown as <secret>.
func (c *Config) Marshal(secrets bool) ([]byte, error) {
	if !secrets {
		marshalSecretsMu.RLock()
		defer marshalSecretsMu.RUnlock()
		return yaml.Marshal(c)
	}
	marshalSecretsMu.Lock()
	defer marshalSecretsMu.Unlock()
	commoncfg.MarshalSecretValue = true
	defer func() { commoncfg.MarshalSecretValue = false }()
	return yaml.Marshal(c)
}

// locateValue finds the first "key: value" line whose value is v.
func locateValue(data []byte, v string) (int, string) {
	for n, line := range strings.Split(string(data), "\n") {
		for _, part := range strings.Split(line, ",") {
			k, val, ok := strings.Cut(part, ":")
			if !ok {
				continue
			}
			val = strings.Trim(strings.TrimSpace(val), `"'}]`)
			if val == v {
				k = strings.Trim(strings.TrimSpace(k), `"'{[- `)
				return n + 1, k
			}
		}
	}
	return 0, ""
}
