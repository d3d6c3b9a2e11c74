package tasmota

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"sort"
	"strconv"
	"strings"

	"github.com/restartinator/restartinator/actuator"
)

var (
	// ErrNotTasmota: the answer is not from Tasmota's /cm.
	ErrNotTasmota = errors.New("answer is not from a Tasmota device")
	// ErrAuthRequired: the device has a web password and we sent none.
	ErrAuthRequired = errors.New("the device requires a web password and none is configured")
	// ErrAuthRejected: the device refused our user/password.
	ErrAuthRejected = errors.New("the device rejected the username/password")
	// ErrUnknownCommand: the firmware does not know a command we sent.
	ErrUnknownCommand = errors.New("the device does not know the command")
)

const maxBody = 1 << 20

// checkJSON says why an answer is not the JSON Tasmota sends.
func checkJSON(status int, contentType string, body []byte) error {
	mt, _, _ := mime.ParseMediaType(contentType)
	t := strings.ToLower(strings.TrimSpace(string(body)))
	switch {
	case mt == "text/html" || strings.HasPrefix(t, "<!doctype") || strings.HasPrefix(t, "<html"):
		return fmt.Errorf("%w: got an HTML page (HTTP %d)", ErrNotTasmota, status)
	case t == "":
		return fmt.Errorf("%w: empty answer (HTTP %d)", ErrNotTasmota, status)
	case mt != "" && mt != "application/json" && mt != "text/plain":
		return fmt.Errorf("%w: content type %q (HTTP %d)", ErrNotTasmota, mt, status)
	}
	return nil
}

// DecodeAnswer reads one /cm answer into its top-level members. A WARNING
// about the password or an unknown command becomes an error.
func DecodeAnswer(cmnd string, body []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: invalid or truncated JSON: %v", ErrNotTasmota, cmnd, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%w: %s: answer is not a JSON object", ErrNotTasmota, cmnd)
	}
	if w, ok := m["WARNING"]; ok {
		var s string
		if json.Unmarshal(w, &s) != nil {
			s = string(w)
		}
		if strings.Contains(s, "password") {
			// Older firmware answers 200 with this warning, newer 401.
			return nil, ErrAuthRequired
		}
		return nil, fmt.Errorf("%s: device warns: %s", cmnd, s)
	}
	if c, ok := m["Command"]; ok && strings.Contains(string(c), "Unknown") {
		return nil, fmt.Errorf("%w: %s", ErrUnknownCommand, cmnd)
	}
	return m, nil
}

// status0 is the part of a `Status 0` answer we use.
type status0 struct {
	Status *struct {
		Module       json.RawMessage `json:"Module"`
		DeviceName   string          `json:"DeviceName"`
		FriendlyName []string        `json:"FriendlyName"`
	} `json:"Status"`
	StatusFWR struct {
		Version  string `json:"Version"`
		Hardware string `json:"Hardware"`
	} `json:"StatusFWR"`
	StatusNET struct {
		Mac      string `json:"Mac"`
		Hostname string `json:"Hostname"`
	} `json:"StatusNET"`
	StatusSNS struct {
		Energy map[string]json.RawMessage `json:"ENERGY"`
	} `json:"StatusSNS"`
	StatusSTS map[string]json.RawMessage `json:"StatusSTS"`
}

