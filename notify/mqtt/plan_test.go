package mqtt

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/event"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestSlug(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Router", "router"},
		{"Front Door Camera", "front_door_camera"},
		{"rack/strip+1#2", "rack_strip_1_2"},
		{"  spaced  out  ", "spaced_out"},
		{"NAS-01_b", "nas-01_b"},
		{"Küche", "k_che"},
		{"///", "device"},
		{"", "device"},
		{strings.Repeat("x", 100), strings.Repeat("x", 64)},
	} {
		if got := slug(tc.in); got != tc.want {
			t.Errorf("slug(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSlugsKeepCollidingNamesApart(t *testing.T) {
	names := []string{"a/b", "a b", "a+b", "Router"}
	got := slugs(names)
	seen := map[string]string{}
	for _, n := range names {
		s := got[n]
		if other, dup := seen[s]; dup {
			t.Errorf("%q and %q share the topic level %q", n, other, s)
		}
		seen[s] = n
	}
	if got["Router"] != "router" {
		t.Errorf("a name that collides with nothing should keep its plain slug, got %q", got["Router"])
	}
	// Stable: the same set in another order slugs the same way.
	again := slugs([]string{"Router", "a+b", "a b", "a/b"})
	for _, n := range names {
		if again[n] != got[n] {
			t.Errorf("%q: %q then %q: slugs depend on order", n, got[n], again[n])
		}
	}
}

var validLevel = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// FuzzRetainedMessage feeds what a broker may hand back (any topic, any
// payload) through what reads it: the topic's device level, the state
// topics a stale discovery config names, and the slug of any name.
func FuzzRetainedMessage(f *testing.F) {
	f.Add("restartinator/gone/state", []byte(`{"state_topic":"restartinator/gone/state","json_attributes_topic":"restartinator/gone/attributes"}`))
	f.Add("homeassistant/sensor/restartinator/x_state/config", []byte(`{"state_topic":"restartinator/+/state"}`))
	f.Add("restartinator/a/b/cycle/set", []byte(`not json`))
	f.Add("restartinator//state", []byte(`{"state_topic":7}`))
	f.Add("Front Door Camera/ü+#", []byte{0xff, 0x00})
	tp := newTopics("restartinator", "homeassistant")
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		for _, leaf := range []string{"state", "cycle/set"} {
			if s, ok := tp.deviceOf(topic, leaf); ok && (s == "" || strings.Contains(s, "/")) {
				t.Fatalf("deviceOf(%q, %q) = %q: not one topic level", topic, leaf, s)
			}
		}
		for _, named := range staleStateTopics(payload) {
			if named == "" || strings.ContainsAny(named, "+#") {
				t.Fatalf("would clear %q: empty or a wildcard", named)
			}
		}
		for _, s := range []string{slug(topic), hashed(topic), slug(string(payload))} {
			if !validLevel.MatchString(s) {
				t.Fatalf("slug %q: not a safe topic level / object id", s)
			}
		}
		if a, b := slug(topic), slug(strings.Clone(topic)); a != b {
			t.Fatalf("slug not stable: %q then %q", a, b)
		}
	})
}

func TestBackoff(t *testing.T) {
	max := 2 * time.Minute
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, 64 * time.Second, max, max}
	for n, w := range want {
		if got := backoff(n, max); got != w {
			t.Errorf("backoff(%d) = %s, want %s", n, got, w)
		}
	}
	if got := backoff(1000, max); got != max {
		t.Errorf("backoff(1000) = %s: overflowed past the cap", got)
	}
}

// sampleView is a router on a metered plug, a printer on a strip outlet
// with no meter read yet, and a weather station only watched.
func sampleView() view {
	cycled := time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC)
	probed := cycled.Add(time.Hour)
	return view{devices: []collector.DeviceStatus{
		{Name: "Router", State: "up", Mode: "auto", Probe: "tcp", Target: "192.168.1.1:53", Plug: "desk-plug",
			LastProbe: &collector.ProbeStatus{Time: probed, Success: true, DurationSeconds: 0.0021}, LastCycle: &cycled, CyclesInWindow: 1,
			Reading: &event.Reading{RelayOn: true, Watts: 7.5, Volts: 230.1, Amperes: 0.05, WattHours: 1234, Metered: true}},
		{Name: "Printer / Office", State: "failing", Mode: "alert", Probe: "http", Target: "http://printer/", Plug: "rack-strip", Outlet: "1",
			ConsecutiveFailures: 2, LastProbe: &collector.ProbeStatus{Time: probed, Success: false, DurationSeconds: 5, Error: "timeout"}},
		{Name: "Weather Station", State: "unknown", Mode: "monitor", Probe: "icmp", Target: "10.0.0.9"},
	}}
}

