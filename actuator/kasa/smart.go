package kasa

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/restartinator/restartinator/actuator"
)

// smartAPI is the newer API of Tapo plugs and later Kasa plugs (KP125M,
// EP25 v2.6, EP40M, HS200 v5): {"method":..., "params":...} answered with
// {"error_code":0,"result":...}. It runs over KLAP or, on older firmware,
// over AES securePassthrough.
// Strip outlets are reached by wrapping a request in control_child.
type smartAPI struct {
	t    transport
	uuid string

	mu         sync.Mutex
	components map[string]int // component id -> version, from component_nego
	noEmeter   bool           // get_emeter_data refused once; don't ask again
}

func newSMARTAPI(t transport) *smartAPI {
	b := make([]byte, 16)
	rand.Read(b)
	return &smartAPI{t: t, uuid: base64.StdEncoding.EncodeToString(b)}
}

func (a *smartAPI) kind() string { return "smart" }

// smartErrors names the codes firmware answers without a message, after
// python-kasa's SmartErrorCode (kasa/exceptions.py).
var smartErrors = map[int]string{
	-1: "common failure", -1001: "unspecific error", -1002: "unknown method",
	-1003: "JSON decode failed", -1004: "JSON encode failed", -1005: "AES decode failed",
	-1006: "request length error", -1007: "cloud failed", -1008: "invalid parameters",
	-1010: "invalid public key", -1101: "session parameter error", -1301: "device error",
	-1501: "login failed (wrong account or password)", -1801: "schedule error",
	-1802: "schedule full (a rule already holds the slot)", -1803: "schedule conflict",
	-1804: "schedule save error", -1805: "schedule index error", -1901: "countdown error",
	-1902: "countdown conflict", -1903: "countdown save error", 1000: "null transport",
	1001: "command cancelled", 1002: "transport not available", 1003: "transport unknown credentials",
	1100: "handshake failed", 1111: "login failed", 1112: "HTTP transport failed",
	1200: "multiple request failed", 9999: "session timeout", -40401: "session expired",
	-40413: "invalid nonce",
}

type smartResponse struct {
	Code   *int            `json:"error_code"`
	Msg    string          `json:"msg"`
	Result json.RawMessage `json:"result"`
}

func (r smartResponse) err(method string) error {
	if r.Code == nil {
		return fmt.Errorf("%w: SMART answer to %s has no error_code", errProtocol, method)
	}
	if *r.Code == 0 {
		return nil
	}
	msg := r.Msg
	if msg == "" {
		msg = smartErrors[*r.Code]
	}
	return &DeviceError{Method: method, Code: *r.Code, Message: msg}
}

// call runs method on the device, or on the child outlet childID.
func (a *smartAPI) call(ctx context.Context, childID, method string, params any) (json.RawMessage, error) {
	req := map[string]any{
		"method":             method,
		"request_time_milis": time.Now().UnixMilli(),
		"terminal_uuid":      a.uuid,
	}
	if params != nil {
		req["params"] = params
	}
	if childID != "" {
		inner := map[string]any{"method": method}
		if params != nil {
			inner["params"] = params
		}
		req["method"] = "control_child"
		req["params"] = map[string]any{"device_id": childID, "requestData": inner}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	raw, err := a.t.send(ctx, body)
	if err != nil {
		return nil, err
	}
	var resp smartResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, fmt.Errorf("%w: SMART answer is not a JSON object: %v", errProtocol, err)
	}
	if err := resp.err(method); err != nil {
		return nil, err
	}
	if childID == "" {
		return resp.Result, nil
	}
	var wrapped struct {
		Data smartResponse `json:"responseData"`
	}
	if err := json.Unmarshal(resp.Result, &wrapped); err != nil {
		return nil, fmt.Errorf("%w: bad control_child answer: %v", errProtocol, err)
	}
	if err := wrapped.Data.err(method); err != nil {
		return nil, err
	}
	return wrapped.Data.Result, nil
}

