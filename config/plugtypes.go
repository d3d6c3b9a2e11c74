package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v2"
	yaml3 "go.yaml.in/yaml/v3"
)

// PlugSettings are one plug type's own keys: a pointer to a struct with yaml
// tags, decoded strictly from the keys of a plug entry that are not common
// to every plug.
type PlugSettings interface {
	// Check validates and normalises the keys after decoding; an error names
	// the key and says what to use instead. It is prefixed with the plug.
	// An error about one key is a *KeyError (see KeyErrorf), several are
	// joined with errors.Join: config then adds the key's line in the file.
	Check() error
}

// KeyError is a plug type's complaint about one of its keys. Its text is
// the complaint; config.Load prefixes the line and key it found in the file.
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// KeyErrorf is a KeyError about key, its message formatted as fmt.Errorf.
func KeyErrorf(key, format string, args ...any) error {
	return &KeyError{Key: key, Err: fmt.Errorf(format, args...)}
}

// settingsErrors turns a type's Check error into config errors: each named
// after the plug, and when the file is known (the entry is the index-th of
// plugs:) "line N: key "K": …" at the key's line, or the entry's line for an
// error that names no key.
func settingsErrors(where string, err error, source []byte, index int) []error {
	var all []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		all = j.Unwrap()
	} else {
		all = []error{err}
	}
	var entry *yaml3.Node
	if source != nil {
		entry = plugEntryNode(source, index)
	}
	out := make([]error, 0, len(all))
	for _, e := range all {
		var ke *KeyError
		switch {
		case errors.As(e, &ke) && entry != nil:
			out = append(out, fmt.Errorf("line %d: key %q: %s: %w", keyLine(entry, ke.Key), ke.Key, where, e))
		case entry != nil:
			out = append(out, fmt.Errorf("line %d: %s: %w", entry.Line, where, e))
		default:
			out = append(out, fmt.Errorf("%s: %w", where, e))
		}
	}
	return out
}

// plugEntryNode is the index-th entry of the file's plugs: list, parsed
// again with positions only when a type's check has failed (the decode
// itself keeps none).
func plugEntryNode(source []byte, index int) *yaml3.Node {
	var doc yaml3.Node
	if yaml3.Unmarshal(source, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	plugs := mapValue(doc.Content[0], "plugs")
	if plugs == nil || plugs.Kind != yaml3.SequenceNode || index >= len(plugs.Content) {
		return nil
	}
	if e := plugs.Content[index]; e.Kind == yaml3.MappingNode {
		return e
	}
	return nil
}

// mapValue is the value of key in a mapping node, nil if absent.
func mapValue(m *yaml3.Node, key string) *yaml3.Node {
	if m.Kind != yaml3.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// keyLine is the line of key in the entry, or the entry's own line when
// the key is not written there (a default, or a merged anchor).
func keyLine(entry *yaml3.Node, key string) int {
	for i := 0; i+1 < len(entry.Content); i += 2 {
		if entry.Content[i].Value == key {
			return entry.Content[i].Line
		}
	}
	return entry.Line
}

// PlugType is how the config knows one type of plug: its name (the value of
// type:), its own keys, and whether its devices keep a flip-back timer of
// their own. Driver packages register theirs; config depends on none of them.
type PlugType struct {
	Name string
	// Settings returns the type's keys with their defaults filled in. nil:
	// the type has no keys beyond the common ones.
	Settings func() PlugSettings
	// FlipBack: the device can switch an outlet back on by itself, so
	// flip_back: required makes sense for it.
	FlipBack bool
}

var plugTypes = struct {
	sync.RWMutex
	m map[string]PlugType
}{m: map[string]PlugType{}}

// RegisterPlugType adds a plug type. Registering a name twice is a
// programming error and panics, unless both registrations have the same
// keys (a driver may repeat a type the config knows built in).
func RegisterPlugType(t PlugType) {
	plugTypes.Lock()
	defer plugTypes.Unlock()
	if t.Name == "" || t.Name != lower(t.Name) {
		panic(fmt.Sprintf("config: plug type name %q must be lower case and not empty", t.Name))
	}
	if old, ok := plugTypes.m[t.Name]; ok {
		if settingsType(old) != settingsType(t) {
			panic(fmt.Sprintf("config: plug type %q registered twice with different keys", t.Name))
		}
	}
	if t.Settings != nil {
		// Fail at start-up, not at the first config that names the type.
		if s := t.Settings(); s == nil || reflect.TypeOf(s).Kind() != reflect.Pointer || reflect.TypeOf(s).Elem().Kind() != reflect.Struct {
			panic(fmt.Sprintf("config: plug type %q: Settings must return a pointer to a struct", t.Name))
		}
	}
	plugTypes.m[t.Name] = t
}

func settingsType(t PlugType) reflect.Type {
	if t.Settings == nil {
		return nil
	}
	return reflect.TypeOf(t.Settings())
}

// LookupPlugType returns the registered type of that name.
func LookupPlugType(name string) (PlugType, bool) {
	plugTypes.RLock()
	defer plugTypes.RUnlock()
	t, ok := plugTypes.m[lower(name)]
	return t, ok
}

// PlugTypeNames lists the registered plug types, sorted.
func PlugTypeNames() []string {
	plugTypes.RLock()
	defer plugTypes.RUnlock()
	names := make([]string, 0, len(plugTypes.m))
	for n := range plugTypes.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Flip-back policies of a plug.
const (
	FlipBackAuto     = "auto"     // arm the device's own timer when it has one, else cycle plainly
	FlipBackRequired = "required" // never switch off without the device's timer armed
	FlipBackOff      = "off"      // never arm it
)

// plainPlug is PlugConfig without its methods, for decoding the common keys.
type plainPlug PlugConfig

// withSettings is the plug entry as decoded: the common keys and the type's
// own, side by side in one mapping, so a key neither knows is an error on its
// line.
func withSettings(common plainPlug, s PlugSettings) reflect.Value {
	st := reflect.StructOf([]reflect.StructField{
		{Name: "Plug", Type: reflect.TypeOf(common), Tag: `yaml:",inline"`},
		{Name: "Keys", Type: reflect.TypeOf(s).Elem(), Tag: `yaml:",inline"`},
	})
	v := reflect.New(st)
	v.Elem().Field(0).Set(reflect.ValueOf(common))
	v.Elem().Field(1).Set(reflect.ValueOf(s).Elem())
	return v
}

var lineRef = regexp.MustCompile(`line \d+: `)

var fieldNotFound = regexp.MustCompile(`^line (\d+): field (\S+) not found in type `)

// UnmarshalYAML reads type: first, then decodes every key of the entry
// strictly against the common keys and that type's own.
func (p *PlugConfig) UnmarshalYAML(unmarshal func(any) error) error {
	var entry yaml.MapSlice
	if err := unmarshal(&entry); err != nil {
		return err
	}
	rawType := PlugKasa // the seeds knew only Kasa
	for _, kv := range entry {
		if k, _ := kv.Key.(string); k == "type" && kv.Value != nil {
			rawType = fmt.Sprint(kv.Value)
		}
	}
	t, ok := LookupPlugType(rawType)
	if !ok {
		return &ValueError{Value: rawType, Msg: fmt.Sprintf("is not a plug type restartinator knows: use one of %s", strings.Join(PlugTypeNames(), ", "))}
	}
	common := plainPlug{Type: t.Name}
	if t.Settings == nil {
		if err := unmarshal(&common); err != nil {
			return unknownPlugKeys(err, t)
		}
		*p = PlugConfig(common)
		p.Type = t.Name
		return nil
	}
	v := withSettings(common, t.Settings())
	if err := unmarshal(v.Interface()); err != nil {
		return unknownPlugKeys(err, t)
	}
	*p = PlugConfig(v.Elem().Field(0).Interface().(plainPlug))
	p.Type = t.Name
	s := reflect.New(v.Elem().Field(1).Type())
	s.Elem().Set(v.Elem().Field(1))
	p.Settings = s.Interface().(PlugSettings)
	return nil
}

// unknownPlugKeys rewrites yaml's "field x not found in type struct {...}"
// to name the key, the plug type and the keys it takes.
func unknownPlugKeys(err error, t PlugType) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	out := &yaml.TypeError{}
	for _, msg := range te.Errors {
		if m := fieldNotFound.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("line %s: unknown key %q for a plug of type %s (its keys: %s)", m[1], m[2], t.Name, strings.Join(PlugKeys(t), ", "))
		}
		out.Errors = append(out.Errors, msg)
	}
	return out
}

// PlugKeys lists the keys a plug of type t takes: the common ones, then its
// own.
func PlugKeys(t PlugType) []string {
	keys := yamlKeys(reflect.TypeOf(plainPlug{}))
	if t.Settings != nil {
		keys = append(keys, yamlKeys(reflect.TypeOf(t.Settings()).Elem())...)
	}
	return keys
}

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys = append(keys, name)
	}
	return keys
}