func testConfig() config.MQTTConfig {
	c := config.DefaultMQTT
	c.Broker = "mqtt://127.0.0.1:1883"
	c.Commands = true
	return c
}

// discoveryOf returns the discovery configs of a plan, decoded.
func discoveryOf(t *testing.T, p plan, prefix string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for topic, payload := range p.want {
		if !strings.HasPrefix(topic, prefix+"/") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(payload), &m); err != nil {
			t.Fatalf("%s: payload is not JSON: %v", topic, err)
		}
		out[topic] = m
	}
	return out
}

func TestDiscoveryGolden(t *testing.T) {
	pl := newPlanner(testConfig(), "1.2.3")
	got := discoveryOf(t, pl.plan(sampleView()), "homeassistant")
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	const golden = "testdata/discovery.golden.json"
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, b, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("discovery configs differ from %s (go test -update rewrites it after a deliberate change):\n%s", golden, b)
	}
}

// TestDiscoveryHasWhatHomeAssistantRequires checks every config against the
// rules of Home Assistant's MQTT discovery documentation.
func TestDiscoveryHasWhatHomeAssistantRequires(t *testing.T) {
	pl := newPlanner(testConfig(), "1.2.3")
	configs := discoveryOf(t, pl.plan(sampleView()), "homeassistant")
	topicRE := regexp.MustCompile(`^homeassistant/(binary_sensor|sensor|button)/[a-zA-Z0-9_-]+/[a-zA-Z0-9_-]+/config$`)
	uniq := map[string]string{}
	byDevice := map[string][]string{}
	// Units Home Assistant accepts for each device class we use.
	units := map[string][]string{"power": {"W", "kW"}, "energy": {"Wh", "kWh"}, "duration": {"s", "ms", "min", "h", "d"}}
	for topic, c := range configs {
		m := topicRE.FindStringSubmatch(topic)
		if m == nil {
			t.Errorf("%s: not <discovery_prefix>/<component>/<node_id>/<object_id>/config with [a-zA-Z0-9_-] ids", topic)
			continue
		}
		component := m[1]
		str := func(k string) string { s, _ := c[k].(string); return s }
		for _, k := range []string{"name", "unique_id"} {
			if str(k) == "" {
				t.Errorf("%s: no %s", topic, k)
			}
		}
		if other, dup := uniq[str("unique_id")]; dup {
			t.Errorf("%s and %s share unique_id %q", topic, other, str("unique_id"))
		}
		uniq[str("unique_id")] = topic
		switch component {
		case "sensor", "binary_sensor":
			if str("state_topic") == "" {
				t.Errorf("%s: a %s needs state_topic", topic, component)
			}
		case "button":
			if str("command_topic") == "" {
				t.Errorf("%s: a button needs command_topic", topic)
			}
		}
		dev, _ := c["device"].(map[string]any)
		ids, _ := dev["identifiers"].([]any)
		if len(ids) == 0 || dev["name"] == nil {
			t.Errorf("%s: device needs identifiers and a name: %v", topic, dev)
		} else {
			byDevice[ids[0].(string)] = append(byDevice[ids[0].(string)], topic)
		}
		if o, _ := c["origin"].(map[string]any); o["name"] == nil {
			t.Errorf("%s: origin needs a name", topic)
		}
		dc, sc, unit := str("device_class"), str("state_class"), str("unit_of_measurement")
		if dc == "enum" && (sc != "" || unit != "" || c["options"] == nil) {
			t.Errorf("%s: an enum sensor has options and neither state_class nor unit", topic)
		}
		if allowed, ok := units[dc]; ok && component == "sensor" && !contains(allowed, unit) {
			t.Errorf("%s: device_class %s with unit %q", topic, dc, unit)
		}
		if sc == "total_increasing" && dc != "energy" {
			t.Errorf("%s: total_increasing on %s", topic, dc)
		}
		if dc == "timestamp" && sc != "" {
			t.Errorf("%s: a timestamp sensor has no state_class", topic)
		}
		for k, v := range c {
			if strings.HasSuffix(k, "_topic") && strings.ContainsAny(v.(string), "+#") {
				t.Errorf("%s: %s %q has a wildcard", topic, k, v)
			}
		}
	}
	// One device per supervised device plus the instance; every device
	// but the instance reaches Home Assistant through it.
	if len(byDevice) != 4 {
		t.Errorf("%d devices in discovery, want 3 supervised + the instance: %v", len(byDevice), byDevice)
	}
	for topic, c := range configs {
		dev := c["device"].(map[string]any)
		if dev["identifiers"].([]any)[0] != "restartinator" && dev["via_device"] != "restartinator" {
			t.Errorf("%s: via_device %v, want the instance", topic, dev["via_device"])
		}
	}
	// What each device gets: the router its power and energy; the printer
	// (no meter read yet) neither, but they stay undecided; the weather
	// station (monitor, no plug) no button and no outlet.
	want := map[string]bool{
		"homeassistant/sensor/restartinator/router_power/config":                 true,
		"homeassistant/sensor/restartinator/router_energy/config":                true,
		"homeassistant/button/restartinator/router_power_cycle/config":           true,
		"homeassistant/button/restartinator/printer_office_power_cycle/config":   true,
		"homeassistant/sensor/restartinator/printer_office_power/config":         false,
		"homeassistant/button/restartinator/weather_station_power_cycle/config":  false,
		"homeassistant/binary_sensor/restartinator/weather_station_relay/config": false,
	}
	for topic, present := range want {
		if _, ok := configs[topic]; ok != present {
			t.Errorf("%s present=%v, want %v", topic, ok, present)
		}
	}
	if !pl.plan(sampleView()).undecided["homeassistant/sensor/restartinator/printer_office_power/config"] {
		t.Error("an unread meter's power config should be undecided, not cleared")
	}
}

