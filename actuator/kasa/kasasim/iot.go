package kasasim

import (
	"bytes"
	"encoding/json"
	"fmt"
)

type kv struct {
	key string
	val json.RawMessage
}

// objectInOrder decodes a JSON object keeping its keys' order: IOT firmware
// runs modules in the order sent.
func objectInOrder(b []byte) ([]kv, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var out []kv
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, kv{k, v})
	}
	return out, nil
}

var (
	errModule = map[string]any{"err_code": -1, "err_msg": "module not support"}
	errMember = map[string]any{"err_code": -2, "err_msg": "member not support"}
	errArg    = map[string]any{"err_code": -3, "err_msg": "invalid argument"}
	errEntry  = map[string]any{"err_code": -14, "err_msg": "entry not exist"}
)

func ok(m map[string]any) map[string]any {
	if m == nil {
		m = map[string]any{}
	}
	m["err_code"] = 0
	return m
}

// handleIOT answers one legacy JSON request.
func (p *Plug) handleIOT(req []byte) []byte {
	mods, err := objectInOrder(req)
	if err != nil {
		return []byte(`{"err_code":-1,"err_msg":"json format error"}`)
	}
	d := p.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	// Context applies to every module, wherever it appears.
	var targets []*outlet
	var ctxErr map[string]any
	for _, m := range mods {
		if m.key != "context" {
			continue
		}
		var c struct {
			ChildIDs []string `json:"child_ids"`
		}
		if json.Unmarshal(m.val, &c) != nil {
			ctxErr = errArg
			break
		}
		for _, id := range c.ChildIDs {
			o := d.child(id)
			if o == nil {
				ctxErr = errEntry
				break
			}
			targets = append(targets, o)
		}
		break
	}
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for _, m := range mods {
		if m.key == "context" {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		methods, err := objectInOrder(m.val)
		if err != nil || !d.hasIOTModule(m.key) {
			v, _ := json.Marshal(errModule)
			b.Write(v)
			continue
		}
		b.WriteByte('{')
		for i, meth := range methods {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(meth.key)
			b.Write(k)
			b.WriteByte(':')
			var res map[string]any
			switch {
			case p.refused(m.key + "." + meth.key):
				res = map[string]any{"err_code": -2, "err_msg": "member not support"}
			case p.injectedIOT(m.key+"."+meth.key, &res):
			case ctxErr != nil && m.key != "system" || ctxErr != nil && meth.key == "set_relay_state":
				res = ctxErr
			default:
				res = d.iotMethod(m.key, meth.key, meth.val, targets)
			}
			v, _ := json.Marshal(res)
			b.Write(v)
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.Bytes()
}

func (d *device) hasIOTModule(mod string) bool {
	switch mod {
	case "system", "count_down":
		return true
	case "emeter":
		return d.energy != ""
	}
	_, ok := d.iot[mod]
	return ok
}

// child finds a strip outlet by full id, or by the two-digit suffix some
// firmware uses.
func (d *device) child(id string) *outlet {
	for _, o := range d.outlets {
		if o.id == id || (len(id) <= 2 && d.deviceID+id == o.id) {
			return o
		}
	}
	return nil
}

// scope is what a method acts on: the context's outlets, or on a strip
// without context, all outlets (as real strips do for set_relay_state).
func (d *device) scope(targets []*outlet) []*outlet {
	if len(targets) > 0 {
		return targets
	}
	return d.outlets
}

func (d *device) iotMethod(mod, method string, params json.RawMessage, targets []*outlet) map[string]any {
	switch mod + "." + method {
	case "system.get_sysinfo":
		return d.sysinfo()
	case "system.set_relay_state":
		var p struct {
			State *int `json:"state"`
		}
		if json.Unmarshal(params, &p) != nil || p.State == nil {
			return errArg
		}
		for _, o := range d.scope(targets) {
			d.switchByRequest(o, *p.State == 1)
		}
		return ok(nil)
	case "system.set_dev_alias":
		var p struct {
			Alias string `json:"alias"`
		}
		if json.Unmarshal(params, &p) != nil {
			return errArg
		}
		if len(targets) > 0 {
			targets[0].alias = p.Alias
		} else {
			d.alias = p.Alias
			if !d.strip {
				d.outlets[0].alias = p.Alias
			}
		}
		return ok(nil)
	case "emeter.get_realtime":
		var w, v, a, wh float64
		for _, o := range d.scope(targets[:min(len(targets), 1)]) {
			ow, ov, oa, owh := d.reading(o)
			w, a, wh = w+ow, a+oa, wh+owh
			v = ov
		}
		if d.energy == "v1" {
			return ok(map[string]any{"power": round(w, 6), "voltage": round(v, 6), "current": round(a, 6), "total": round(wh/1000, 3)})
		}
		return ok(map[string]any{"power_mw": int(w * 1000), "voltage_mv": int(v * 1000), "current_ma": int(a * 1000), "total_wh": int(wh)})
	case "count_down.get_rules":
		var list []any
		for _, o := range d.scope(targets[:min(len(targets), 1)]) {
			if r := o.rule; r != nil {
				act := 0
				if r.act {
					act = 1
				}
				list = append(list, map[string]any{"id": r.id, "enable": 1, "delay": r.delay, "act": act, "name": "countdown",
					"remain": r.remain(d.clock.Now())})
			}
			if len(targets) == 0 && d.strip {
				break
			}
		}
		return ok(map[string]any{"rule_list": list})
	case "count_down.add_rule":
		var p struct {
			Enable int `json:"enable"`
			Delay  int `json:"delay"`
			Act    int `json:"act"`
		}
		if json.Unmarshal(params, &p) != nil || p.Delay <= 0 {
			return errArg
		}
		o := d.scope(targets)[0]
		if o.rule != nil {
			return map[string]any{"err_code": -10, "err_msg": "table is full"}
		}
		r := d.arm(o, p.Delay, p.Act == 1)
		return ok(map[string]any{"id": r.id})
	case "count_down.delete_rule":
		var p struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(params, &p) // a missing id matches no rule, as on a device
		o := d.scope(targets)[0]
		if o.rule == nil || o.rule.id != p.ID {
			return errEntry
		}
		d.disarm(o)
		return ok(nil)
	case "count_down.delete_all_rules":
		for _, o := range d.scope(targets[:min(len(targets), 1)]) {
			d.disarm(o)
			if len(targets) == 0 && d.strip {
				break
			}
		}
		return ok(nil)
	}
	if r, found := d.iot[mod][method]; found {
		if m := asMap(deepCopy(r)); m != nil {
			return m
		}
	}
	return errMember
}

// sysinfo renders get_sysinfo from the template and the live relay state.
func (d *device) sysinfo() map[string]any {
	si := asMap(deepCopy(d.iot["system"]["get_sysinfo"]))
	si["alias"] = d.alias
	si["err_code"] = 0
	if d.strip {
		kids := make([]any, len(d.outlets))
		for i, o := range d.outlets {
			state := 0
			if o.on {
				state = 1
			}
			kids[i] = map[string]any{"id": o.id, "alias": o.alias, "state": state, "on_time": d.onTime(o), "next_action": map[string]any{"type": -1}}
		}
		si["children"] = kids
		si["child_num"] = len(kids)
		return si
	}
	o := d.outlets[0]
	state := 0
	if o.on {
		state = 1
	}
	si["relay_state"] = state
	si["on_time"] = d.onTime(o)
	return si
}
