package mqtt

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/event"
)

// SupportURL is where a Home Assistant user is sent from the origin block.
const SupportURL = "https://github.com/restartinator/restartinator"

// view is what one round of publishing is decided from.
type view struct {
	devices []collector.DeviceStatus
	holding string
	dryRun  bool
}

// plan is every retained message restartinator wants on the broker now:
// topic → payload. undecided topics are ones it may want later (a meter not
// read yet) and must not clear meanwhile.
type plan struct {
	want      map[string]string
	undecided map[string]bool
	// slugs maps a topic level back to its device name, for commands.
	devices map[string]string
}

// planner decides the retained messages from a view. It is pure but for
// metered, which remembers plugs seen with a meter so a plug that stops
// answering does not take its power entities away, and a cache.
type planner struct {
	t       topics
	cfg     config.MQTTConfig
	version string
	metered map[string]bool // device name → its outlet has a meter
	// configs caches each device's discovery configs by what they are
	// made of: encoding them is most of a round's cost, and they rarely
	// change.
	configs map[configKey]deviceConfigs
}

type configKey struct {
	slug, name, mode, probe string
	plugged, metered        bool
}

type deviceConfigs struct {
	want      map[string]string
	undecided []string
}

func newPlanner(cfg config.MQTTConfig, version string) *planner {
	return &planner{t: newTopics(cfg.TopicPrefix, cfg.DiscoveryPrefix), cfg: cfg, version: version,
		metered: map[string]bool{}, configs: map[configKey]deviceConfigs{}}
}

func (p *planner) plan(v view) plan {
	out := plan{want: map[string]string{}, undecided: map[string]bool{}, devices: map[string]string{}}
	names := make([]string, len(v.devices))
	for i, d := range v.devices {
		names[i] = d.Name
	}
	sl := slugs(names)
	guard, _ := json.Marshal(map[string]any{"holding": v.holding != "", "reason": v.holding, "dry_run": v.dryRun})
	out.want[p.t.guard()] = string(guard)
	if p.cfg.Discovery {
		for topic, payload := range p.instanceConfigs() {
			out.want[topic] = payload
		}
	}
	for _, d := range v.devices {
		s := sl[d.Name]
		out.devices[s] = d.Name
		if d.Reading != nil && d.Reading.Metered {
			p.metered[d.Name] = true
		}
		for topic, payload := range p.deviceState(s, d) {
			out.want[topic] = payload
		}
		if !p.cfg.Discovery {
			continue
		}
		key := configKey{slug: s, name: d.Name, mode: d.Mode, probe: d.Probe, plugged: d.Plug != "", metered: p.metered[d.Name]}
		dc, ok := p.configs[key]
		if !ok {
			dc.want, dc.undecided = p.deviceConfigs(s, d)
			p.configs[key] = dc
		}
		for topic, payload := range dc.want {
			out.want[topic] = payload
		}
		for _, topic := range dc.undecided {
			out.undecided[topic] = true
		}
	}
	if len(p.configs) > 2*len(v.devices)+16 {
		clear(p.configs) // devices renamed or removed: start the cache over
	}
	return out
}

// attributes is the JSON on <device>/attributes.
type attributes struct {
	State               string         `json:"state"`
	Mode                string         `json:"mode"`
	Probe               string         `json:"probe"`
	Target              string         `json:"target"`
	Up                  *bool          `json:"up"`
	ConsecutiveFailures int            `json:"consecutive_failures"`
	LastProbe           *time.Time     `json:"last_probe"`
	LastProbeLatency    *float64       `json:"last_probe_latency_seconds"`
	LastProbeError      string         `json:"last_probe_error"`
	LastCycle           *time.Time     `json:"last_cycle"`
	CyclesInWindow      int            `json:"cycles_in_window"`
	NextScheduledReboot *time.Time     `json:"next_scheduled_reboot"`
	BootUntil           *time.Time     `json:"boot_until"`
	HeldReason          string         `json:"held_reason"`
	Plug                string         `json:"plug"`
	Outlet              string         `json:"outlet"`
	Reading             *event.Reading `json:"plug_reading"`
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}

