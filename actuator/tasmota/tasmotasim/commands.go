package tasmotasim

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func (d *Device) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/cm", d.cm)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, ch := d.srv.Admit()
		if !ok {
			select {
			case <-ch:
			case <-r.Context().Done():
			}
			panic(http.ErrAbortHandler)
		}
		mux.ServeHTTP(w, r)
	})
}

// answer writes a JSON object keeping the keys in the order given.
type answer []kv

type kv struct {
	k string
	v any
}

func (a answer) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, x := range a {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(x.k)
		v, err := json.Marshal(x.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// cm is GET (or POST) /cm?[user=…&password=…&]cmnd=….
func (d *Device) cm(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if d.opt.Password != "" {
		u, p := r.FormValue("user"), r.FormValue("password")
		if subtle.ConstantTimeCompare([]byte(u), []byte(d.user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(d.opt.Password)) != 1 {
			// Tasmota 12+ answers 401; older firmware answered 200 with the same warning.
			writeJSON(w, http.StatusUnauthorized, answer{{"WARNING", "Need user=<username>&password=<password>"}})
			return
		}
	}
	cmnd := strings.TrimSpace(r.FormValue("cmnd"))
	if cmnd == "" {
		writeJSON(w, http.StatusOK, answer{{"WARNING", "Enter command cmnd="}})
		return
	}
	d.mu.Lock()
	res := d.execLocked(cmnd)
	d.mu.Unlock()
	writeJSON(w, http.StatusOK, res)
}

// splitCommand splits "Power2 on" into "power", index 2 (-1 when absent)
// and "on".
func splitCommand(s string) (name string, index int, payload string) {
	word, payload, _ := strings.Cut(strings.TrimSpace(s), " ")
	payload = strings.TrimSpace(payload)
	i := len(word)
	for i > 0 && word[i-1] >= '0' && word[i-1] <= '9' {
		i--
	}
	index = -1
	if i < len(word) {
		index, _ = strconv.Atoi(word[i:])
	}
	return strings.ToLower(word[:i]), index, payload
}

type command func(d *Device, index int, payload, raw string) answer

// commands are the Tasmota commands the simulator knows (set in init:
// Backlog runs commands, so the table refers to itself).
var commands map[string]command

func init() {
	commands = map[string]command{
		"power":        (*Device).cmdPower,
		"status":       (*Device).cmdStatus,
		"state":        func(d *Device, _ int, _, _ string) answer { return d.statusSTSLocked() },
		"backlog":      (*Device).cmdBacklog,
		"delay":        (*Device).cmdDelay,
		"friendlyname": (*Device).cmdFriendlyName,
		"devicename":   (*Device).cmdDeviceName,
	}
}

func (d *Device) execLocked(raw string) answer {
	name, index, payload := splitCommand(raw)
	c, ok := commands[name]
	if !ok || d.refuse[name] {
		return answer{{"Command", "Unknown"}}
	}
	return c(d, index, payload, raw)
}

func (d *Device) powerKey(n int) string {
	if len(d.relays) == 1 {
		return "POWER" // SetOption26 0, the default, drops the index on a single relay
	}
	return "POWER" + strconv.Itoa(n)
}

func onOffText(on bool) string {
	if on {
		return "ON"
	}
	return "OFF"
}

// cmdPower is Power<x> [0|off|false|1|on|true|2|toggle]; Power0 acts on
// all relays. Anything else shows the state, as on the device.
func (d *Device) cmdPower(index int, payload, _ string) answer {
	if index == -1 {
		index = 1
	}
	if index > len(d.relays) {
		return answer{{"Command", "Unknown"}}
	}
	targets := []int{index}
	if index == 0 {
		targets = nil
		for i := range d.relays {
			targets = append(targets, i+1)
		}
	}
	var a answer
	for _, n := range targets {
		r := d.relays[n-1]
		switch strings.ToLower(payload) {
		case "0", "off", "false":
			d.setLocked(n-1, false)
		case "1", "on", "true":
			d.setLocked(n-1, true)
		case "2", "toggle":
			d.setLocked(n-1, !r.on)
		}
		a = append(a, kv{d.powerKey(n), onOffText(r.on)})
	}
	return a
}

// cmdBacklog appends commands to the queue (Backlog0: without the
// SetOption34 wait between them); an empty Backlog clears the queue.
func (d *Device) cmdBacklog(index int, payload, _ string) answer {
	if payload == "" {
		had := len(d.queue) > 0
		d.queue = nil
		d.queueGen++
		d.running = false
		if had {
			return answer{{"Backlog", "Aborted"}}
		}
		return answer{{"Backlog", "Empty"}}
	}
	nodelay := index == 0
	for _, c := range strings.Split(payload, ";") {
		c = strings.TrimSpace(c)
		for {
			if n, _, _ := splitCommand(c); n == "backlog" {
				_, c, _ = strings.Cut(c, " ")
				c = strings.TrimSpace(c)
				continue
			}
			break
		}
		if c == "" || len(d.queue) >= 30 {
			continue
		}
		d.queue = append(d.queue, queued{cmd: c, nodelay: nodelay})
	}
	d.startQueueLocked()
	return answer{} // Tasmota clears the response of a Backlog; the commands answer later
}

// delayOf is how long a Delay command holds the queue: 2…3600 tenths of a
// second; other values leave the usual wait.
func delayOf(payload string) (time.Duration, bool) {
	n, err := strconv.Atoi(payload)
	if err != nil || n < 2 || n > 3600 {
		return 0, false
	}
	return time.Duration(n) * 100 * time.Millisecond, true
}

func (d *Device) cmdDelay(_ int, payload, _ string) answer {
	return answer{{"Delay", 0}}
}

// startQueueLocked runs the Backlog queue on the device's clock: the first
// command at once, then each after SetOption34's 200 ms, or after a Delay's
// time.
func (d *Device) startQueueLocked() {
	if d.running || len(d.queue) == 0 || d.closed {
		return
	}
	d.running = true
	gen := d.queueGen
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		var wait time.Duration
		for {
			if wait > 0 {
				t := d.clock.NewTimer(wait)
				select {
				case <-t.C():
				case <-d.done:
					t.Stop()
					return
				}
			}
			d.mu.Lock()
			if gen != d.queueGen || len(d.queue) == 0 {
				if gen == d.queueGen {
					d.running = false
				}
				d.mu.Unlock()
				return
			}
			q := d.queue[0]
			d.queue = d.queue[1:]
			d.execLocked(q.cmd)
			wait = backlogGap
			if q.nodelay {
				wait = 0
			}
			if name, _, payload := splitCommand(q.cmd); name == "delay" {
				if dl, ok := delayOf(payload); ok {
					wait = dl
				}
			}
			if len(d.queue) == 0 {
				d.running = false
				d.mu.Unlock()
				return
			}
			d.mu.Unlock()
		}
	}()
}

func (d *Device) cmdFriendlyName(index int, payload, _ string) answer {
	if index == -1 {
		index = 1
	}
	if index < 1 || index > len(d.relays) {
		return answer{{"Command", "Unknown"}}
	}
	if payload != "" {
		d.relays[index-1].name = payload
	}
	return answer{{"FriendlyName" + strconv.Itoa(index), d.relays[index-1].name}}
}

func (d *Device) cmdDeviceName(_ int, payload, _ string) answer {
	if payload != "" {
		d.devName = payload
	}
	return answer{{"DeviceName", d.devName}}
}

// --- Status ---

// cmdStatus is Status [n]: bare Status is the Status object, Status 0 all
// objects in one, Status n one of them.
func (d *Device) cmdStatus(_ int, payload, _ string) answer {
	parts := map[string]func() answer{
		"1":  func() answer { return answer{{"StatusPRM", d.statusPRMLocked()}} },
		"2":  func() answer { return answer{{"StatusFWR", d.statusFWR()}} },
		"5":  func() answer { return answer{{"StatusNET", d.statusNET()}} },
		"7":  func() answer { return answer{{"StatusTIM", d.statusTIMLocked()}} },
		"8":  func() answer { return answer{{"StatusSNS", d.statusSNSLocked()}} },
		"10": func() answer { return answer{{"StatusSNS", d.statusSNSLocked()}} },
		"11": func() answer { return answer{{"StatusSTS", d.statusSTSLocked()}} },
	}
	switch payload {
	case "":
		return answer{{"Status", d.statusLocked()}}
	case "0":
		return answer{
			{"Status", d.statusLocked()}, {"StatusPRM", d.statusPRMLocked()}, {"StatusFWR", d.statusFWR()},
			{"StatusNET", d.statusNET()}, {"StatusTIM", d.statusTIMLocked()},
			{"StatusSNS", d.statusSNSLocked()}, {"StatusSTS", d.statusSTSLocked()},
		}
	}
	if f, ok := parts[payload]; ok {
		return f()
	}
	return answer{{"Command", "Error"}}
}

func (d *Device) statusLocked() answer {
	var names []string
	var bits strings.Builder
	for i := len(d.relays) - 1; i >= 0; i-- {
		bits.WriteString(map[bool]string{true: "1", false: "0"}[d.relays[i].on])
	}
	for _, r := range d.relays {
		names = append(names, r.name)
	}
	return answer{
		{"Module", 0}, {"DeviceName", d.devName}, {"FriendlyName", names}, {"Topic", "tasmota_sim"},
		{"ButtonTopic", "0"}, {"Power", bits.String()}, {"PowerLock", strings.Repeat("0", len(d.relays))},
		{"PowerOnState", 3}, {"LedState", 1}, {"LedMask", "FFFF"}, {"SaveData", 1}, {"SaveState", 1},
		{"SwitchTopic", "0"}, {"SwitchMode", make([]int, 8)}, {"ButtonRetain", 0}, {"SwitchRetain", 0},
		{"SensorRetain", 0}, {"PowerRetain", 0}, {"InfoRetain", 0}, {"StateRetain", 0}, {"StatusRetain", 0},
	}
}

func (d *Device) statusPRMLocked() answer {
	now := d.clock.Now()
	return answer{
		{"Baudrate", 115200}, {"SerialConfig", "8N1"}, {"GroupTopic", "tasmotas"}, {"OtaUrl", "http://ota.tasmota.com/tasmota/release/tasmota.bin.gz"},
		{"RestartReason", "Software/System restart"}, {"Uptime", uptime(now.Sub(d.boot))},
		{"StartupUTC", d.boot.UTC().Format("2006-01-02T15:04:05")}, {"Sleep", 50}, {"CfgHolder", 4617}, {"BootCount", 1},
		{"BCResetTime", d.boot.UTC().Format("2006-01-02T15:04:05")}, {"SaveCount", 1}, {"SaveAddress", "FB000"},
	}
}

func (d *Device) statusFWR() answer {
	return answer{
		{"Version", "14.2.0(tasmota)"}, {"BuildDateTime", "2024-08-14T12:00:00"}, {"Boot", 31}, {"Core", "2_7_7"},
		{"SDK", "2.2.2-dev(38a443e)"}, {"CpuFrequency", 80}, {"Hardware", "ESP8266EX"}, {"CR", "372/699"},
	}
}

func (d *Device) statusNET() answer {
	host := "tasmota-" + strings.ReplaceAll(d.mac[12:], ":", "")
	return answer{
		{"Hostname", host}, {"IPAddress", "127.0.0.1"}, {"Gateway", "127.0.0.1"}, {"Subnetmask", "255.0.0.0"},
		{"DNSServer1", "127.0.0.1"}, {"DNSServer2", "0.0.0.0"}, {"Mac", d.mac}, {"Webserver", 2}, {"HTTP_API", 1},
		{"WifiConfig", 4}, {"WifiPower", 17.0},
	}
}

func (d *Device) statusTIMLocked() answer {
	now := d.clock.Now()
	return answer{{"UTC", now.UTC().Format("2006-01-02T15:04:05")}, {"Local", now.Format("2006-01-02T15:04:05")}, {"Timezone", "+00:00"}}
}

// energyLocked is StatusSNS.ENERGY: numbers for one channel, arrays for
// several with one Voltage (as fixtures/tasmota/energy-6ch-14.2.0.6).
func (d *Device) energyLocked() answer {
	now := d.clock.Now()
	round := func(x float64, p float64) float64 { return math.Round(x*p) / p }
	var power, current, total, today []float64
	for _, r := range d.relays {
		r.tally(now, true)
		w := 0.0
		if r.on {
			w = loadWatts
		}
		power = append(power, w)
		current = append(current, round(w/mainsVolt, 1000))
		total = append(total, round(r.wh/1000, 1000))
		today = append(today, round(r.wh/1000, 1000))
	}
	pick := func(a []float64) any {
		if len(a) == 1 {
			return a[0]
		}
		return a
	}
	factor := make([]float64, len(power))
	for i, w := range power {
		if w > 0 {
			factor[i] = 1
		}
	}
	return answer{
		{"TotalStartTime", d.boot.UTC().Format("2006-01-02T15:04:05")}, {"Total", pick(total)}, {"Yesterday", pick(make([]float64, len(total)))},
		{"Today", pick(today)}, {"Power", pick(power)}, {"ApparentPower", pick(power)}, {"ReactivePower", pick(make([]float64, len(power)))},
		{"Factor", pick(factor)}, {"Voltage", mainsVolt}, {"Current", pick(current)},
	}
}

func (d *Device) statusSNSLocked() answer {
	a := answer{{"Time", d.clock.Now().Format("2006-01-02T15:04:05")}}
	if d.opt.Metered {
		a = append(a, kv{"ENERGY", d.energyLocked()})
	}
	return a
}

func (d *Device) statusSTSLocked() answer {
	now := d.clock.Now()
	up := now.Sub(d.boot)
	a := answer{
		{"Time", now.Format("2006-01-02T15:04:05")}, {"Uptime", uptime(up)}, {"UptimeSec", int64(up.Seconds())},
		{"Heap", 25}, {"SleepMode", "Dynamic"}, {"Sleep", 50}, {"LoadAvg", 19}, {"MqttCount", 0},
	}
	for i, r := range d.relays {
		a = append(a, kv{d.powerKey(i + 1), onOffText(r.on)})
	}
	return append(a, kv{"Wifi", answer{
		{"AP", 1}, {"SSId", "simulated"}, {"BSSId", "02:00:00:00:00:01"}, {"Channel", 1}, {"Mode", "11n"},
		{"RSSI", 52}, {"Signal", -74}, {"LinkCount", 1}, {"Downtime", "0T00:00:03"},
	}})
}

// uptime formats like Tasmota: "116T07:42:22".
func uptime(d time.Duration) string {
	s := int64(d.Seconds())
	return fmt.Sprintf("%dT%02d:%02d:%02d", s/86400, s/3600%24, s/60%60, s%60)
}
