package kasasim

import (
	"encoding/base64"
	"encoding/json"
)

type smartReq struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// SMART error codes the simulator answers (python-kasa's SmartErrorCode).
const (
	smartUnknownMethod = -1002
	smartBadJSON       = -1003
	smartBadParams     = -1008
	smartScheduleFull  = -1802 // add_countdown_rule while the one slot is taken
	smartScheduleIndex = -1805 // edit of an id the device does not hold
)

func smartErr(code int) map[string]any { return map[string]any{"error_code": code} }

func smartOK(result any) map[string]any {
	if result == nil {
		return map[string]any{"error_code": 0}
	}
	return map[string]any{"error_code": 0, "result": result}
}

// handleSMART answers one SMART request.
func (p *Plug) handleSMART(req []byte) []byte {
	var r smartReq
	var resp map[string]any
	if json.Unmarshal(req, &r) != nil || r.Method == "" {
		resp = smartErr(smartBadJSON)
	} else {
		p.dev.mu.Lock()
		resp = p.smartCall(r, nil)
		p.dev.mu.Unlock()
	}
	b, _ := json.Marshal(resp)
	return b
}

// smartCall runs one method on the device, or on child when set. Called
// with the device lock held.
func (p *Plug) smartCall(r smartReq, child *outlet) map[string]any {
	d := p.dev
	if p.refused(r.Method) {
		return smartErr(smartUnknownMethod)
	}
	if code, ok := p.injected(r.Method); ok {
		return smartErr(code)
	}
	target := child
	if target == nil && !d.strip {
		target = d.outlets[0]
	}
	switch r.Method {
	case "multipleRequest":
		var mp struct {
			Requests []smartReq `json:"requests"`
		}
		if json.Unmarshal(r.Params, &mp) != nil {
			return smartErr(smartBadParams)
		}
		var out []any
		for _, sub := range mp.Requests {
			res := p.smartCall(sub, child)
			res["method"] = sub.Method
			out = append(out, res)
		}
		return smartOK(map[string]any{"responses": out})
	case "control_child":
		var cp struct {
			DeviceID    string   `json:"device_id"`
			RequestData smartReq `json:"requestData"`
		}
		if json.Unmarshal(r.Params, &cp) != nil || child != nil {
			return smartErr(smartBadParams)
		}
		o := d.child(cp.DeviceID)
		if o == nil || !d.strip {
			return smartErr(-1000 - 1) // device not found
		}
		return smartOK(map[string]any{"responseData": p.smartCall(cp.RequestData, o)})
	case "get_device_info":
		if child != nil {
			return smartOK(d.childInfo(child))
		}
		return smartOK(d.deviceInfo())
	case "set_device_info":
		var sp struct {
			On       *bool   `json:"device_on"`
			Nickname *string `json:"nickname"`
		}
		if json.Unmarshal(r.Params, &sp) != nil {
			return smartErr(smartBadParams)
		}
		if sp.On != nil {
			if target == nil {
				return smartErr(smartBadParams)
			}
			d.switchByRequest(target, *sp.On)
		}
		if sp.Nickname != nil {
			name := decodeNick(*sp.Nickname)
			if child != nil {
				child.alias = name
			} else {
				d.alias = name
				if !d.strip {
					d.outlets[0].alias = name
				}
			}
		}
		return smartOK(nil)
	case "get_child_device_list":
		if !d.strip {
			return smartErr(smartUnknownMethod)
		}
		var lp struct {
			Start int `json:"start_index"`
		}
		_ = json.Unmarshal(r.Params, &lp) // no params: from the start, as a device does
		var list []any
		// Pages of up to 10, like the firmware.
		for i := lp.Start; i < len(d.outlets) && i < lp.Start+10; i++ {
			list = append(list, d.childInfo(d.outlets[i]))
		}
		return smartOK(map[string]any{"child_device_list": list, "start_index": lp.Start, "sum": len(d.outlets)})
	case "get_energy_usage", "get_current_power", "get_emeter_data":
		if d.energy == "" || target == nil {
			return smartErr(smartUnknownMethod)
		}
		if _, recorded := d.smart[r.Method]; !recorded {
			// Firmware differs in which of the three it has.
			return smartErr(smartUnknownMethod)
		}
		w, v, a, wh := d.reading(target)
		switch r.Method {
		case "get_energy_usage":
			res := asMap(deepCopy(d.smart["get_energy_usage"]))
			if res == nil {
				res = map[string]any{"today_energy": 0, "today_runtime": 0, "month_runtime": 0}
			}
			res["current_power"] = int(w * 1000)
			res["month_energy"] = int(wh)
			return smartOK(res)
		case "get_current_power":
			return smartOK(map[string]any{"current_power": int(w)})
		default:
			return smartOK(map[string]any{"power_mw": int(w * 1000), "voltage_mv": int(v * 1000), "current_ma": int(a * 1000), "energy_wh": int(wh)})
		}
	case "get_countdown_rules", "add_countdown_rule", "edit_countdown_rule", "remove_countdown_rules":
		if !d.hasComponent("countdown") || target == nil {
			return smartErr(smartUnknownMethod)
		}
		return d.countdownCall(r, target)
	}
	if child != nil && child.extra != nil {
		if res, found := child.extra[r.Method]; found {
			return smartOK(deepCopy(res))
		}
	}
	if res, found := d.smart[r.Method]; found && child == nil {
		return smartOK(deepCopy(res))
	}
	return smartErr(smartUnknownMethod)
}

