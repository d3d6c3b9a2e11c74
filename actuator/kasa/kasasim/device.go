package kasasim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
)

// outlet is one relay of the simulated device with its meter and countdown.
type outlet struct {
	id, alias string
	on        bool
	onSince   time.Time
	// Meter readings while on; voltage holds while off.
	watts, volts, amps float64
	wattHours          float64
	lastTally          time.Time
	rule               *countdown // armed, not yet fired
	// listed is the SMART countdown slot: the rule as get_countdown_rules
	// shows it, kept after it fires (disabled, remain 0) until removed.
	listed *countdown
	extra  map[string]any // SMART child: recorded responses
	info   map[string]any // SMART child: recorded get_device_info
}

type countdown struct {
	id      string
	delay   int
	act     bool // switch on (true) or off when it fires
	armedAt time.Time
	fired   bool
	stop    chan struct{}
}

// remain is the whole seconds left before the rule fires.
func (r *countdown) remain(now time.Time) int {
	if r.fired {
		return 0
	}
	left := time.Duration(r.delay)*time.Second - now.Sub(r.armedAt)
	return int((left + time.Second - 1) / time.Second)
}

// device is the state behind one simulated plug, shared by its servers.
type device struct {
	mu    sync.Mutex
	clock clock.Clock
	done  chan struct{}

	api      string // "iot" or "smart"
	model    string // short model, e.g. "HS110"
	energy   string // "", "v1", "v2" (IOT) or "smart"
	strip    bool
	deviceID string
	alias    string

	// Recorded or built-in answers. IOT: module -> method -> result;
	// SMART: method -> result.
	iot       map[string]map[string]any
	smart     map[string]any
	discovery map[string]any // discovery_result, or nil

	outlets []*outlet
	nextID  int
	// clearRuleOnSwitch: a request that changes a relay also clears its
	// countdown, as some firmware is reported to do.
	clearRuleOnSwitch bool
}

// recording is a device file in python-kasa's fixture format.
type recording map[string]json.RawMessage

func loadRecordingFile(path string) (recording, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r recording
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: not a device recording: %w", path, err)
	}
	return r, nil
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func num(v any) (float64, bool) {
	f, ok := v.(float64)
	return f, ok
}

// newDevice builds the simulated state from a recording.
func newDevice(rec recording, clk clock.Clock) (*device, error) {
	d := &device{clock: clk, done: make(chan struct{}), iot: map[string]map[string]any{}, smart: map[string]any{}}
	now := clk.Now()
	if raw, ok := rec["discovery_result"]; ok {
		var disc map[string]any
		_ = json.Unmarshal(raw, &disc) // a fixture without a usable discovery result has none
		if r := asMap(disc["result"]); r != nil {
			d.discovery = r
		} else {
			d.discovery = disc
		}
	}
	if _, ok := rec["system"]; ok {
		return d, d.loadIOT(rec, now)
	}
	if _, ok := rec["get_device_info"]; ok {
		return d, d.loadSMART(rec, now)
	}
	return nil, fmt.Errorf("recording has neither system.get_sysinfo (IOT) nor get_device_info (SMART)")
}

