package mqtt

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
)

// maxSlug bounds a slug's length so topics and Home Assistant ids stay short.
const maxSlug = 64

// slug makes a name safe as one MQTT topic level and as a Home Assistant
// object id ([a-z0-9_-]): anything else, including /, +, # and spaces,
// becomes "_". It is a pure function of the name, so a device keeps its
// topics across restarts.
func slug(name string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(name) {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		if !ok {
			r = '_'
		}
		if r == '_' {
			if under || b.Len() == 0 {
				continue
			}
			under = true
		} else {
			under = false
		}
		b.WriteRune(r)
	}
	s := strings.TrimRight(b.String(), "_")
	if len(s) > maxSlug {
		s = strings.TrimRight(s[:maxSlug], "_")
	}
	if s == "" {
		s = "device"
	}
	return s
}

// hashed is a slug with a short hash of the exact name, for names whose
// slugs collide ("a/b" and "a b").
func hashed(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	s := slug(name)
	if len(s) > maxSlug-9 {
		s = strings.TrimRight(s[:maxSlug-9], "_")
	}
	return fmt.Sprintf("%s_%08x", s, h.Sum32())
}

// slugs maps every device name to its topic level. Names whose slugs would
// collide each get the hashed form, so no two devices share a topic; a
// device whose slug collides with nothing keeps the plain, readable form.
func slugs(names []string) map[string]string {
	count := map[string]int{}
	for _, n := range names {
		count[slug(n)]++
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		s := slug(n)
		if count[s] > 1 {
			s = hashed(n)
		}
		out[n] = s
	}
	return out
}

// topics is the topic layout under one prefix.
type topics struct {
	prefix, discovery, node string
}

func newTopics(prefix, discoveryPrefix string) topics {
	return topics{prefix: prefix, discovery: discoveryPrefix, node: slug(prefix)}
}

func (t topics) status() string               { return t.prefix + "/status" }
func (t topics) guard() string                { return t.prefix + "/guard" }
func (t topics) event() string                { return t.prefix + "/event" }
func (t topics) device(s, leaf string) string { return t.prefix + "/" + s + "/" + leaf }
func (t topics) commandFilter() string        { return t.prefix + "/+/cycle/set" }
func (t topics) stateFilter() string          { return t.prefix + "/+/state" }
func (t topics) haStatus() string             { return t.discovery + "/status" }
func (t topics) discoveryFilter() string      { return t.discovery + "/+/" + t.node + "/+/config" }

// config is a discovery config topic: <discovery_prefix>/<component>/<node>/<object>/config.
// The node level (our prefix's slug) lets us subscribe to our own configs
// only, to find and clear those of devices that left the config.
func (t topics) config(component, object string) string {
	return t.discovery + "/" + component + "/" + t.node + "/" + object + "/config"
}

// deviceOf returns the device slug of a topic <prefix>/<slug>/<leaf...>.
func (t topics) deviceOf(topic, leaf string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, t.prefix+"/")
	if !ok {
		return "", false
	}
	s, ok := strings.CutSuffix(rest, "/"+leaf)
	if !ok || s == "" || strings.Contains(s, "/") {
		return "", false
	}
	return s, true
}

func sortTopics(ts []string, first string) {
	sort.Slice(ts, func(i, j int) bool {
		a, b := first != "" && strings.HasPrefix(ts[i], first), first != "" && strings.HasPrefix(ts[j], first)
		if a != b {
			return a
		}
		return ts[i] < ts[j]
	})
}
