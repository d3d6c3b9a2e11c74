package kasasim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/restartinator/restartinator/actuator/kasa/internal/wire"
)

// model is a built-in device: what it answers, and how it is reached.
type model struct {
	name        string
	protocol    string
	klapVersion int
	build       func() map[string]any
}

func (m model) recording() recording {
	rec := recording{}
	for k, v := range m.build() {
		b, _ := json.Marshal(v)
		rec[k] = b
	}
	return rec
}

const simDeviceID = "8006C0FFEE000000000000000000000000000001"

func iotSysinfo(model, hw, sw, feature, alias string) map[string]any {
	return map[string]any{
		"model": model, "hw_ver": hw, "sw_ver": sw, "feature": feature, "alias": alias,
		"type": "IOT.SMARTPLUGSWITCH", "mic_type": "IOT.SMARTPLUGSWITCH",
		"deviceId": simDeviceID, "hwId": "SIMHW", "oemId": "SIMOEM",
		"mac": "50:C7:BF:00:00:01", "rssi": -52, "led_off": 0, "updating": 0,
		"dev_name": "Simulated " + model, "icon_hash": "", "active_mode": "none",
		"relay_state": 1, "on_time": 3600, "latitude_i": 0, "longitude_i": 0,
		"next_action": map[string]any{"type": -1},
	}
}

func iotStrip(model, hw, sw, feature string, n int) map[string]any {
	short, _, _ := strings.Cut(model, "(")
	si := iotSysinfo(model, hw, sw, feature, "Simulated "+short)
	delete(si, "relay_state")
	delete(si, "on_time")
	kids := make([]any, n)
	for i := range kids {
		kids[i] = map[string]any{
			"id": fmt.Sprintf("%s%02d", simDeviceID, i), "alias": fmt.Sprintf("Outlet %d", i+1),
			"state": 1, "on_time": 3600, "next_action": map[string]any{"type": -1},
		}
	}
	si["children"] = kids
	si["child_num"] = n
	return si
}

var models = map[string]model{
	"hs100": {name: "HS100", protocol: "xor", build: func() map[string]any {
		return map[string]any{"system": map[string]any{"get_sysinfo": iotSysinfo("HS100(US)", "1.0", "1.2.5 Build 171206 Rel.085954", "TIM", "Simulated HS100")}}
	}},
	"hs100v4": {name: "HS100v4", protocol: "klap", klapVersion: wire.KLAPv1, build: func() map[string]any {
		return map[string]any{
			"system": map[string]any{"get_sysinfo": iotSysinfo("HS100(UK)", "4.1", "1.1.0 Build 201016 Rel.175121", "TIM", "Simulated HS100 v4")},
			"discovery_result": map[string]any{"result": map[string]any{
				"device_id": simDeviceID, "device_model": "HS100(UK)", "device_type": "IOT.SMARTPLUGSWITCH",
				"hw_ver": "4.1", "mac": "CC-32-E5-00-00-01",
				"mgt_encrypt_schm": map[string]any{"encrypt_type": "KLAP", "http_port": 80, "is_support_https": false},
			}},
		}
	}},
	"hs110": {name: "HS110", protocol: "xor", build: func() map[string]any {
		return map[string]any{
			"system": map[string]any{"get_sysinfo": iotSysinfo("HS110(EU)", "1.0", "1.2.5 Build 171213 Rel.101523", "TIM:ENE", "Simulated HS110")},
			"emeter": map[string]any{"get_realtime": map[string]any{"power": 58.2, "voltage": 231.1, "current": 0.252, "total": 12.345, "err_code": 0}},
		}
	}},
	"hs110v4": {name: "HS110v4", protocol: "xor", build: func() map[string]any {
		return map[string]any{
			"system": map[string]any{"get_sysinfo": iotSysinfo("HS110(EU)", "4.0", "1.0.4 Build 191111 Rel.143500", "TIM:ENE", "Simulated HS110 v4")},
			"emeter": map[string]any{"get_realtime": map[string]any{"power_mw": 58200, "voltage_mv": 231100, "current_ma": 252, "total_wh": 12345, "err_code": 0}},
		}
	}},
	"hs300": {name: "HS300", protocol: "xor", build: func() map[string]any {
		return map[string]any{
			"system": map[string]any{"get_sysinfo": iotStrip("HS300(US)", "2.0", "1.0.12 Build 220121 Rel.175814", "TIM:ENE", 6)},
			"emeter": map[string]any{"get_realtime": map[string]any{"power_mw": 7300, "voltage_mv": 120100, "current_ma": 61, "total_wh": 842, "err_code": 0}},
		}
	}},
	"kp303": {name: "KP303", protocol: "xor", build: func() map[string]any {
		return map[string]any{"system": map[string]any{"get_sysinfo": iotStrip("KP303(US)", "2.0", "1.0.9 Build 220912 Rel.153527", "TIM", 3)}}
	}},
	"kp125m": {name: "KP125M", protocol: "klap", klapVersion: wire.KLAPv2, build: func() map[string]any {
		comps := []any{}
		for _, c := range []string{"device", "firmware", "quick_setup", "time", "wireless", "schedule", "countdown",
			"antitheft", "account", "led", "cloud_connect", "iot_cloud", "device_local_time", "default_states",
			"auto_off", "energy_monitoring", "power_protection", "matter"} {
			comps = append(comps, map[string]any{"id": c, "ver_code": 1})
		}
		return map[string]any{
			"component_nego": map[string]any{"component_list": comps},
			"get_device_info": map[string]any{
				"device_id": simDeviceID, "model": "KP125M", "hw_ver": "1.0", "fw_ver": "1.2.3 Build 240624 Rel.154806",
				"type": "SMART.KASAPLUG", "mac": "78-8C-B5-00-00-01", "rssi": -48, "signal_level": 3,
				"nickname": base64.StdEncoding.EncodeToString([]byte("Simulated KP125M")), "device_on": true, "on_time": 3600, "overheated": false,
				"default_states": map[string]any{"state": map[string]any{}, "type": "last_states"},
			},
			"get_energy_usage":    map[string]any{"current_power": 17654, "month_energy": 1020, "month_runtime": 2649, "today_energy": 513, "today_runtime": 1209},
			"get_current_power":   map[string]any{"current_power": 17},
			"get_emeter_data":     map[string]any{"power_mw": 17654, "voltage_mv": 121215, "current_ma": 146, "energy_wh": 1020},
			"get_countdown_rules": map[string]any{"countdown_rule_max_count": 1, "enable": false, "rule_list": []any{}},
			"discovery_result": map[string]any{"result": map[string]any{
				"device_id": simDeviceID, "device_model": "KP125M(US)", "device_type": "SMART.KASAPLUG",
				"mac": "78-8C-B5-00-00-01", "factory_default": false, "is_support_iot_cloud": true,
				"mgt_encrypt_schm": map[string]any{"encrypt_type": "KLAP", "http_port": 80, "is_support_https": false, "lv": 2},
			}},
		}
	}},
}

func lookupModel(name string) (model, bool) {
	key := strings.ToLower(strings.NewReplacer(" ", "", "-", "", "_", "").Replace(name))
	m, ok := models[key]
	return m, ok
}

// Models lists the built-in models: HS100 (XOR), HS100v4 (IOT over KLAP v1),
// HS110 (v1 energy), HS110v4 (v2 energy), HS300 (6-outlet strip with
// energy), KP303 (3-outlet strip), KP125M (SMART over KLAP v2).
func Models() []string {
	var out []string
	for _, m := range models {
		out = append(out, m.name)
	}
	sort.Strings(out)
	return out
}