func (d *device) loadIOT(rec recording, now time.Time) error {
	d.api = "iot"
	for mod, raw := range rec {
		if mod == "discovery_result" {
			continue
		}
		var methods map[string]any
		if json.Unmarshal(raw, &methods) != nil {
			continue
		}
		d.iot[mod] = methods
	}
	si := asMap(d.iot["system"]["get_sysinfo"])
	if si == nil {
		return fmt.Errorf("recording has no system.get_sysinfo object")
	}
	model, _ := si["model"].(string)
	d.model, _, _ = strings.Cut(model, "(")
	d.deviceID, _ = si["deviceId"].(string)
	d.alias, _ = si["alias"].(string)
	volts, watts, amps, wh := 120.0, 0.0, 0.0, 0.0
	if rt := asMap(d.iot["emeter"]["get_realtime"]); rt != nil {
		if c, _ := num(rt["err_code"]); c == 0 {
			if _, ok := rt["power_mw"]; ok {
				d.energy = "v2"
				watts, _ = num(rt["power_mw"])
				volts, _ = num(rt["voltage_mv"])
				amps, _ = num(rt["current_ma"])
				wh, _ = num(rt["total_wh"])
				watts, volts, amps = watts/1000, volts/1000, amps/1000
			} else if _, ok := rt["power"]; ok {
				d.energy = "v1"
				watts, _ = num(rt["power"])
				volts, _ = num(rt["voltage"])
				amps, _ = num(rt["current"])
				wh, _ = num(rt["total"])
				wh *= 1000
			}
		}
	}
	mk := outletMaker(now, watts, volts, amps, wh)
	if kids, ok := si["children"].([]any); ok && len(kids) > 0 {
		d.strip = true
		for _, k := range kids {
			c := asMap(k)
			id, _ := c["id"].(string)
			alias, _ := c["alias"].(string)
			state, _ := num(c["state"])
			ot, _ := num(c["on_time"])
			d.outlets = append(d.outlets, mk(id, alias, state == 1, ot))
		}
		return nil
	}
	rs, ok := num(si["relay_state"])
	if !ok {
		return fmt.Errorf("sysinfo of %s has neither relay_state nor children: not a plug", model)
	}
	ot, _ := num(si["on_time"])
	d.outlets = []*outlet{mk("", d.alias, rs == 1, ot)}
	return nil
}

func decodeNick(s string) string {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return string(b)
	}
	return s
}

func (d *device) loadSMART(rec recording, now time.Time) error {
	d.api = "smart"
	for k, raw := range rec {
		if k == "discovery_result" {
			continue
		}
		var v any
		_ = json.Unmarshal(raw, &v) // came from json.RawMessage: valid JSON
		d.smart[k] = v
	}
	info := asMap(d.smart["get_device_info"])
	model, _ := info["model"].(string)
	d.model, _, _ = strings.Cut(model, "(")
	d.deviceID, _ = info["device_id"].(string)
	nick, _ := info["nickname"].(string)
	d.alias = decodeNick(nick)
	volts, watts, amps, wh := 120.0, 0.0, 0.0, 0.0
	if em := asMap(d.smart["get_emeter_data"]); em != nil {
		watts, _ = num(em["power_mw"])
		volts, _ = num(em["voltage_mv"])
		amps, _ = num(em["current_ma"])
		wh, _ = num(em["energy_wh"])
		watts, volts, amps = watts/1000, volts/1000, amps/1000
		d.energy = "smart"
	}
	if eu := asMap(d.smart["get_energy_usage"]); eu != nil {
		d.energy = "smart"
		if watts == 0 {
			p, _ := num(eu["current_power"])
			watts = p / 1000
		}
		if wh == 0 {
			wh, _ = num(eu["month_energy"])
		}
	}
	mk := outletMaker(now, watts, volts, amps, wh)
	if list := asMap(d.smart["get_child_device_list"]); list != nil {
		kids, _ := list["child_device_list"].([]any)
		details := asMap(d.smart["child_devices"])
		for _, k := range kids {
			c := asMap(k)
			id, _ := c["device_id"].(string)
			nick, _ := c["nickname"].(string)
			on, _ := c["device_on"].(bool)
			ot, _ := num(c["on_time"])
			o := mk(id, decodeNick(nick), on, ot)
			o.info = c
			o.extra = asMap(details[id])
			d.outlets = append(d.outlets, o)
		}
		if len(d.outlets) > 0 {
			d.strip = true
			d.energy = ""
			// Recorded ids may repeat once masked; keep them distinct.
			seen := map[string]bool{}
			for i, o := range d.outlets {
				if seen[o.id] {
					o.id = fmt.Sprintf("%s_%d", o.id, i)
				}
				seen[o.id] = true
			}
			return nil
		}
	}
	on, ok := info["device_on"].(bool)
	if !ok {
		return fmt.Errorf("get_device_info of %s has no device_on: not a plug", model)
	}
	ot, _ := num(info["on_time"])
	d.outlets = []*outlet{mk("", d.alias, on, ot)}
	return nil
}

