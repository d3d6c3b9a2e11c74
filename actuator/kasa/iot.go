package kasa

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/restartinator/restartinator/actuator"
)

// iotAPI is the legacy JSON API: {"module":{"method":{params}}}, answered in
// the same shape with an err_code in each method's result. Strips take a
// "context":{"child_ids":[...]} to address outlets.
type iotAPI struct {
	t transport
	// ruleIDs remembers the count_down rule we added per outlet, so disarm
	// removes only ours.
	ruleIDs map[string]string
}

func newIOTAPI(t transport) *iotAPI { return &iotAPI{t: t, ruleIDs: map[string]string{}} }

func (a *iotAPI) kind() string { return "iot" }

type iotCall struct {
	module, method string
	params         any // nil sends {}
}

// query sends calls in one request (for the outlet childID when set) and
// returns each call's result in order, after checking its err_code.
func (a *iotAPI) query(ctx context.Context, childID string, calls ...iotCall) ([]json.RawMessage, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	if childID != "" {
		// Context first: firmware applies it to the modules that follow.
		ids, _ := json.Marshal([]string{childID})
		fmt.Fprintf(&b, `"context":{"child_ids":%s},`, ids)
	}
	// Group the calls by module, keeping their order.
	var modules []string
	byModule := map[string][]iotCall{}
	for _, c := range calls {
		if _, ok := byModule[c.module]; !ok {
			modules = append(modules, c.module)
		}
		byModule[c.module] = append(byModule[c.module], c)
	}
	for i, m := range modules {
		if i > 0 {
			b.WriteByte(',')
		}
		mk, _ := json.Marshal(m)
		b.Write(mk)
		b.WriteString(":{")
		for j, c := range byModule[m] {
			if j > 0 {
				b.WriteByte(',')
			}
			ck, _ := json.Marshal(c.method)
			b.Write(ck)
			b.WriteByte(':')
			if c.params == nil {
				b.WriteString("{}")
			} else {
				p, err := json.Marshal(c.params)
				if err != nil {
					return nil, err
				}
				b.Write(p)
			}
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')

	raw, err := a.t.send(ctx, b.Bytes())
	if err != nil {
		return nil, err
	}
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, fmt.Errorf("%w: IOT answer is not a JSON object: %v", errProtocol, err)
	}
	out := make([]json.RawMessage, len(calls))
	for i, c := range calls {
		name := c.module + "." + c.method
		modRaw, ok := resp[c.module]
		if !ok {
			return nil, fmt.Errorf("%w: IOT answer has no %q", errProtocol, c.module)
		}
		if err := iotErr(name, modRaw); err != nil {
			return nil, err
		}
		var mod map[string]json.RawMessage
		if err := json.Unmarshal(modRaw, &mod); err != nil {
			return nil, fmt.Errorf("%w: IOT module %q is not an object", errProtocol, c.module)
		}
		res, ok := mod[c.method]
		if !ok {
			return nil, fmt.Errorf("%w: IOT answer has no %s", errProtocol, name)
		}
		if err := iotErr(name, res); err != nil {
			return nil, err
		}
		out[i] = res
	}
	return out, nil
}

// iotErr returns a *DeviceError when raw carries a non-zero err_code.
func iotErr(method string, raw json.RawMessage) error {
	var e struct {
		Code *int   `json:"err_code"`
		Msg  string `json:"err_msg"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Code == nil || *e.Code == 0 {
		return nil
	}
	return &DeviceError{Method: method, Code: *e.Code, Message: e.Msg}
}

type iotSysinfo struct {
	Model      string      `json:"model"`
	HWVer      string      `json:"hw_ver"`
	SWVer      string      `json:"sw_ver"`
	MAC        string      `json:"mac"`
	MicMAC     string      `json:"mic_mac"`
	Alias      string      `json:"alias"`
	RSSI       int         `json:"rssi"`
	RelayState *int        `json:"relay_state"`
	OnTime     int64       `json:"on_time"`
	Feature    string      `json:"feature"`
	Type       string      `json:"type"`
	MicType    string      `json:"mic_type"`
	DeviceID   string      `json:"deviceId"`
	Children   []iotOutlet `json:"children"`
}

type iotOutlet struct {
	ID     string `json:"id"`
	Alias  string `json:"alias"`
	State  int    `json:"state"`
	OnTime int64  `json:"on_time"`
}

func (s *iotSysinfo) hasEnergy() bool {
	for _, f := range strings.Split(s.Feature, ":") {
		if f == "ENE" {
			return true
		}
	}
	return false
}

// childID is the id a strip expects in context.child_ids. Most firmware lists
// children by full id (deviceId + "00".."05"); some list only the suffix.
func (s *iotSysinfo) childID(c iotOutlet) string {
	if len(c.ID) <= 2 && s.DeviceID != "" {
		return s.DeviceID + c.ID
	}
	return c.ID
}

func (a *iotAPI) sysinfo(ctx context.Context) (*iotSysinfo, error) {
	res, err := a.query(ctx, "", iotCall{"system", "get_sysinfo", nil})
	if err != nil {
		return nil, err
	}
	var si iotSysinfo
	if err := json.Unmarshal(res[0], &si); err != nil {
		return nil, fmt.Errorf("%w: bad sysinfo: %v", errProtocol, err)
	}
	if si.RelayState == nil && len(si.Children) == 0 {
		t := si.Type
		if t == "" {
			t = si.MicType
		}
		return nil, fmt.Errorf("%w (%s %s)", ErrNotAPlug, si.Model, t)
	}
	return &si, nil
}

func (a *iotAPI) info(ctx context.Context) (actuator.Status, error) {
	si, err := a.sysinfo(ctx)
	if err != nil {
		return actuator.Status{}, err
	}
	return si.status(), nil
}

func (si *iotSysinfo) status() actuator.Status {
	st := actuator.Status{
		Model: si.Model, HWVersion: si.HWVer, SWVersion: si.SWVer,
		MAC: si.MAC, Alias: si.Alias, RSSI: si.RSSI,
	}
	if st.MAC == "" {
		st.MAC = si.MicMAC
	}
	if len(si.Children) > 0 {
		st.Strip = true
		for i, c := range si.Children {
			st.Outlets = append(st.Outlets, actuator.Outlet{
				Index: i, ID: si.childID(c), Alias: c.Alias, On: c.State == 1,
				OnTime: time.Duration(c.OnTime) * time.Second,
			})
		}
		return st
	}
	st.Outlets = []actuator.Outlet{{
		Alias: si.Alias, On: *si.RelayState == 1, OnTime: time.Duration(si.OnTime) * time.Second,
	}}
	return st
}

func (a *iotAPI) status(ctx context.Context) (actuator.Status, error) {
	si, err := a.sysinfo(ctx)
	if err != nil {
		return actuator.Status{}, err
	}
	st := si.status()
	if !si.hasEnergy() {
		return st, nil
	}
	for i := range st.Outlets {
		e, err := a.realtime(ctx, st.Outlets[i].ID)
		if err != nil {
			return st, err
		}
		st.Outlets[i].Energy = e
	}
	return st, nil
}

type iotRealtime struct {
	Power     *float64 `json:"power"`
	Voltage   *float64 `json:"voltage"`
	Current   *float64 `json:"current"`
	Total     *float64 `json:"total"` // kWh
	PowerMW   *float64 `json:"power_mw"`
	VoltageMV *float64 `json:"voltage_mv"`
	CurrentMA *float64 `json:"current_ma"`
	TotalWH   *float64 `json:"total_wh"`
}

func (r iotRealtime) energy() *actuator.Energy {
	pick := func(v2 *float64, v2scale float64, v1 *float64, v1scale float64) float64 {
		if v2 != nil {
			return *v2 * v2scale
		}
		if v1 != nil {
			return *v1 * v1scale
		}
		return 0
	}
	return &actuator.Energy{
		Watts:     pick(r.PowerMW, 1e-3, r.Power, 1),
		Volts:     pick(r.VoltageMV, 1e-3, r.Voltage, 1),
		Amperes:   pick(r.CurrentMA, 1e-3, r.Current, 1),
		WattHours: pick(r.TotalWH, 1, r.Total, 1e3),
	}
}

func (a *iotAPI) realtime(ctx context.Context, childID string) (*actuator.Energy, error) {
	res, err := a.query(ctx, childID, iotCall{"emeter", "get_realtime", nil})
	if err != nil {
		return nil, err
	}
	var rt iotRealtime
	if err := json.Unmarshal(res[0], &rt); err != nil {
		return nil, fmt.Errorf("%w: bad emeter reading: %v", errProtocol, err)
	}
	return rt.energy(), nil
}

func (a *iotAPI) setOn(ctx context.Context, o actuator.Outlet, on bool) error {
	state := 0
	if on {
		state = 1
	}
	_, err := a.query(ctx, o.ID, iotCall{"system", "set_relay_state", map[string]int{"state": state}})
	return err
}

// IOT error codes that mean the firmware has no such module or method.
const (
	iotModuleNotSupported = -1
	iotMethodNotSupported = -2
)

func iotUnsupported(err error) bool {
	c := deviceCode(err)
	return c == iotModuleNotSupported || c == iotMethodNotSupported
}

// armFlipBack adds a count_down rule that switches the outlet on (act 1)
// after secs and reads it back. Firmware keeps one countdown rule, so any
// old one goes first — in its own request, as tplink-smarthome-api sends
// them: some firmware answers only the first method of a module. Only "module
// or method not supported" makes the plug one without flip-back; any other
// error is returned as it is, so the cycle stops before switching off.
func (a *iotAPI) armFlipBack(ctx context.Context, o actuator.Outlet, secs int) error {
	_, err := a.query(ctx, o.ID, iotCall{"count_down", "delete_all_rules", nil})
	if iotUnsupported(err) {
		return fmt.Errorf("%w: %w", actuator.ErrFlipBackUnsupported, err)
	}
	if err != nil {
		return err
	}
	res, err := a.query(ctx, o.ID, iotCall{"count_down", "add_rule", map[string]any{
		"enable": 1, "delay": secs, "act": 1, "name": "restartinator flip-back",
	}})
	if iotUnsupported(err) {
		return fmt.Errorf("%w: %w", actuator.ErrFlipBackUnsupported, err)
	}
	if err != nil {
		return err
	}
	var added struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(res[0], &added) // no id: the rule is removed by delete_all_rules instead
	a.ruleIDs[o.ID] = added.ID
	_, ok, err := a.flipBackArmed(ctx, o, secs)
	if err != nil || ok {
		return err
	}
	return errFlipBackNotListed
}

type iotRule struct {
	ID     string `json:"id"`
	Enable int    `json:"enable"`
	Delay  int    `json:"delay"`
	Act    int    `json:"act"`
	Remain *int   `json:"remain"`
}

// flipBackArmed reads count_down.get_rules: is a rule enabled that switches
// on after secs (0: any delay), and how long has it left? Firmware that
// cannot list rules is taken at its word.
func (a *iotAPI) flipBackArmed(ctx context.Context, o actuator.Outlet, secs int) (time.Duration, bool, error) {
	res, err := a.query(ctx, o.ID, iotCall{"count_down", "get_rules", nil})
	if iotUnsupported(err) {
		return time.Duration(secs) * time.Second, true, nil
	}
	if err != nil {
		return 0, false, err
	}
	var list struct {
		Rules []iotRule `json:"rule_list"`
	}
	if err := json.Unmarshal(res[0], &list); err != nil {
		return 0, false, fmt.Errorf("%w: bad count_down rules: %v", errProtocol, err)
	}
	for _, r := range list.Rules {
		if r.Enable == 1 && r.Act == 1 && (secs == 0 || r.Delay == secs) && (r.Remain == nil || *r.Remain > 0) {
			left := r.Delay
			if r.Remain != nil {
				left = *r.Remain
			}
			return time.Duration(left) * time.Second, true, nil
		}
	}
	return 0, false, nil
}

func (a *iotAPI) checkFlipBack(ctx context.Context, o actuator.Outlet) (time.Duration, bool, error) {
	return a.flipBackArmed(ctx, o, 0)
}

func (a *iotAPI) disarmFlipBack(ctx context.Context, o actuator.Outlet) error {
	id := a.ruleIDs[o.ID]
	call := iotCall{"count_down", "delete_all_rules", nil}
	if id != "" {
		call = iotCall{"count_down", "delete_rule", map[string]string{"id": id}}
	}
	_, err := a.query(ctx, o.ID, call)
	if id != "" && deviceCode(err) == -14 {
		// "entry not exist": the rule already fired and removed itself.
		err = nil
	}
	if err == nil {
		delete(a.ruleIDs, o.ID)
	}
	return err
}
