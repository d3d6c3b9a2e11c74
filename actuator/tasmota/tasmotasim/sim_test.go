package tasmotasim_test

// These tests drive the simulator only through Tasmota's published HTTP
// command interface, with plain requests as any other client would send.

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/tasmota/tasmotasim"
	"github.com/restartinator/restartinator/internal/clock"
)

func start(t *testing.T, opt tasmotasim.Options) (*tasmotasim.Device, string) {
	t.Helper()
	d, err := tasmotasim.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Serve(ln) }()
	t.Cleanup(func() {
		d.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return d, "http://" + ln.Addr().String()
}

var hc = &http.Client{Timeout: 5 * time.Second}

// cm sends one command the way the docs show, with spaces and ; encoded.
func cm(t *testing.T, base, cmnd string, extra ...string) (int, map[string]any) {
	t.Helper()
	q := "cmnd=" + url.QueryEscape(cmnd)
	if len(extra) == 2 {
		q = "user=" + extra[0] + "&password=" + extra[1] + "&" + q
	}
	resp, err := hc.Get(base + "/cm?" + q)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: answer %q is not a JSON object", cmnd, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: content type %q", cmnd, ct)
	}
	return resp.StatusCode, m
}

func at(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	return v
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPowerCommands(t *testing.T) {
	_, one := start(t, tasmotasim.Options{})
	for _, tc := range []struct{ cmnd, want string }{
		{"Power", "ON"}, {"Power OFF", "OFF"}, {"Power1 1", "ON"}, {"Power1 false", "OFF"}, {"power1 toggle", "ON"}, {"POWER 2", "OFF"},
	} {
		if _, m := cm(t, one, tc.cmnd); m["POWER"] != tc.want || len(m) != 1 {
			t.Errorf("%s = %v, want POWER %s", tc.cmnd, m, tc.want)
		}
	}
	dev, three := start(t, tasmotasim.Options{Outlets: 3})
	if _, m := cm(t, three, "Power2 OFF"); m["POWER2"] != "OFF" || !dev.On(0) || dev.On(1) || !dev.On(2) {
		t.Fatalf("Power2 OFF = %v, relays %+v", m, dev.Outlets())
	}
	if _, m := cm(t, three, "Power0 OFF"); m["POWER1"] != "OFF" || m["POWER3"] != "OFF" || dev.On(0) || dev.On(2) {
		t.Fatalf("Power0 OFF = %v", m)
	}
	if _, m := cm(t, three, "Power4 ON"); m["Command"] != "Unknown" {
		t.Errorf("Power4 on a 3-relay device = %v", m)
	}
	if _, m := cm(t, three, "Frobnicate 1"); m["Command"] != "Unknown" {
		t.Errorf("unknown command = %v", m)
	}
	if _, m := cm(t, three, ""); m["WARNING"] == nil {
		t.Errorf("no cmnd = %v", m)
	}
	if _, m := cm(t, three, "FriendlyName2 Router"); m["FriendlyName2"] != "Router" {
		t.Errorf("FriendlyName2 = %v", m)
	}
	_, m := cm(t, three, "Status")
	if names, _ := at(m, "Status", "FriendlyName").([]any); len(names) != 3 || names[1] != "Router" {
		t.Errorf("Status FriendlyName = %v", at(m, "Status", "FriendlyName"))
	}
}

func TestStatus(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	_, base := start(t, tasmotasim.Options{Outlets: 2, Metered: true, Clock: fake})
	cm(t, base, "Power2 OFF")
	fake.Advance(time.Hour)
	_, m := cm(t, base, "Status 0")
	for _, k := range []string{"Status", "StatusPRM", "StatusFWR", "StatusNET", "StatusTIM", "StatusSNS", "StatusSTS"} {
		if m[k] == nil {
			t.Errorf("Status 0 lacks %s", k)
		}
	}
	if at(m, "StatusSTS", "POWER1") != "ON" || at(m, "StatusSTS", "POWER2") != "OFF" || at(m, "Status", "Power") != "01" {
		t.Errorf("StatusSTS/Status power = %v %v %v", at(m, "StatusSTS", "POWER1"), at(m, "StatusSTS", "POWER2"), at(m, "Status", "Power"))
	}
	total, _ := at(m, "StatusSNS", "ENERGY", "Total").([]any)
	if len(total) != 2 || total[0] != 0.04 || total[1] != 0.0 || at(m, "StatusSNS", "ENERGY", "Voltage") != 230.0 {
		t.Errorf("ENERGY after 1h with relay 1 on at 40 W = %v", at(m, "StatusSNS", "ENERGY"))
	}
	if _, m := cm(t, base, "Status 11"); len(m) != 1 || at(m, "StatusSTS", "POWER1") != "ON" {
		t.Errorf("Status 11 = %v", m)
	}
	if _, m := cm(t, base, "Status 99"); m["Command"] != "Error" {
		t.Errorf("Status 99 = %v", m)
	}
}

// TestBacklogDelay: the flip-back as the Commands page shows it, the relay
// back on after SetOption34's 200 ms and the Delay, on the device's clock.
func TestBacklogDelay(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	dev, base := start(t, tasmotasim.Options{Clock: fake})
	if code, m := cm(t, base, "Backlog Power1 OFF; Delay 50; Power1 ON"); code != 200 || len(m) != 0 {
		t.Fatalf("Backlog = %d %v", code, m)
	}
	waitFor(t, "first command runs at once", func() bool { _, m := cm(t, base, "Power1"); return m["POWER"] == "OFF" })
	fake.WaitForTimers(1)
	fake.Advance(200 * time.Millisecond)
	fake.WaitForTimers(1)
	fake.Advance(4900 * time.Millisecond)
	if _, m := cm(t, base, "Power1"); m["POWER"] != "OFF" {
		t.Fatal("on before Delay 50 ran out")
	}
	fake.Advance(100 * time.Millisecond)
	waitFor(t, "Power1 ON after the Delay", func() bool { return dev.On(0) })

	// The docs' warning: an empty Backlog during the Delay clears the queue
	// and the power stays off.
	cm(t, base, "Backlog Power1 OFF; Delay 600; Power1 ON")
	waitFor(t, "off", func() bool { return !dev.On(0) })
	if _, m := cm(t, base, "Backlog"); m["Backlog"] != "Aborted" {
		t.Fatalf("empty Backlog = %v", m)
	}
	fake.Advance(2 * time.Minute)
	if dev.On(0) || len(dev.Backlog()) != 0 {
		t.Fatalf("after clearing: on=%v queue=%q", dev.On(0), dev.Backlog())
	}
	if _, m := cm(t, base, "Backlog"); m["Backlog"] != "Empty" {
		t.Fatalf("empty Backlog on an empty queue = %v", m)
	}
	// Backlog0: no wait between commands.
	cm(t, base, "Backlog0 Power1 ON; Power1 OFF; Power1 ON")
	waitFor(t, "Backlog0 ran through", func() bool { return len(dev.Backlog()) == 0 && dev.On(0) })
}

func TestWebPassword(t *testing.T) {
	dev, base := start(t, tasmotasim.Options{Password: "joker"})
	code, m := cm(t, base, "Power OFF")
	if code != 401 || !strings.Contains(m["WARNING"].(string), "password") || !dev.On(0) {
		t.Fatalf("without password: %d %v", code, m)
	}
	if code, _ := cm(t, base, "Power OFF", "admin", "wrong"); code != 401 || !dev.On(0) {
		t.Fatalf("wrong password: %d", code)
	}
	if code, m := cm(t, base, "Power OFF", "admin", "joker"); code != 200 || m["POWER"] != "OFF" {
		t.Fatalf("right password: %d %v", code, m)
	}
	// As a POST form too.
	resp, err := hc.PostForm(base+"/cm", url.Values{"user": {"admin"}, "password": {"joker"}, "cmnd": {"Power ON"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !dev.On(0) {
		t.Fatal("POST form did not switch on")
	}
}

func TestRefuseAndRecover(t *testing.T) {
	dev, base := start(t, tasmotasim.Options{})
	cm(t, base, "Power")
	dev.SetFault(tasmotasim.Refuse)
	if _, err := hc.Get(base + "/cm?cmnd=Power"); err == nil {
		t.Fatal("answered while refusing")
	}
	dev.SetFault(tasmotasim.NoFault)
	waitFor(t, "listening again", func() bool {
		resp, err := hc.Get(base + "/cm?cmnd=Power")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	dev.RefuseMethod("Backlog")
	if _, m := cm(t, base, "Backlog Power OFF"); m["Command"] != "Unknown" || !dev.On(0) {
		t.Fatalf("refused Backlog = %v", m)
	}
}