// hasComponent reports whether a SMART device lists component id.
func (d *device) hasComponent(id string) bool {
	nego := asMap(d.smart["component_nego"])
	list, _ := nego["component_list"].([]any)
	for _, c := range list {
		if asMap(c)["id"] == id {
			return true
		}
	}
	return false
}

// tally adds the energy used since the last reading. Called with d.mu held.
func (d *device) tally(o *outlet) {
	now := d.clock.Now()
	if o.on {
		o.wattHours += o.watts * now.Sub(o.lastTally).Hours()
	}
	o.lastTally = now
}

// setOn switches an outlet. Called with d.mu held.
func (d *device) setOn(o *outlet, on bool) {
	d.tally(o)
	if on && !o.on {
		o.onSince = d.clock.Now()
	}
	o.on = on
}

func (d *device) onTime(o *outlet) int64 {
	if !o.on {
		return 0
	}
	return int64(d.clock.Now().Sub(o.onSince) / time.Second)
}

// reading is what the meter shows now: zero draw while the relay is off.
func (d *device) reading(o *outlet) (watts, volts, amps, wh float64) {
	d.tally(o)
	if !o.on {
		return 0, o.volts, 0, o.wattHours
	}
	return o.watts, o.volts, o.amps, o.wattHours
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// arm starts a countdown on o that sets the relay to act after delay
// seconds of the device's clock. Called with d.mu held.
func (d *device) arm(o *outlet, delay int, act bool) *countdown {
	d.disarm(o)
	d.nextID++
	r := &countdown{id: fmt.Sprintf("%032X", d.nextID), delay: delay, act: act, armedAt: d.clock.Now(), stop: make(chan struct{})}
	if d.api == "smart" {
		r.id = "C1" // the one slot, as a P110 lists it
	}
	o.rule, o.listed = r, r
	t := d.clock.NewTimer(time.Duration(delay) * time.Second)
	go func() {
		select {
		case <-t.C():
			d.mu.Lock()
			if o.rule == r {
				d.setOn(o, r.act)
				o.rule = nil
				r.fired = true
			}
			d.mu.Unlock()
		case <-r.stop:
			t.Stop()
		case <-d.done:
			t.Stop()
		}
	}()
	return r
}

// disarm stops o's countdown; a SMART slot stays listed, disabled. Called
// with d.mu held.
func (d *device) disarm(o *outlet) {
	if o.rule != nil {
		close(o.rule.stop)
		o.rule = nil
	}
}

// switchByRequest is a relay change asked for over the network. Called with
// d.mu held.
func (d *device) switchByRequest(o *outlet, on bool) {
	if d.clearRuleOnSwitch && o.on != on {
		d.disarm(o)
		o.listed = nil
	}
	d.setOn(o, on)
}

// deepCopy clones a decoded JSON value so answers never alias the template.
func deepCopy(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out) // b was just marshalled
	return out
}

// outletMaker builds outlets that share the recorded meter reading. A
// recording made with nothing plugged in still draws something, so a
// reading visibly follows the relay.
func outletMaker(now time.Time, watts, volts, amps, wh float64) func(id, alias string, on bool, onTime float64) *outlet {
	if watts == 0 {
		watts = 12.5
	}
	if volts == 0 {
		volts = 120
	}
	if amps == 0 {
		amps = watts / volts
	}
	return func(id, alias string, on bool, onTime float64) *outlet {
		return &outlet{id: id, alias: alias, on: on, onSince: now.Add(-time.Duration(onTime) * time.Second),
			watts: watts, volts: volts, amps: amps, wattHours: wh, lastTally: now}
	}
}
