package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func postBody(t *testing.T, url, token, body string, headers ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Pause and resume over HTTP: the token and cross-site rules of the
// manual cycle, 4xx for bad requests that change nothing, and the pause
// outlives a restart (a new service on the same state file).
func TestPauseResumeOverHTTP(t *testing.T) {
	cfg := fmt.Sprintf(`
global: {state_file: %s, max_pause: 2h}
plugs: [{name: p, host: 127.0.0.1, port: 9999}]
devices:
  - {name: cam, host: 127.0.0.1, port: 80, plug: p}
webhook:
  bearer_token: hook-secret-zz
`, filepath.Join(t.TempDir(), "state.json"))
	cfgPath := filepath.Join(t.TempDir(), "r.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, addr, _ := startBinary(t, "--config.file", cfgPath)
	srv := struct{ URL string }{"http://" + addr}
	pause := srv.URL + "/api/v1/devices/cam/pause"
	device := func(url string) map[string]any {
		t.Helper()
		_, body := get(t, url+"/api/v1/devices")
		var r struct{ Devices []map[string]any }
		if err := json.Unmarshal([]byte(body), &r); err != nil || len(r.Devices) != 1 {
			t.Fatalf("devices: %v %s", err, body)
		}
		return r.Devices[0]
	}
	for _, tc := range []struct {
		name, url, token, body string
		headers                []string
		code                   int
		want                   string
	}{
		{"no token", pause, "", `{"for":"1h"}`, nil, http.StatusUnauthorized, ""},
		{"wrong token", pause, "nope", `{"for":"1h"}`, nil, http.StatusUnauthorized, ""},
		{"cross-site", pause, "hook-secret-zz", `{"for":"1h"}`, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden, ""},
		{"no for", pause, "hook-secret-zz", `{"reason":"x"}`, nil, http.StatusBadRequest, `\"for\" is required`},
		{"bad for", pause, "hook-secret-zz", `{"for":"soon"}`, nil, http.StatusBadRequest, `must be a positive duration`},
		{"unknown key", pause, "hook-secret-zz", `{"for":"1h","until":"x"}`, nil, http.StatusBadRequest, `unknown field`},
		{"over max_pause", pause, "hook-secret-zz", `{"for":"3h"}`, nil, http.StatusBadRequest, `longer than global.max_pause (2h0m0s)`},
		{"unknown device", srv.URL + "/api/v1/devices/ghost/pause", "hook-secret-zz", `{"for":"1h"}`, nil, http.StatusNotFound, "unknown device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := postBody(t, tc.url, tc.token, tc.body, tc.headers...)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s, want %d with %q", code, body, tc.code, tc.want)
			}
			if d := device(srv.URL); d["paused"] != false {
				t.Errorf("a refused request paused the device: %v", d)
			}
		})
	}
	code, body := postBody(t, pause, "hook-secret-zz", `{"for":"1h","reason":"disk swap"}`)
	if code != http.StatusOK || !strings.Contains(body, `"status": "paused"`) {
		t.Fatalf("pause: %d %s", code, body)
	}
	if d := device(srv.URL); d["state"] != "paused" || d["paused"] != true || d["pause_reason"] != "disk swap" {
		t.Fatalf("after the pause: %v", d)
	}
	_, metrics := get(t, srv.URL+"/metrics")
	if !strings.Contains(metrics, `restartinator_device_paused{device="cam"} 1`) {
		t.Errorf("no restartinator_device_paused 1 in /metrics")
	}

	// A restart: the pause is read back from the state file.
	cmd.Process.Kill()
	cmd.Wait()
	_, addr2, _ := startBinary(t, "--config.file", cfgPath)
	srv2 := struct{ URL string }{"http://" + addr2}
	if d := device(srv2.URL); d["state"] != "paused" || d["pause_reason"] != "disk swap" {
		t.Fatalf("after a restart: %v", d)
	}
	if code, body := postBody(t, srv2.URL+"/api/v1/devices/cam/resume", "", ""); code != http.StatusUnauthorized {
		t.Errorf("resume without a token: %d %s", code, body)
	}
	if code, body := postBody(t, srv2.URL+"/api/v1/devices/cam/resume", "hook-secret-zz", ""); code != http.StatusOK {
		t.Fatalf("resume: %d %s", code, body)
	}
	if d := device(srv2.URL); d["paused"] != false || d["state"] == "paused" {
		t.Errorf("after resume: %v", d)
	}
}