type smartInfo struct {
	Model    string `json:"model"`
	HWVer    string `json:"hw_ver"`
	FWVer    string `json:"fw_ver"`
	MAC      string `json:"mac"`
	Nickname string `json:"nickname"`
	RSSI     int    `json:"rssi"`
	DeviceOn *bool  `json:"device_on"`
	OnTime   int64  `json:"on_time"`
	DeviceID string `json:"device_id"`
	Position int    `json:"position"`
	Type     string `json:"type"`
}

// nickname decodes the base64 alias SMART firmware stores.
func nickname(s string) string {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return string(b)
	}
	return s
}

func (a *smartAPI) componentList(ctx context.Context) (map[string]int, error) {
	a.mu.Lock()
	c := a.components
	a.mu.Unlock()
	if c != nil {
		return c, nil
	}
	raw, err := a.call(ctx, "", "component_nego", nil)
	if err != nil {
		return nil, err
	}
	var nego struct {
		List []struct {
			ID  string `json:"id"`
			Ver int    `json:"ver_code"`
		} `json:"component_list"`
	}
	if err := json.Unmarshal(raw, &nego); err != nil {
		return nil, fmt.Errorf("%w: bad component_nego: %v", errProtocol, err)
	}
	c = map[string]int{}
	for _, x := range nego.List {
		c[x.ID] = x.Ver
	}
	a.mu.Lock()
	a.components = c
	a.mu.Unlock()
	return c, nil
}

func (a *smartAPI) deviceInfo(ctx context.Context) (*smartInfo, error) {
	raw, err := a.call(ctx, "", "get_device_info", nil)
	if err != nil {
		return nil, err
	}
	var di smartInfo
	if err := json.Unmarshal(raw, &di); err != nil {
		return nil, fmt.Errorf("%w: bad device info: %v", errProtocol, err)
	}
	return &di, nil
}