func number(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// deviceState is a device's retained state topics.
func (p *planner) deviceState(s string, d collector.DeviceStatus) map[string]string {
	out := map[string]string{p.t.device(s, "state"): d.State}
	a := attributes{State: d.State, Mode: d.Mode, Probe: d.Probe, Target: d.Target, ConsecutiveFailures: d.ConsecutiveFailures,
		LastCycle: utc(d.LastCycle), CyclesInWindow: d.CyclesInWindow, NextScheduledReboot: utc(d.NextScheduledReboot),
		BootUntil: utc(d.BootUntil), HeldReason: d.Held, Plug: d.Plug, Outlet: d.Outlet, Reading: d.Reading}
	if lp := d.LastProbe; lp != nil {
		up, lat := lp.Success, lp.DurationSeconds
		a.Up, a.LastProbe, a.LastProbeLatency, a.LastProbeError = &up, utc(&lp.Time), &lat, lp.Error
		out[p.t.device(s, "up")] = onOff(up)
	}
	b, _ := json.Marshal(a)
	out[p.t.device(s, "attributes")] = string(b)
	if r := d.Reading; r != nil {
		out[p.t.device(s, "relay")] = onOff(r.RelayOn)
		if r.Metered {
			out[p.t.device(s, "power")] = number(r.Watts)
			out[p.t.device(s, "energy")] = number(r.WattHours)
		}
	}
	return out
}

// deviceLeaves are every retained topic a device may have, for clearing
// those of a device that left the config.
var deviceLeaves = []string{"state", "up", "attributes", "relay", "power", "energy"}

// entity is one Home Assistant discovery config.
type entity struct {
	component, key string
	cfg            map[string]any
}

func (p *planner) origin() map[string]any {
	return map[string]any{"name": "restartinator", "sw_version": p.version, "support_url": SupportURL}
}

func (p *planner) availability() []map[string]any {
	return []map[string]any{{"topic": p.t.status(), "payload_available": "online", "payload_not_available": "offline"}}
}

// instanceConfigs describe restartinator itself: the device every
// supervised device is reached through (via_device).
func (p *planner) instanceConfigs() map[string]string {
	name := "restartinator"
	if p.cfg.TopicPrefix != config.DefaultMQTT.TopicPrefix {
		name += " (" + p.cfg.TopicPrefix + ")"
	}
	dev := map[string]any{"identifiers": []string{p.t.node}, "name": name, "manufacturer": "restartinator",
		"model": "restartinator", "sw_version": p.version}
	entities := []entity{
		{"binary_sensor", "status", map[string]any{
			"name": "Monitor", "device_class": "connectivity", "state_topic": p.t.status(),
			"payload_on": "online", "payload_off": "offline", "entity_category": "diagnostic",
		}},
		{"binary_sensor", "guard", map[string]any{
			"name": "Guard holding cycles", "device_class": "problem", "state_topic": p.t.guard(),
			"value_template": "{{ 'ON' if value_json.holding else 'OFF' }}", "json_attributes_topic": p.t.guard(),
			"availability": p.availability(),
		}},
	}
	out := map[string]string{}
	for _, e := range entities {
		topic, payload := p.render(p.t.node, e, dev)
		out[topic] = payload
	}
	return out
}

// deviceConfigs describe one supervised device and its entities. The power
// and energy configs of a plugged device whose meter has not been read yet
// are undecided: neither published nor cleared.
func (p *planner) deviceConfigs(s string, d collector.DeviceStatus) (map[string]string, []string) {
	dev := map[string]any{"identifiers": []string{p.t.node + "_" + s}, "name": d.Name, "manufacturer": "restartinator",
		"model": d.Probe + " probe, mode " + d.Mode, "via_device": p.t.node}
	attr := p.t.device(s, "attributes")
	entities := []entity{
		{"binary_sensor", "connectivity", map[string]any{
			"name": "Connectivity", "device_class": "connectivity", "state_topic": p.t.device(s, "up"),
			"payload_on": "ON", "payload_off": "OFF", "json_attributes_topic": attr,
		}},
		{"sensor", "state", map[string]any{
			"name": "State", "device_class": "enum", "options": collector.States, "state_topic": p.t.device(s, "state"),
			"json_attributes_topic": attr, "icon": "mdi:state-machine",
		}},
		{"sensor", "cycles_in_window", map[string]any{
			"name": "Power cycles in window", "state_topic": attr, "value_template": "{{ value_json.cycles_in_window }}",
			"state_class": "measurement", "icon": "mdi:restart",
		}},
		{"sensor", "last_cycle", map[string]any{
			"name": "Last power cycle", "device_class": "timestamp", "state_topic": attr,
			"value_template": "{{ value_json.last_cycle }}",
		}},
		{"sensor", "probe_latency", map[string]any{
			"name": "Probe latency", "device_class": "duration", "unit_of_measurement": "s", "state_class": "measurement",
			"suggested_display_precision": 3, "state_topic": attr, "entity_category": "diagnostic",
			"value_template": "{{ value_json.last_probe_latency_seconds }}",
		}},
	}
	metered := []entity{
		{"sensor", "power", map[string]any{
			"name": "Power", "device_class": "power", "unit_of_measurement": "W", "state_class": "measurement",
			"state_topic": p.t.device(s, "power"),
		}},
		{"sensor", "energy", map[string]any{
			"name": "Energy", "device_class": "energy", "unit_of_measurement": "Wh", "state_class": "total_increasing",
			"state_topic": p.t.device(s, "energy"),
		}},
	}
	var undecided []string
	if d.Plug != "" {
		entities = append(entities, entity{"binary_sensor", "relay", map[string]any{
			"name": "Outlet", "device_class": "power", "state_topic": p.t.device(s, "relay"),
			"payload_on": "ON", "payload_off": "OFF",
		}})
		if p.metered[d.Name] {
			entities = append(entities, metered...)
		} else {
			for _, e := range metered {
				undecided = append(undecided, p.t.config(e.component, s+"_"+e.key))
			}
		}
		if p.cfg.Commands && d.Mode != config.ModeMonitor {
			entities = append(entities, entity{"button", "power_cycle", map[string]any{
				"name": "Power-cycle", "device_class": "restart", "command_topic": p.t.device(s, "cycle/set"),
				"payload_press": "PRESS",
			}})
		}
	}
	out := map[string]string{}
	for _, e := range entities {
		if _, ok := e.cfg["availability"]; !ok {
			e.cfg["availability"] = p.availability()
		}
		topic, payload := p.render(s, e, dev)
		out[topic] = payload
	}
	return out, undecided
}

// render completes an entity's config with the keys every one has and
// encodes it; map keys encode sorted, so the payload is stable.
func (p *planner) render(s string, e entity, dev map[string]any) (string, string) {
	object := s + "_" + e.key
	if s == p.t.node {
		object = e.key
	}
	c := e.cfg
	c["unique_id"] = p.t.node + "_" + object
	c["device"] = dev
	c["origin"] = p.origin()
	c["qos"] = p.cfg.QoS
	b, _ := json.Marshal(c)
	return p.t.config(e.component, object), string(b)
}
