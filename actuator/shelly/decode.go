package shelly

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/restartinator/restartinator/actuator"
)

// maxBody bounds what we read of an answer; real answers are a few KB.
const maxBody = 1 << 20

// checkJSON says why an HTTP answer is not the JSON a Shelly sends.
func checkJSON(status int, contentType string, body []byte) error {
	mt, _, _ := mime.ParseMediaType(contentType)
	trimmed := strings.TrimSpace(string(body))
	switch {
	case mt == "text/html" || strings.HasPrefix(strings.ToLower(trimmed), "<!doctype") || strings.HasPrefix(strings.ToLower(trimmed), "<html"):
		return fmt.Errorf("%w: got an HTML page (HTTP %d)", ErrNotShelly, status)
	case trimmed == "":
		return fmt.Errorf("%w: empty answer (HTTP %d)", ErrNotShelly, status)
	case mt != "" && mt != "application/json" && !strings.HasSuffix(mt, "+json") && mt != "text/plain":
		return fmt.Errorf("%w: content type %q (HTTP %d)", ErrNotShelly, mt, status)
	}
	return nil
}

// decodeInto unmarshals body, naming the endpoint when it is not valid JSON
// (e.g. truncated by a dropped connection).
func decodeInto(what string, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %s: invalid or truncated JSON: %v", ErrNotShelly, what, err)
	}
	return nil
}

// Info is what GET /shelly says, for both generations.
type Info struct {
	// Gen1
	Type       string `json:"type"`
	Auth       bool   `json:"auth"`
	FW         string `json:"fw"`
	NumOutputs int    `json:"num_outputs"`
	NumMeters  int    `json:"num_meters"`
	NumEMeters int    `json:"num_emeters"`
	Mode       string `json:"mode"`
	// Gen2+
	Gen    int    `json:"gen"`
	ID     string `json:"id"`
	Name   string `json:"name"`
	Model  string `json:"model"`
	Ver    string `json:"ver"`
	FWID   string `json:"fw_id"`
	App    string `json:"app"`
	AuthEn bool   `json:"auth_en"`
	// Both
	MAC string `json:"mac"`
}

// Generation is 1 for Gen1 devices, else the "gen" the device reports.
func (i Info) Generation() int {
	if i.Gen >= 2 {
		return i.Gen
	}
	return 1
}

// DecodeInfo reads a /shelly answer.
func DecodeInfo(body []byte) (Info, error) {
	var i Info
	if err := decodeInto("/shelly", body, &i); err != nil {
		return i, err
	}
	if i.Type == "" && i.Model == "" {
		return i, fmt.Errorf("%w: /shelly has neither \"type\" (Gen1) nor \"model\" (Gen2+)", ErrNotShelly)
	}
	return i, nil
}

// gen1Status is the part of a Gen1 /status we use.
type gen1Status struct {
	Relays []struct {
		IsOn     bool `json:"ison"`
		HasTimer bool `json:"has_timer"`
	} `json:"relays"`
	Meters []struct {
		Power   float64 `json:"power"`
		IsValid *bool   `json:"is_valid"`
		Total   float64 `json:"total"` // watt-minutes
	} `json:"meters"`
	EMeters []struct {
		Power   float64 `json:"power"`
		Voltage float64 `json:"voltage"`
		Current float64 `json:"current"`
		Total   float64 `json:"total"` // Wh
	} `json:"emeters"`
	Voltage *float64 `json:"voltage"` // 2.5 and some others, device-wide
	WiFi    struct {
		RSSI int `json:"rssi"`
	} `json:"wifi_sta"`
}

// gen1Settings is the part of a Gen1 /settings we use.
type gen1Settings struct {
	Name   *string `json:"name"`
	Device struct {
		Hostname string `json:"hostname"`
	} `json:"device"`
	Relays []struct {
		Name *string `json:"name"`
	} `json:"relays"`
}

// Gen1Status builds a status from Gen1 /shelly, /status and /settings
// answers. Meter totals are watt-minutes on Gen1 meters and Wh on emeters.
func Gen1Status(info Info, statusBody, settingsBody []byte) (actuator.Status, error) {
	var st gen1Status
	if err := decodeInto("/status", statusBody, &st); err != nil {
		return actuator.Status{}, err
	}
	var set gen1Settings
	if len(settingsBody) > 0 {
		if err := decodeInto("/settings", settingsBody, &set); err != nil {
			return actuator.Status{}, err
		}
	}
	if len(st.Relays) == 0 {
		return actuator.Status{}, fmt.Errorf("%w: /status lists no relays (a %s in roller mode, or not a relay device?)", ErrNotShelly, info.Type)
	}
	s := actuator.Status{
		Model: info.Type, SWVersion: info.FW, MAC: info.MAC, RSSI: st.WiFi.RSSI,
		Protocol: "shelly-gen1", Strip: len(st.Relays) > 1,
	}
	if set.Name != nil {
		s.Alias = *set.Name
	}
	for i, r := range st.Relays {
		o := actuator.Outlet{Index: i, ID: strconv.Itoa(i), Alias: fmt.Sprintf("relay %d", i), On: r.IsOn}
		if i < len(set.Relays) && set.Relays[i].Name != nil && *set.Relays[i].Name != "" {
			o.Alias = *set.Relays[i].Name
		}
		switch {
		case i < len(st.EMeters):
			m := st.EMeters[i]
			o.Energy = &actuator.Energy{Watts: m.Power, Volts: m.Voltage, Amperes: m.Current, WattHours: m.Total}
		case i < len(st.Meters) && (m1(st.Meters[i].IsValid)):
			m := st.Meters[i]
			e := &actuator.Energy{Watts: m.Power, WattHours: m.Total / 60}
			if st.Voltage != nil {
				e.Volts = *st.Voltage
				if e.Volts > 0 {
					e.Amperes = m.Power / e.Volts
				}
			}
			o.Energy = e
		}
		s.Outlets = append(s.Outlets, o)
	}
	if !s.Strip && s.Alias != "" {
		s.Outlets[0].Alias = s.Alias
	}
	return s, nil
}