// countdownCall runs the countdown methods on one slot (max count 1): a
// fired rule stays listed as {"id":"C1","enable":false,"remain":0}, as the
// P110 UK 1.3.0 recording shows; adding while the slot holds a rule answers
// -1802 (schedule full), as a P100 does; edit takes the rule's id.
func (d *device) countdownCall(r smartReq, o *outlet) map[string]any {
	switch r.Method {
	case "get_countdown_rules":
		list := []any{}
		if l := o.listed; l != nil {
			list = append(list, map[string]any{"id": l.id, "enable": o.rule == l, "delay": l.delay,
				"remain": l.remain(d.clock.Now()), "desired_states": map[string]any{"on": l.act}})
		}
		return smartOK(map[string]any{"countdown_rule_max_count": 1, "enable": o.rule != nil, "rule_list": list})
	case "add_countdown_rule", "edit_countdown_rule":
		var p struct {
			ID      string `json:"id"`
			Delay   int    `json:"delay"`
			Enable  bool   `json:"enable"`
			Desired struct {
				On bool `json:"on"`
			} `json:"desired_states"`
		}
		if json.Unmarshal(r.Params, &p) != nil || p.Delay <= 0 {
			return smartErr(smartBadParams)
		}
		if r.Method == "add_countdown_rule" && o.listed != nil {
			return smartErr(smartScheduleFull)
		}
		if r.Method == "edit_countdown_rule" && (o.listed == nil || o.listed.id != p.ID) {
			return smartErr(smartScheduleIndex)
		}
		if !p.Enable {
			d.disarm(o)
			if o.listed != nil {
				o.listed.delay = p.Delay
			}
			return smartOK(nil)
		}
		rule := d.arm(o, p.Delay, p.Desired.On)
		return smartOK(map[string]any{"id": rule.id})
	default: // remove_countdown_rules
		d.disarm(o)
		o.listed = nil
		return smartOK(nil)
	}
}

func (d *device) deviceInfo() map[string]any {
	info := asMap(deepCopy(d.smart["get_device_info"]))
	info["nickname"] = base64.StdEncoding.EncodeToString([]byte(d.alias))
	if !d.strip {
		o := d.outlets[0]
		info["device_on"] = o.on
		info["on_time"] = d.onTime(o)
	}
	return info
}

func (d *device) childInfo(o *outlet) map[string]any {
	info := asMap(deepCopy(o.info))
	if info == nil {
		info = map[string]any{"type": "SMART.KASAPLUG", "category": "plug.powerstrip.sub-plug"}
	}
	info["device_id"] = o.id
	info["nickname"] = base64.StdEncoding.EncodeToString([]byte(o.alias))
	info["device_on"] = o.on
	info["on_time"] = d.onTime(o)
	return info
}