func (a *smartAPI) children(ctx context.Context) ([]smartInfo, error) {
	var all []smartInfo
	for {
		raw, err := a.call(ctx, "", "get_child_device_list", map[string]int{"start_index": len(all)})
		if err != nil {
			return nil, err
		}
		var page struct {
			List []smartInfo `json:"child_device_list"`
			Sum  int         `json:"sum"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, fmt.Errorf("%w: bad child list: %v", errProtocol, err)
		}
		all = append(all, page.List...)
		if len(page.List) == 0 || len(all) >= page.Sum {
			return all, nil
		}
	}
}

func (a *smartAPI) info(ctx context.Context) (actuator.Status, error) {
	comps, err := a.componentList(ctx)
	if err != nil {
		return actuator.Status{}, err
	}
	di, err := a.deviceInfo(ctx)
	if err != nil {
		return actuator.Status{}, err
	}
	st := actuator.Status{
		Model: di.Model, HWVersion: di.HWVer, SWVersion: di.FWVer,
		MAC: di.MAC, Alias: nickname(di.Nickname), RSSI: di.RSSI,
	}
	if _, ok := comps["child_device"]; ok {
		kids, err := a.children(ctx)
		if err != nil {
			return st, err
		}
		st.Strip = true
		// Outlets go by the position printed on the strip, not by list
		// order: a P300 or EP40M lists them in another order.
		sort.SliceStable(kids, func(i, j int) bool { return kids[i].Position < kids[j].Position })
		for i, k := range kids {
			st.Outlets = append(st.Outlets, actuator.Outlet{
				Index: i, ID: k.DeviceID, Alias: nickname(k.Nickname),
				On: k.DeviceOn != nil && *k.DeviceOn, OnTime: time.Duration(k.OnTime) * time.Second,
			})
		}
		return st, nil
	}
	if di.DeviceOn == nil {
		return st, fmt.Errorf("%w (%s %s)", ErrNotAPlug, di.Model, di.Type)
	}
	st.Outlets = []actuator.Outlet{{
		Alias: st.Alias, On: *di.DeviceOn, OnTime: time.Duration(di.OnTime) * time.Second,
	}}
	return st, nil
}

func (a *smartAPI) status(ctx context.Context) (actuator.Status, error) {
	st, err := a.info(ctx)
	if err != nil {
		return st, err
	}
	comps, _ := a.componentList(ctx)
	if _, ok := comps["energy_monitoring"]; !ok || st.Strip {
		return st, nil
	}
	e, err := a.energy(ctx)
	if err != nil {
		return st, err
	}
	st.Outlets[0].Energy = e
	return st, nil
}

// energy reads get_energy_usage (power in mW, energy in Wh) and, where the
// firmware has it, get_emeter_data (voltage, current, lifetime Wh). Without
// the latter, the energy total is this month's, the most the firmware tells.
func (a *smartAPI) energy(ctx context.Context) (*actuator.Energy, error) {
	raw, err := a.call(ctx, "", "get_energy_usage", nil)
	if err != nil {
		return nil, err
	}
	var usage struct {
		CurrentPower float64 `json:"current_power"` // mW
		MonthEnergy  float64 `json:"month_energy"`  // Wh
	}
	if err := json.Unmarshal(raw, &usage); err != nil {
		return nil, fmt.Errorf("%w: bad energy usage: %v", errProtocol, err)
	}
	e := &actuator.Energy{Watts: usage.CurrentPower / 1000, WattHours: usage.MonthEnergy}
	a.mu.Lock()
	skip := a.noEmeter
	a.mu.Unlock()
	if skip {
		return e, nil
	}
	raw, err = a.call(ctx, "", "get_emeter_data", nil)
	var de *DeviceError
	if errors.As(err, &de) {
		a.mu.Lock()
		a.noEmeter = true
		a.mu.Unlock()
		return e, nil
	}
	if err != nil {
		return nil, err
	}
	var em struct {
		PowerMW   *float64 `json:"power_mw"`
		VoltageMV float64  `json:"voltage_mv"`
		CurrentMA float64  `json:"current_ma"`
		EnergyWH  *float64 `json:"energy_wh"`
	}
	if err := json.Unmarshal(raw, &em); err != nil {
		return nil, fmt.Errorf("%w: bad emeter data: %v", errProtocol, err)
	}
	e.Volts, e.Amperes = em.VoltageMV/1000, em.CurrentMA/1000
	if em.PowerMW != nil {
		e.Watts = *em.PowerMW / 1000
	}
	if em.EnergyWH != nil {
		e.WattHours = *em.EnergyWH
	}
	return e, nil
}

func (a *smartAPI) setOn(ctx context.Context, o actuator.Outlet, on bool) error {
	_, err := a.call(ctx, o.ID, "set_device_info", map[string]bool{"device_on": on})
	return err
}

// countdownRule is one entry of get_countdown_rules. Firmware keeps one
// slot ("C1" on a P110) and leaves a fired rule listed, disabled, with
// remain 0 (recorded on a P110 UK 1.3.0).
type countdownRule struct {
	ID      string `json:"id"`
	Enable  bool   `json:"enable"`
	Delay   int    `json:"delay"`
	Remain  *int   `json:"remain"`
	Desired struct {
		On *bool `json:"on"`
	} `json:"desired_states"`
}

// armed says whether the rule will switch the outlet on.
func (r countdownRule) armed() bool {
	return r.Enable && (r.Desired.On == nil || *r.Desired.On) && (r.Remain == nil || *r.Remain > 0)
}

func (a *smartAPI) countdownRules(ctx context.Context, childID string) ([]countdownRule, error) {
	raw, err := a.call(ctx, childID, "get_countdown_rules", nil)
	if err != nil {
		return nil, err
	}
	var res struct {
		Rules []countdownRule `json:"rule_list"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("%w: bad countdown rules: %v", errProtocol, err)
	}
	return res.Rules, nil
}

func deviceCode(err error) int {
	var de *DeviceError
	if errors.As(err, &de) {
		return de.Code
	}
	return 0
}

// armFlipBack sets a countdown rule that switches the outlet on after secs,
// then reads it back. Only the firmware's own "no such thing" answers (no
// countdown component, or -1002 unknown method) make the plug one without
// flip-back; every other error is returned as it is, so the cycle stops
// before switching off.
func (a *smartAPI) armFlipBack(ctx context.Context, o actuator.Outlet, secs int) error {
	comps, err := a.componentList(ctx)
	if err != nil {
		return err
	}
	if _, ok := comps["countdown"]; !ok {
		return fmt.Errorf("%w: the firmware lists no countdown component", actuator.ErrFlipBackUnsupported)
	}
	rule := map[string]any{"delay": secs, "desired_states": map[string]bool{"on": true}, "enable": true, "remain": secs}
	_, err = a.call(ctx, o.ID, "add_countdown_rule", rule)
	switch deviceCode(err) {
	case 0:
	case smartUnknownMethod:
		return fmt.Errorf("%w: %w", actuator.ErrFlipBackUnsupported, err)
	case smartScheduleFull:
		// The one slot is taken, by an earlier rule or a fired one that
		// stays listed: edit it in place.
		if err := a.takeOverRule(ctx, o, rule); err != nil {
			return err
		}
	default:
		return err
	}
	_, ok, err := a.flipBackArmed(ctx, o, secs)
	if err != nil || ok {
		return err
	}
	// Accepted but not listed armed: once more by editing, then give up.
	if err := a.takeOverRule(ctx, o, rule); err != nil {
		return err
	}
	if _, ok, err := a.flipBackArmed(ctx, o, secs); err != nil || ok {
		return err
	}
	return errFlipBackNotListed
}

// errFlipBackNotListed: the plug took the rule but does not list it armed.
var errFlipBackNotListed = errors.New("the plug accepted the flip-back timer but does not list it armed")

// takeOverRule edits the listed countdown rule to be ours, or, when none is
// listed, clears the slot and adds ours again.
func (a *smartAPI) takeOverRule(ctx context.Context, o actuator.Outlet, rule map[string]any) error {
	rules, err := a.countdownRules(ctx, o.ID)
	if err != nil {
		return err
	}
	if len(rules) > 0 && rules[0].ID != "" {
		edit := map[string]any{"id": rules[0].ID}
		for k, v := range rule {
			edit[k] = v
		}
		_, err = a.call(ctx, o.ID, "edit_countdown_rule", edit)
		return err
	}
	if _, err := a.call(ctx, o.ID, "remove_countdown_rules", map[string]bool{"remove_all": true}); err != nil {
		return err
	}
	_, err = a.call(ctx, o.ID, "add_countdown_rule", rule)
	return err
}

// flipBackArmed reads the rules back: is one enabled, switching on, with
// the delay asked for (secs 0: any delay), and how long has it left? A
// firmware that cannot list its rules (-1002) is taken at its word.
func (a *smartAPI) flipBackArmed(ctx context.Context, o actuator.Outlet, secs int) (time.Duration, bool, error) {
	rules, err := a.countdownRules(ctx, o.ID)
	if deviceCode(err) == smartUnknownMethod {
		return time.Duration(secs) * time.Second, true, nil
	}
	if err != nil {
		return 0, false, err
	}
	for _, r := range rules {
		if r.armed() && (secs == 0 || r.Delay == secs) {
			left := r.Delay
			if r.Remain != nil {
				left = *r.Remain
			}
			return time.Duration(left) * time.Second, true, nil
		}
	}
	return 0, false, nil
}

func (a *smartAPI) checkFlipBack(ctx context.Context, o actuator.Outlet) (time.Duration, bool, error) {
	return a.flipBackArmed(ctx, o, 0)
}

// disarmFlipBack removes the countdown; firmware without
// remove_countdown_rules gets its rule disabled instead.
func (a *smartAPI) disarmFlipBack(ctx context.Context, o actuator.Outlet) error {
	_, err := a.call(ctx, o.ID, "remove_countdown_rules", map[string]bool{"remove_all": true})
	if deviceCode(err) != smartUnknownMethod {
		return err
	}
	rules, rerr := a.countdownRules(ctx, o.ID)
	if rerr != nil {
		return err
	}
	for _, r := range rules {
		if r.Enable {
			if _, err := a.call(ctx, o.ID, "edit_countdown_rule", map[string]any{"id": r.ID, "enable": false, "delay": r.Delay, "desired_states": map[string]bool{"on": true}}); err != nil {
				return err
			}
		}
	}
	return nil
}
