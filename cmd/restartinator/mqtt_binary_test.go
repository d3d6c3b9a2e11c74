package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/internal/simdevice"
	"github.com/restartinator/restartinator/notify/mqtt/mqtttest"
)

const mqttWait = 60 * time.Second

// plugged is a simulated device powered by a simulated metered Kasa plug:
// off when its outlet is off, booting for a while after power returns, and
// hung (until its power is cut) when the test says so.
type plugged struct {
	sim *kasasim.Plug
	dev *simdevice.Device

	mu      sync.Mutex
	hung    bool
	wasOn   bool
	upAt    time.Time
	stop    chan struct{}
	stopped chan struct{}
}

func startPlugged(t *testing.T) *plugged {
	t.Helper()
	sim, err := kasasim.Start(kasasim.Options{Model: "HS110"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	sim.SetOn(0, true)
	dev, err := simdevice.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	p := &plugged{sim: sim, dev: dev, wasOn: true, stop: make(chan struct{}), stopped: make(chan struct{})}
	go p.follow()
	t.Cleanup(func() { close(p.stop); <-p.stopped })
	return p
}

// follow is the device's physics: it tracks its outlet every 20ms.
func (p *plugged) follow() {
	defer close(p.stopped)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-tick.C:
			on := p.sim.On(0)
			p.mu.Lock()
			switch {
			case !on:
				p.hung = false // cutting power clears the hang
			case !p.wasOn:
				p.upAt = now.Add(1500 * time.Millisecond) // boots
			}
			p.wasOn = on
			up := on && !p.hung && !now.Before(p.upAt)
			p.mu.Unlock()
			p.dev.SetUp(up)
		}
	}
}

func (p *plugged) hang() {
	p.mu.Lock()
	p.hung = true
	p.mu.Unlock()
}