// Status0 builds a status from a `Status 0` answer (the Status, StatusFWR,
// StatusNET, StatusSNS and StatusSTS objects merged into one).
func Status0(body []byte) (actuator.Status, error) {
	var s status0
	if err := json.Unmarshal(body, &s); err != nil {
		return actuator.Status{}, fmt.Errorf("%w: Status 0: invalid or truncated JSON: %v", ErrNotTasmota, err)
	}
	if s.Status == nil {
		return actuator.Status{}, fmt.Errorf("%w: Status 0 has no \"Status\" object", ErrNotTasmota)
	}
	power := PowerStates(s.StatusSTS)
	if len(power) == 0 {
		return actuator.Status{}, fmt.Errorf("%w: StatusSTS has no POWER: a Tasmota without relays?", ErrNotTasmota)
	}
	st := actuator.Status{
		Model: model(s.Status.Module), HWVersion: s.StatusFWR.Hardware, SWVersion: s.StatusFWR.Version,
		MAC: s.StatusNET.Mac, Alias: s.Status.DeviceName, Protocol: "tasmota-http", Strip: len(power) > 1,
	}
	if w, ok := s.StatusSTS["Wifi"]; ok {
		var wifi struct {
			Signal int `json:"Signal"` // dBm; RSSI there is a percentage
		}
		if json.Unmarshal(w, &wifi) == nil {
			st.RSSI = wifi.Signal
		}
	}
	seen := map[string]bool{}
	for i, on := range power {
		o := actuator.Outlet{Index: i, ID: "POWER" + strconv.Itoa(i+1), On: on}
		if i < len(s.Status.FriendlyName) {
			o.Alias = s.Status.FriendlyName[i]
		}
		if o.Alias == "" || seen[o.Alias] {
			o.Alias = o.ID // strip outlets need distinct labels
		}
		seen[o.Alias] = true
		o.Energy = energy(s.StatusSNS.Energy, i, len(power))
		st.Outlets = append(st.Outlets, o)
	}
	return st, nil
}

func model(raw json.RawMessage) string {
	var n int
	if json.Unmarshal(raw, &n) != nil {
		return "Tasmota"
	}
	if n == 0 {
		return "Tasmota (template)"
	}
	return "Tasmota (module " + strconv.Itoa(n) + ")"
}

// PowerStates reads POWER or POWER1…POWERn ("ON"/"OFF") in relay order.
func PowerStates(m map[string]json.RawMessage) []bool {
	idx := map[int]bool{}
	var keys []int
	for k, v := range m {
		n, ok := powerIndex(k)
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			continue
		}
		if _, dup := idx[n]; !dup {
			keys = append(keys, n)
		}
		idx[n] = strings.EqualFold(s, "ON")
	}
	sort.Ints(keys)
	// Only a contiguous run from 1: gaps mean something we do not understand.
	var out []bool
	for i, n := range keys {
		if n != i+1 {
			break
		}
		out = append(out, idx[n])
	}
	return out
}

// powerIndex maps "POWER" to 1 and "POWERn" to n.
func powerIndex(k string) (int, bool) {
	if k == "POWER" {
		return 1, true
	}
	rest, ok := strings.CutPrefix(k, "POWER")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 || n > 32 {
		return 0, false
	}
	return n, true
}

// energy reads outlet i's meter. ENERGY values are numbers for a single
// channel or arrays with one value per channel (recorded in
// fixtures/tasmota/energy-6ch-14.2.0.6, where Voltage stays one number).
// One channel on a multi-relay device meters the whole device: no outlet
// gets it. Total is kWh.
func energy(e map[string]json.RawMessage, i, outlets int) *actuator.Energy {
	if len(e) == 0 {
		return nil
	}
	get := func(k string) (float64, bool) {
		raw, ok := e[k]
		if !ok {
			return 0, false
		}
		var f float64
		if json.Unmarshal(raw, &f) == nil {
			return f, outlets == 1 || k == "Voltage"
		}
		var a []float64
		if json.Unmarshal(raw, &a) == nil && i < len(a) {
			return a[i], true
		}
		return 0, false
	}
	w, okW := get("Power")
	t, okT := get("Total")
	if !okW && !okT {
		return nil
	}
	v, _ := get("Voltage")
	a, _ := get("Current")
	return &actuator.Energy{Watts: w, Volts: v, Amperes: a, WattHours: t * 1000}
}

// EnergyOnly reads every channel of StatusSNS.ENERGY in a `Status 0`
// answer, for energy monitors without relays.
func EnergyOnly(body []byte) ([]actuator.Energy, error) {
	var s status0
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("%w: Status 0: invalid or truncated JSON: %v", ErrNotTasmota, err)
	}
	var a []float64
	n := 1
	if json.Unmarshal(s.StatusSNS.Energy["Total"], &a) == nil && len(a) > 0 {
		n = len(a)
	}
	var out []actuator.Energy
	for i := range n {
		e := energy(s.StatusSNS.Energy, i, n)
		if e == nil {
			return nil, fmt.Errorf("%w: StatusSNS has no ENERGY", ErrNotTasmota)
		}
		out = append(out, *e)
	}
	return out, nil
}