// MarshalYAML writes the common keys and the type's own as one mapping, so
// config convert prints what a user would write.
func (p PlugConfig) MarshalYAML() (any, error) {
	if p.Settings == nil {
		return plainPlug(p), nil
	}
	return withSettings(plainPlug(p), p.Settings).Interface(), nil
}

// checkType resolves a plug's type and fills in its keys' defaults when the
// plug was built in code rather than decoded.
func (p *PlugConfig) checkType() (PlugType, error) {
	if p.Type == "" {
		p.Type = PlugKasa
	}
	p.Type = lower(p.Type)
	t, ok := LookupPlugType(p.Type)
	if !ok {
		return t, fmt.Errorf("type %q is not supported (supported: %s)", p.Type, strings.Join(PlugTypeNames(), ", "))
	}
	switch {
	case t.Settings == nil && p.Settings != nil:
		return t, fmt.Errorf("type %s takes no keys of its own, but has %T", p.Type, p.Settings)
	case t.Settings == nil:
	case p.Settings == nil:
		p.Settings = t.Settings()
	case reflect.TypeOf(p.Settings) != reflect.TypeOf(t.Settings()):
		return t, fmt.Errorf("type %s has keys %T, not %T", p.Type, t.Settings(), p.Settings)
	}
	return t, nil
}

// Password returns the plug's password, read from password_file if given.
func (p *PlugConfig) ReadPassword() (string, error) {
	pw, err := ReadSecret(string(p.Password), p.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("plug %q: password_file: %w", p.Name, err)
	}
	return pw, nil
}

// ParsePlug checks one plug given as keys and values (the plug command's
// flags) exactly as a plugs: entry of a config file is checked.
func ParsePlug(entry map[string]any) (PlugConfig, error) {
	var p PlugConfig
	data, err := yaml.Marshal(entry)
	if err != nil {
		return p, err
	}
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		// Lines of a document made here mean nothing to the user.
		return p, errors.New(lineRef.ReplaceAllString(tidyYAMLError(data, err).Error(), ""))
	}
	return p, errors.Join(p.check()...)
}