// mqttConfig writes a config for one device on the plug, published to
// broker.
func (p *plugged) config(t *testing.T, broker, extra string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global: {state_file: %s}
defaults: {check_interval: 500ms, retry_interval: 200ms, retries: 2, timeout: 500ms, cycle_time: 1s, boot_time: 30s, max_cycles: 3, cycle_window: 1h}
plugs: [{name: lab-plug, host: 127.0.0.1, port: %d, protocol: %s}]
devices:
  - {name: "Lab Router #1", host: 127.0.0.1, port: %d, plug: lab-plug}
mqtt:
  broker: %s
  commands: true
  state_interval: 200ms
%s`, filepath.Join(dir, "state.json"), p.sim.Port(), p.sim.Protocol(), p.dev.Port(), broker, extra)
	path := filepath.Join(dir, "r.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	routerState = "restartinator/lab_router_1/state"
	routerEvent = "restartinator/lab_router_1/event"
)

func lastIs(topic, payload string) func([]mqtttest.Message) bool {
	return func(ms []mqtttest.Message) bool {
		got, ok := mqtttest.Last(ms, topic)
		return ok && got == payload
	}
}

// TestMQTTDetectCycleRecover: a subscriber (as Home Assistant) sees the
// device's states and events in order while the real binary detects a hung
// device, power-cycles its simulated plug and sees it recover.
func TestMQTTDetectCycleRecover(t *testing.T) {
	broker := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, broker.URL(), "#")
	p := startPlugged(t)
	cmd, addr, logs := startBinary(t, "--config.file", p.config(t, broker.URL(), ""))

	sub.Wait("the device up, with its discovery and a power reading", mqttWait, func(ms []mqtttest.Message) bool {
		_, power := mqtttest.Last(ms, "restartinator/lab_router_1/power")
		_, cfg := mqtttest.Last(ms, "homeassistant/sensor/restartinator/lab_router_1_power/config")
		return lastIs(routerState, "up")(ms) && lastIs("restartinator/status", "online")(ms) && power && cfg
	})
	p.hang()
	// The events too: a periodic sync may publish the last "up" before
	// the recovered event that goes with it.
	msgs := sub.Wait("detect, cycle and recover", mqttWait, func(ms []mqtttest.Message) bool {
		return strings.Contains(strings.Join(dedupe(mqtttest.Payloads(ms, routerState)), ","), "up,failing,cycling,booting,up") &&
			strings.Contains(strings.Join(mqtttest.Payloads(ms, routerEvent), "\n"), `"kind":"recovered"`)
	})
	// "unknown" comes first when the broker hears of the device before
	// its first probe.
	if got := strings.TrimPrefix(strings.Join(dedupe(mqtttest.Payloads(msgs, routerState)), ","), "unknown,"); got != "up,failing,cycling,booting,up" {
		t.Errorf("states %s, want up,failing,cycling,booting,up\n%s", got, logs.String())
	}
	var kinds []string
	for _, m := range msgs {
		if m.Topic == routerEvent {
			var e event.Event
			if err := json.Unmarshal([]byte(m.Payload), &e); err != nil {
				t.Fatalf("event %q: %v", m.Payload, err)
			}
			kinds = append(kinds, string(e.Kind))
		}
	}
	if got := strings.Join(kinds, ","); got != "offline,cycle_started,recovered" {
		t.Errorf("events %s, want offline,cycle_started,recovered", got)
	}
	var attrs map[string]any
	last, _ := mqtttest.Last(msgs, "restartinator/lab_router_1/attributes")
	json.Unmarshal([]byte(last), &attrs)
	if attrs["cycles_in_window"] != 1.0 || attrs["last_cycle"] == nil {
		t.Errorf("attributes after the cycle: %s", last)
	}
	for _, series := range []string{"restartinator_mqtt_connected 1", "restartinator_mqtt_messages_published_total", "restartinator_mqtt_publish_failures_total 0"} {
		if !strings.Contains(scrape(t, addr), series) {
			t.Errorf("/metrics lacks %q", series)
		}
	}

	// Killed outright, the binary cannot say goodbye: the broker publishes
	// its Last Will and Home Assistant marks every entity unavailable.
	cmd.Process.Kill()
	cmd.Wait()
	sub.Wait("the Last Will", mqttWait, lastIs("restartinator/status", "offline"))
}

func dedupe(ss []string) []string {
	var out []string
	for _, s := range ss {
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestMQTTButtonCyclesOnce presses the Home Assistant button twice: the
// first press cycles the plug, the second, while it is cycling, is
// answered "already cycling" and switches nothing.
func TestMQTTButtonCyclesOnce(t *testing.T) {
	broker := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, broker.URL(), "restartinator/#")
	p := startPlugged(t)
	cmd, _, logs := startBinary(t, "--config.file", p.config(t, broker.URL(), ""))
	sub.Wait("online and up", mqttWait, func(ms []mqtttest.Message) bool {
		return lastIs("restartinator/status", "online")(ms) && lastIs(routerState, "up")(ms)
	})
	results := func(ms []mqtttest.Message) []string {
		return mqtttest.Payloads(ms, "restartinator/lab_router_1/cycle/result")
	}
	sub.Publish("restartinator/lab_router_1/cycle/set", "PRESS", false)
	ms := sub.Wait("the first answer", mqttWait, func(ms []mqtttest.Message) bool { return len(results(ms)) == 1 })
	var first cycleAnswer
	json.Unmarshal([]byte(results(ms)[0]), &first)
	if first.Status != "started" || first.Device != "Lab Router #1" {
		t.Fatalf("first press: %s", results(ms)[0])
	}
	sub.Publish("restartinator/lab_router_1/cycle/set", "PRESS", false)
	ms = sub.Wait("the second answer", mqttWait, func(ms []mqtttest.Message) bool { return len(results(ms)) == 2 })
	var second cycleAnswer
	json.Unmarshal([]byte(results(ms)[1]), &second)
	if second.Status != "already_cycling" || !strings.Contains(second.Error, "already cycling") {
		t.Errorf("second press while cycling: %s", results(ms)[1])
	}
	sub.Wait("the device back up", mqttWait, func(ms []mqtttest.Message) bool {
		return strings.Contains(strings.Join(dedupe(mqtttest.Payloads(ms, routerState)), ","), "cycling,booting,up")
	})
	started := 0
	for _, m := range sub.Messages() {
		if m.Topic == routerEvent && strings.Contains(m.Payload, `"kind":"cycle_started"`) {
			started++
			if !strings.Contains(m.Payload, `"trigger":"manual"`) {
				t.Errorf("a button press is a manual cycle: %s", m.Payload)
			}
		}
	}
	if started != 1 {
		t.Errorf("%d cycles started by two presses, want 1", started)
	}
	terminate(t, cmd, logs)
	if !p.sim.On(0) {
		t.Error("outlet left off")
	}
}

// TestMQTTBrokerDownAtStart: restartinator starts and supervises without
// its broker and connects once the broker is there.
func TestMQTTBrokerDownAtStart(t *testing.T) {
	broker := mqtttest.Start(t, mqtttest.Options{})
	broker.Stop()
	p := startPlugged(t)
	// The backoff doubles up to max_reconnect_interval (2m by default):
	// on a slow machine the wait below could grow it past mqttWait.
	_, addr, logs := startBinary(t, "--config.file", p.config(t, broker.URL(), "  max_reconnect_interval: 2s\n"))
	waitFor(t, "readiness and a probe without the broker", func() bool {
		m := scrape(t, addr)
		return strings.Contains(m, "restartinator_mqtt_connected 0") && strings.Contains(m, `restartinator_device_up{device="Lab Router #1"} 1`)
	})
	if code, _ := get(t, "http://"+addr+"/-/ready"); code != http.StatusOK {
		t.Errorf("not ready without the broker: %d", code)
	}
	if !strings.Contains(logs.String(), "MQTT connection failed: cannot reach the broker") {
		t.Errorf("no clear log line about the broker:\n%s", logs.String())
	}
	broker.Restart()
	sub := mqtttest.Subscribe(t, broker.URL(), "restartinator/#")
	sub.Wait("state once the broker is up", mqttWait, lastIs(routerState, "up"))
}

// TestMQTTBadBrokerSettings: what can be known before connecting fails
// --config.check and start-up with the file, line and key; a refused login
// is said plainly at start-up, and supervision goes on.
func TestMQTTBadBrokerSettings(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"bad scheme", "mqtt:\n  broker: http://127.0.0.1:1883\n", []string{"bad.yml", `line 2: broker: "http://127.0.0.1:1883" has scheme "http"`}},
		{"no host", "mqtt:\n  broker: mqtt://:1883\n", []string{`line 2: broker: "mqtt://:1883" names no host`}},
		{"bad CA", "mqtt:\n  broker: mqtts://127.0.0.1\n  tls_config: {ca_file: " + notPEM + "}\n", []string{"mqtt.tls_config", "unable to use specified CA cert"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "bad.yml")
			os.WriteFile(path, []byte(tc.yaml), 0o600)
			for _, args := range [][]string{{"--config.check"}, {"--web.listen-address=127.0.0.1:0"}} {
				out, err := exec.Command(bin, append(args, "--config.file", path)...).CombinedOutput()
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
					t.Errorf("%v: exit %v, want 1\n%s", args, err, out)
				}
				// The log line quotes the error: compare it unquoted.
				text := strings.ReplaceAll(string(out), `\"`, `"`)
				for _, w := range tc.want {
					if !strings.Contains(text, w) {
						t.Errorf("%v: output lacks %q:\n%s", args, w, out)
					}
				}
			}
		})
	}

	broker := mqtttest.Start(t, mqtttest.Options{Users: map[string]string{"restartinator": "right"}})
	p := startPlugged(t)
	pw := filepath.Join(dir, "mqtt.pass")
	os.WriteFile(pw, []byte("wrong\n"), 0o600)
	path := p.config(t, broker.URL(), "  username: restartinator\n  password_file: "+pw+"\n")
	out, err := exec.Command(bin, "--config.check", "--config.file", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "MQTT to "+broker.URL()) {
		t.Errorf("a config whose password only the broker can judge should check: %v\n%s", err, out)
	}
	_, addr, logs := startBinary(t, "--config.file", path)
	waitFor(t, "the refusal in the log", func() bool {
		return strings.Contains(logs.String(), "MQTT connection failed: the broker refused the login — check mqtt.username and mqtt.password")
	})
	waitFor(t, "supervision going on", func() bool {
		return strings.Contains(scrape(t, addr), `restartinator_device_up{device="Lab Router #1"} 1`)
	})
	if m := scrape(t, addr); !strings.Contains(m, `restartinator_mqtt_connection_attempts_total{result="refused"}`) || !strings.Contains(m, "restartinator_mqtt_connected 0") {
		t.Errorf("metrics do not show the refusal")
	}
}

// TestMQTTReload: a reload that changes the mqtt section moves the
// connection (the old prefix says offline, the new one online); one that
// removes it disconnects, saying offline.
func TestMQTTReload(t *testing.T) {
	broker := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, broker.URL(), "#")
	p := startPlugged(t)
	path := p.config(t, broker.URL(), "  topic_prefix: site-a\n")
	cmd, _, logs := startBinary(t, "--config.file", path)
	sub.Wait("site-a online", mqttWait, func(ms []mqtttest.Message) bool {
		return lastIs("site-a/status", "online")(ms) && lastIs("site-a/lab_router_1/state", "up")(ms)
	})
	data, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(data), "topic_prefix: site-a", "topic_prefix: site-b", 1)), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	sub.Wait("site-a offline, site-b online", mqttWait, func(ms []mqtttest.Message) bool {
		return lastIs("site-a/status", "offline")(ms) && lastIs("site-b/status", "online")(ms) &&
			lastIs("site-b/lab_router_1/state", "up")(ms)
	})
	noMQTT, _, _ := strings.Cut(string(data), "mqtt:")
	os.WriteFile(path, []byte(noMQTT), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	sub.Wait("site-b offline", mqttWait, lastIs("site-b/status", "offline"))
	terminate(t, cmd, logs)
}

// TestMQTTTLSWrongCAThenReload: the real binary against mosquitto's TLS
// listener with the wrong CA in ca_file says so (log line, metric) and
// goes on supervising; once the right CA is written to the same file, a
// reload connects. Replacing the file under the same name is how a user
// fixes it, so the reload must notice the contents, not only the config.
func TestMQTTTLSWrongCAThenReload(t *testing.T) {
	ca := mqtttest.NewCA(t, "broker CA")
	wrong := mqtttest.NewCA(t, "another CA")
	broker := mqtttest.Start(t, mqtttest.Options{TLS: &mqtttest.TLS{Server: ca.Server("127.0.0.1")}})
	sub := mqtttest.Subscribe(t, broker.URL(), "restartinator/#")
	p := startPlugged(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	copyFile(t, wrong.File, caFile)
	path := p.config(t, broker.MQTTSURL(), "  tls_config: {ca_file: "+caFile+"}\n")
	cmd, addr, logs := startBinary(t, "--config.file", path)
	waitFor(t, "the TLS failure in the log", func() bool {
		return strings.Contains(logs.String(), "MQTT connection failed: the broker's TLS certificate is not signed by a CA in mqtt.tls_config.ca_file")
	})
	waitFor(t, "supervision going on", func() bool {
		return strings.Contains(scrape(t, addr), `restartinator_device_up{device="Lab Router #1"} 1`)
	})
	if m := scrape(t, addr); !strings.Contains(m, `restartinator_mqtt_connection_attempts_total{result="tls"}`) || !strings.Contains(m, "restartinator_mqtt_connected 0") {
		t.Errorf("metrics do not show the TLS failure")
	}
	copyFile(t, ca.File, caFile)
	cmd.Process.Signal(syscall.SIGHUP)
	sub.Wait("online over TLS after the reload", mqttWait, func(ms []mqtttest.Message) bool {
		return lastIs("restartinator/status", "online")(ms) && lastIs(routerState, "up")(ms)
	})
	waitFor(t, "connected", func() bool { return strings.Contains(scrape(t, addr), "restartinator_mqtt_connected 1") })
	terminate(t, cmd, logs)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