func TestNoButtonWithoutCommands(t *testing.T) {
	c := testConfig()
	c.Commands = false
	for topic := range newPlanner(c, "x").plan(sampleView()).want {
		if strings.Contains(topic, "/button/") {
			t.Errorf("%s published with commands off: the button would do nothing", topic)
		}
	}
}

func TestStateTopics(t *testing.T) {
	p := newPlanner(testConfig(), "x").plan(sampleView())
	for topic, want := range map[string]string{
		"restartinator/router/state":          "up",
		"restartinator/router/up":             "ON",
		"restartinator/router/relay":          "ON",
		"restartinator/router/power":          "7.5",
		"restartinator/router/energy":         "1234",
		"restartinator/printer_office/state":  "failing",
		"restartinator/printer_office/up":     "OFF",
		"restartinator/weather_station/state": "unknown",
	} {
		if got := p.want[topic]; got != want {
			t.Errorf("%s = %q, want %q", topic, got, want)
		}
	}
	if _, ok := p.want["restartinator/weather_station/up"]; ok {
		t.Error("a device never probed has no up/down yet")
	}
	var a map[string]any
	json.Unmarshal([]byte(p.want["restartinator/router/attributes"]), &a)
	if a["cycles_in_window"] != 1.0 || a["last_cycle"] != "2026-11-30T04:00:00Z" || a["last_probe_latency_seconds"] != 0.0021 {
		t.Errorf("router attributes: %v", a)
	}
	var g map[string]any
	json.Unmarshal([]byte(p.want["restartinator/guard"]), &g)
	if g["holding"] != false {
		t.Errorf("guard: %v", g)
	}
	keys := make([]string, 0, len(p.devices))
	for s := range p.devices {
		keys = append(keys, s)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "printer_office,router,weather_station" {
		t.Errorf("device slugs %v", keys)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