func m1(valid *bool) bool { return valid == nil || *valid }

// gen1Relay is the answer of /relay/N.
type gen1Relay struct {
	IsOn     *bool `json:"ison"`
	HasTimer bool  `json:"has_timer"`
}

// decodeGen1Relay reads a /relay/N answer.
func decodeGen1Relay(body []byte) (gen1Relay, error) {
	var r gen1Relay
	if err := decodeInto("/relay", body, &r); err != nil {
		return r, err
	}
	if r.IsOn == nil {
		return r, fmt.Errorf("%w: /relay answer has no \"ison\"", ErrNotShelly)
	}
	return r, nil
}

// Frame is a Gen2+ JSON-RPC response frame.
type Frame struct {
	ID     any             `json:"id"`
	Src    string          `json:"src"`
	Dst    string          `json:"dst"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// DecodeFrame reads a JSON-RPC response frame for method; a device error
// becomes an *RPCError.
func DecodeFrame(method string, body []byte) (json.RawMessage, error) {
	var f Frame
	if err := decodeInto(method, body, &f); err != nil {
		return nil, err
	}
	if f.Error != nil {
		return nil, &RPCError{Method: method, Code: f.Error.Code, Message: f.Error.Message}
	}
	if len(f.Result) == 0 {
		return nil, fmt.Errorf("%w: %s answer has neither result nor error", ErrNotShelly, method)
	}
	return f.Result, nil
}

// gen2Switch is Switch.GetStatus, or a "switch:N" member of Shelly.GetStatus.
type gen2Switch struct {
	ID             int      `json:"id"`
	Output         *bool    `json:"output"`
	APower         *float64 `json:"apower"`
	Voltage        float64  `json:"voltage"`
	Current        float64  `json:"current"`
	TimerStartedAt *float64 `json:"timer_started_at"`
	AEnergy        *struct {
		Total float64 `json:"total"` // Wh
	} `json:"aenergy"`
}

// Gen2Status builds a status from Shelly.GetDeviceInfo and Shelly.GetStatus
// results; names maps switch id to the name in its config.
func Gen2Status(info Info, statusResult []byte, names map[int]string) (actuator.Status, error) {
	var raw map[string]json.RawMessage
	if err := decodeInto("Shelly.GetStatus", statusResult, &raw); err != nil {
		return actuator.Status{}, err
	}
	var ids []int
	sw := map[int]gen2Switch{}
	for k, v := range raw {
		n, ok := strings.CutPrefix(k, "switch:")
		if !ok {
			continue
		}
		id, err := strconv.Atoi(n)
		if err != nil || id < 0 || id > 255 {
			continue
		}
		var s gen2Switch
		if err := decodeInto("Shelly.GetStatus "+k, v, &s); err != nil {
			return actuator.Status{}, err
		}
		if s.Output == nil {
			return actuator.Status{}, fmt.Errorf("%w: %s has no \"output\"", ErrNotShelly, k)
		}
		sw[id] = s
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return actuator.Status{}, fmt.Errorf("%w: Shelly.GetStatus lists no switch components (a %s in cover mode?)", ErrNotShelly, info.Model)
	}
	slices.Sort(ids)
	var rssi int
	if w, ok := raw["wifi"]; ok {
		var wifi struct {
			RSSI int `json:"rssi"`
		}
		if json.Unmarshal(w, &wifi) == nil {
			rssi = wifi.RSSI
		}
	}
	s := actuator.Status{
		Model: info.Model, SWVersion: info.Ver, MAC: info.MAC, Alias: info.Name, RSSI: rssi,
		Protocol: "shelly-gen" + strconv.Itoa(info.Generation()), Strip: len(ids) > 1,
	}
	for i, id := range ids {
		x := sw[id]
		o := actuator.Outlet{Index: i, ID: strconv.Itoa(id), Alias: fmt.Sprintf("switch:%d", id), On: *x.Output}
		if n := names[id]; n != "" {
			o.Alias = n
		}
		if x.APower != nil {
			e := &actuator.Energy{Watts: *x.APower, Volts: x.Voltage, Amperes: x.Current}
			if x.AEnergy != nil {
				e.WattHours = x.AEnergy.Total
			}
			o.Energy = e
		}
		s.Outlets = append(s.Outlets, o)
	}
	if !s.Strip && s.Alias != "" {
		s.Outlets[0].Alias = s.Alias
	}
	return s, nil
}

// decodeGen2Switch reads a Switch.GetStatus result.
func decodeGen2Switch(result []byte) (gen2Switch, error) {
	var s gen2Switch
	if err := decodeInto("Switch.GetStatus", result, &s); err != nil {
		return s, err
	}
	if s.Output == nil {
		return s, fmt.Errorf("%w: Switch.GetStatus has no \"output\"", ErrNotShelly)
	}
	return s, nil
}

// DecodeHTTPError reads what a device says with a non-2xx HTTP status.
func httpStatusError(what string, resp *http.Response, body []byte) error {
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return &RPCError{Method: what, Code: e.Code, Message: e.Message}
	}
	return &RPCError{Method: what, Code: resp.StatusCode, Message: fmt.Sprintf("HTTP %s: %s", resp.Status, msg)}
}
