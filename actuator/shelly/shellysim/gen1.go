package shellysim

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Gen1 HTTP API: https://shelly-api-docs.shelly.cloud/gen1/ (Common HTTP
// API, Shelly 1/1PM, Plug S, 2.5). Field names and order follow the
// recorded /shelly, /status and /settings in ../shared/fixtures/shelly.

func (d *Device) gen1Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /shelly", d.gen1Shelly)
	mux.HandleFunc("GET /status", d.gen1Auth("/status", d.gen1Status))
	mux.HandleFunc("GET /settings", d.gen1Auth("/settings", d.gen1Settings))
	mux.HandleFunc("GET /settings/relay/{n}", d.gen1Auth("/settings/relay", d.gen1RelaySettings))
	mux.HandleFunc("GET /relay/{n}", d.gen1Auth("/relay", d.gen1Relay))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// gen1Auth requires HTTP basic auth when a password is set; /shelly stays
// open, as on the devices.
func (d *Device) gen1Auth(path string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.refused(path) {
			http.Error(w, "Not Found", http.StatusNotFound)
			return
		}
		if d.opt.Password != "" {
			u, p, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(d.user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(d.opt.Password)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="`+d.id+`"`)
				http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
				return
			}
		}
		h(w, r)
	}
}

func (d *Device) gen1Shelly(w http.ResponseWriter, r *http.Request) {
	v := map[string]any{
		"type": d.m.typ, "mac": d.mac, "auth": d.opt.Password != "", "fw": d.m.fw, "discoverable": false,
		"num_outputs": len(d.relays),
	}
	if d.m.metered {
		v["num_meters"] = len(d.relays)
	}
	if d.m.mode != "" {
		v["longid"] = 1
		v["num_rollers"] = 1
		v["mode"] = d.m.mode
	}
	writeJSON(w, http.StatusOK, v)
}

type gen1RelayJSON struct {
	IsOn           bool    `json:"ison"`
	HasTimer       bool    `json:"has_timer"`
	TimerStarted   int64   `json:"timer_started"`
	TimerDuration  float64 `json:"timer_duration"`
	TimerRemaining float64 `json:"timer_remaining"`
	Overpower      bool    `json:"overpower"`
	Source         string  `json:"source"`
}

func (d *Device) gen1RelayLocked(i int, now time.Time) gen1RelayJSON {
	r := d.relays[i]
	j := gen1RelayJSON{IsOn: r.on, Source: r.source}
	if r.timer != nil {
		j.HasTimer = true
		j.TimerStarted = r.started.Unix()
		j.TimerDuration = r.dur
		j.TimerRemaining = math.Ceil(r.remaining(now))
	}
	return j
}

type gen1Meter struct {
	Power     float64 `json:"power"`
	Overpower float64 `json:"overpower"`
	IsValid   bool    `json:"is_valid"`
	Timestamp int64   `json:"timestamp"`
	Counters  [3]int  `json:"counters"`
	Total     int64   `json:"total"` // watt-minutes, whole, as the devices report
}

func (d *Device) gen1Status(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	relays := []gen1RelayJSON{}
	meters := []gen1Meter{}
	for i, rl := range d.relays {
		rl.tally(now, d.m.metered)
		relays = append(relays, d.gen1RelayLocked(i, now))
		if d.m.metered {
			meters = append(meters, gen1Meter{Power: rl.watts(true), IsValid: true, Timestamp: now.Unix(), Total: int64(rl.wh * 60)})
		}
	}
	v := map[string]any{
		"wifi_sta":   map[string]any{"connected": true, "ssid": "simulated", "ip": "127.0.0.1", "rssi": -52},
		"cloud":      map[string]any{"enabled": false, "connected": false},
		"mqtt":       map[string]any{"connected": false},
		"time":       now.Format("15:04"),
		"unixtime":   now.Unix(),
		"serial":     d.srv.Requests(),
		"has_update": false,
		"mac":        d.mac,
		"relays":     relays,
		"uptime":     int64(now.Sub(d.boot).Seconds()),
	}
	if d.m.metered {
		v["meters"] = meters
	}
	if d.m.devVoltage {
		v["voltage"] = mainsVolt
	}
	writeJSON(w, http.StatusOK, v)
}

func (d *Device) gen1RelaySettingsLocked(i int) map[string]any {
	r := d.relays[i]
	var name any
	if r.name != "" {
		name = r.name
	}
	return map[string]any{
		"name": name, "appliance_type": "General", "ison": r.on, "has_timer": r.timer != nil,
		"default_state": "last", "auto_on": 0, "auto_off": 0, "schedule": false, "schedule_rules": []string{},
	}
}

func (d *Device) gen1Settings(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	relays := []map[string]any{}
	for i := range d.relays {
		relays = append(relays, d.gen1RelaySettingsLocked(i))
	}
	dev := map[string]any{"type": d.m.typ, "mac": d.mac, "hostname": d.id, "num_outputs": len(d.relays)}
	if d.m.metered {
		dev["num_meters"] = len(d.relays)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"device": dev, "name": nil, "fw": d.m.fw,
		"login":  map[string]any{"enabled": d.opt.Password != "", "unprotected": false, "username": d.user},
		"relays": relays,
	})
}

// relayIndex reads {n}; a relay that does not exist is a 404, as on devices.
func (d *Device) relayIndex(w http.ResponseWriter, r *http.Request) (int, bool) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 || n >= len(d.relays) {
		http.Error(w, "Not Found", http.StatusNotFound)
		return 0, false
	}
	return n, true
}

func (d *Device) gen1RelaySettings(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, ok := d.relayIndex(w, r)
	if !ok {
		return
	}
	if r.URL.Query().Has("name") {
		d.relays[i].name = r.URL.Query().Get("name")
	}
	writeJSON(w, http.StatusOK, d.gen1RelaySettingsLocked(i))
}

// gen1Relay is /relay/N: without turn it reads the relay; turn=on|off|toggle
// switches it, and timer=S flips it back after S seconds (the flip-back).
func (d *Device) gen1Relay(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, ok := d.relayIndex(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if q.Has("turn") {
		var on bool
		switch q.Get("turn") {
		case "on":
			on = true
		case "off":
		case "toggle":
			on = !d.relays[i].on
		default:
			http.Error(w, "Bad turn!", http.StatusBadRequest)
			return
		}
		var secs float64
		if q.Has("timer") {
			s, err := strconv.ParseFloat(q.Get("timer"), 64)
			if err != nil || s < 0 || math.IsInf(s, 0) || math.IsNaN(s) {
				http.Error(w, fmt.Sprintf("Bad timer %q!", q.Get("timer")), http.StatusBadRequest)
				return
			}
			secs = s
		}
		d.switchLocked(i, on, secs, "http")
	}
	writeJSON(w, http.StatusOK, d.gen1RelayLocked(i, d.clock.Now()))
}