func FuzzParsePauseRequest(f *testing.F) {
	for _, s := range []string{`{"for":"1h","reason":"disk swap"}`, `{"for":"90m"}`, `{"for":"1d"}`, `{"for":""}`, `{}`, `[]`, `{"for":"1h"}{}`, `{"for":"-1h"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		d, reason, err := parsePauseRequest(strings.NewReader(body))
		if err == nil && (d <= 0 || len([]rune(reason)) > maxPauseReason) {
			t.Fatalf("accepted %q as %s %q", body, d, reason)
		}
	})
}

// A manual cycle of a device whose parent is down goes ahead (a person
// decided), and the answer says the parent is down. The real binary, its
// plug simulated by a second restartinator process.
func TestManualCycleSaysParentIsDown(t *testing.T) {
	r := newCycleRig(t)
	closed := closedPort(t)
	cfg, err := os.ReadFile(r.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	// The camera now depends on a modem that does not answer.
	s := strings.Replace(string(cfg), "mode: alert,", "mode: alert, depends_on: [modem], check_interval: 1s, retry_interval: 1s,", 1)
	s = strings.Replace(s, "devices:\n", fmt.Sprintf("devices:\n  - {name: modem, host: 127.0.0.1, port: %d, mode: monitor, check_interval: 1s, retry_interval: 1s}\n", closed), 1)
	if err := os.WriteFile(r.cfgPath, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	_, addr, logs := startBinary(t, "--config.file", r.cfgPath)
	waitFor(t, "the modem to be seen down", func() bool {
		_, body := get(t, "http://"+addr+"/api/v1/devices")
		return strings.Contains(body, `"parents_down": [`) || strings.Contains(body, `"state": "failing"`) && strings.Contains(body, `"name": "modem"`)
	})
	code, body := post(t, "http://"+addr+"/api/v1/devices/cam/cycle", "")
	if code != http.StatusAccepted || !strings.Contains(body, `"parents_down": [`) || !strings.Contains(body, "the devices it depends on are down (modem)") {
		t.Fatalf("manual cycle with the parent down: %d %s\n%s", code, body, logs.String())
	}
	waitFor(t, "the outlet to go off", func() bool { return !r.relayOn(t) })
}

// While paused, an alert does not cycle the device: the webhook answers
// 200 with the reason (Alertmanager must not retry for ever) and the
// outlet stays on; a person's Cycle now still goes ahead.
func TestWebhookLeavesPausedDeviceAlone(t *testing.T) {
	r := newCycleRig(t)
	_, addr, logs := startBinary(t, "--config.file", r.cfgPath)
	if code, body := postBody(t, "http://"+addr+"/api/v1/devices/cam/pause", "", `{"for":"1h","reason":"disk swap"}`); code != http.StatusOK {
		t.Fatalf("pause: %d %s", code, body)
	}
	alert := `{"version":"4","status":"firing","receiver":"r","groupKey":"g","alerts":[{"status":"firing","labels":{"alertname":"RestartinatorDeviceDown","device":"cam"},"startsAt":"2026-03-01T12:00:00Z","fingerprint":"00000000000000b2"}]}`
	code, body := postBody(t, "http://"+addr+"/webhook", "", alert, "Content-Type", "application/json")
	if code != http.StatusOK || !strings.Contains(body, "paused") {
		t.Fatalf("webhook for a paused device: %d %s, want 200 saying it is paused\n%s", code, body, logs.String())
	}
	if !r.relayOn(t) {
		t.Fatalf("an alert switched a paused device's outlet off")
	}
	r.startCycle(t, addr) // Cycle now: still goes ahead
}
