package shellysim_test

// These tests drive the simulator only through its published HTTP and
// WebSocket API, with plain requests as any other Shelly client would send.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/restartinator/restartinator/actuator/shelly/shellysim"
	"github.com/restartinator/restartinator/internal/clock"
)

func start(t *testing.T, opt shellysim.Options) (*shellysim.Device, string) {
	t.Helper()
	d, err := shellysim.New(opt)
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

// get returns status, headers and the decoded JSON body (nil if not JSON).
func do(t *testing.T, req *http.Request) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, resp.Header, m
}

func get(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	code, _, m := do(t, req)
	return code, m
}

func post(t *testing.T, url, body string, hdr http.Header) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header[k] = v
	}
	return do(t, req)
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

func at(m map[string]any, path ...any) any {
	var v any = m
	for _, p := range path {
		switch k := p.(type) {
		case string:
			mm, _ := v.(map[string]any)
			v = mm[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func TestGen1HTTPAPI(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	dev, base := start(t, shellysim.Options{Model: "shellyplugs", Clock: fake})

	code, m := get(t, base+"/shelly")
	if code != 200 || m["type"] != "SHPLG-S" || m["auth"] != false || m["num_outputs"] != 1.0 || m["num_meters"] != 1.0 {
		t.Fatalf("/shelly = %d %v", code, m)
	}
	// turn=off&timer=5: off now, on again after 5 s of device time.
	code, m = get(t, base+"/relay/0?turn=off&timer=5")
	if code != 200 || m["ison"] != false || m["has_timer"] != true || m["timer_duration"] != 5.0 || m["timer_remaining"] != 5.0 {
		t.Fatalf("/relay/0?turn=off&timer=5 = %d %v", code, m)
	}
	_, m = get(t, base+"/status")
	if at(m, "relays", 0, "ison") != false || at(m, "relays", 0, "has_timer") != true {
		t.Fatalf("/status relays = %v", m["relays"])
	}
	fake.Advance(4 * time.Second)
	if _, m = get(t, base+"/relay/0"); m["ison"] != false || m["timer_remaining"] != 1.0 {
		t.Fatalf("after 4s: %v", m)
	}
	fake.Advance(time.Second)
	waitFor(t, "relay back on by its timer", func() bool { _, m := get(t, base+"/relay/0"); return m["ison"] == true && m["has_timer"] == false })

	// The meter counts watt-minutes while on: 23.5 W for an hour = 1410.
	_, m = get(t, base+"/status")
	before := at(m, "meters", 0, "total").(float64)
	fake.Advance(time.Hour)
	_, m = get(t, base+"/status")
	if got := at(m, "meters", 0, "total").(float64) - before; got != 1410 || at(m, "meters", 0, "power") != 23.5 {
		t.Fatalf("meter after 1h on: +%v W·min, power %v", got, at(m, "meters", 0, "power"))
	}
	get(t, base+"/relay/0?turn=off")
	_, m = get(t, base+"/status")
	total := at(m, "meters", 0, "total")
	fake.Advance(time.Hour)
	if _, m = get(t, base+"/status"); at(m, "meters", 0, "total") != total || at(m, "meters", 0, "power") != 0.0 {
		t.Fatalf("meter counted while off: %v", m["meters"])
	}

	// Bad requests are 4xx and act on nothing.
	for _, path := range []string{"/relay/1?turn=on", "/relay/0?turn=sideways", "/relay/0?turn=on&timer=soon", "/nope"} {
		if code, _ := get(t, base+path); code < 400 || code > 499 {
			t.Errorf("%s = %d, want 4xx", path, code)
		}
	}
	if dev.On(0) {
		t.Fatal("a bad request switched the relay on")
	}
	// Names set on the device appear in /settings.
	get(t, base+"/settings/relay/0?name=router")
	if _, m = get(t, base+"/settings"); at(m, "relays", 0, "name") != "router" || at(m, "device", "type") != "SHPLG-S" {
		t.Fatalf("/settings = %v", m)
	}
}

func TestGen1BasicAuth(t *testing.T) {
	_, base := start(t, shellysim.Options{Model: "shelly25", Password: "pw"})
	if code, m := get(t, base+"/shelly"); code != 200 || m["auth"] != true {
		t.Fatalf("/shelly must stay open and say auth: %d %v", code, m)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/relay/1?turn=off", nil)
	code, hdr, _ := do(t, req)
	if code != 401 || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("unauthenticated: %d %q", code, hdr.Get("WWW-Authenticate"))
	}
	req.SetBasicAuth("admin", "wrong")
	if code, _, _ := do(t, req); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	req.SetBasicAuth("admin", "pw")
	if code, _, m := do(t, req); code != 200 || m["ison"] != false {
		t.Fatalf("right password: %d %v", code, m)
	}
}

// digestHeader answers a WWW-Authenticate: Digest challenge per RFC 7616.
func digestHeader(t *testing.T, challenge, pass, method, uri string) http.Header {
	t.Helper()
	p := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(challenge, "Digest "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		p[k] = strings.Trim(v, `"`)
	}
	if p["algorithm"] != "SHA-256" || p["qop"] != "auth" || p["realm"] == "" {
		t.Fatalf("challenge %q", challenge)
	}
	h := func(s string) string { x := sha256.Sum256([]byte(s)); return hex.EncodeToString(x[:]) }
	resp := h(strings.Join([]string{h("admin:" + p["realm"] + ":" + pass), p["nonce"], "00000001", "c0ffee", "auth", h(method + ":" + uri)}, ":"))
	return http.Header{"Authorization": {fmt.Sprintf(`Digest username="admin", realm="%s", nonce="%s", uri="%s", algorithm=SHA-256, response="%s", qop=auth, nc=00000001, cnonce="c0ffee"`,
		p["realm"], p["nonce"], uri, resp)}}
}

func TestGen2HTTPRPC(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	dev, base := start(t, shellysim.Options{Model: "shellypro4pm", Clock: fake})

	_, info := get(t, base+"/rpc/Shelly.GetDeviceInfo")
	if info["model"] != "SPSW-104PE16EU" || info["gen"] != 2.0 || info["auth_en"] != false || info["id"] != dev.ID() {
		t.Fatalf("Shelly.GetDeviceInfo = %v", info)
	}
	if _, s := get(t, base+"/shelly"); s["id"] != dev.ID() {
		t.Fatalf("/shelly = %v", s)
	}
	// GET form, the flip-back: off now, back on after toggle_after.
	code, m := get(t, base+"/rpc/Switch.Set?id=2&on=false&toggle_after=3")
	if code != 200 || m["was_on"] != true {
		t.Fatalf("Switch.Set = %d %v", code, m)
	}
	_, m = get(t, base+"/rpc/Switch.GetStatus?id=2")
	if m["output"] != false || m["timer_duration"] != 3.0 || m["timer_started_at"] == nil || m["apower"] != 0.0 {
		t.Fatalf("Switch.GetStatus = %v", m)
	}
	fake.Advance(3 * time.Second)
	waitFor(t, "switch:2 back on", func() bool { _, m := get(t, base+"/rpc/Switch.GetStatus?id=2"); return m["output"] == true })
	for i := range 4 {
		if dev.On(i) != true {
			t.Fatalf("switch %d off; only switch 2 was cycled", i)
		}
	}
	// POST form: a JSON-RPC frame in, a frame out.
	_, _, f := post(t, base+"/rpc", `{"id":7,"src":"tester","method":"Shelly.GetStatus"}`, nil)
	if f["id"] != 7.0 || f["src"] != dev.ID() || f["dst"] != "tester" || at(f, "result", "switch:3", "aenergy", "total") == nil {
		t.Fatalf("POST /rpc Shelly.GetStatus = %v", f)
	}
	_, _, f = post(t, base+"/rpc", `{"id":8,"src":"tester","method":"Switch.SetConfig","params":{"id":1,"config":{"name":"nas"}}}`, nil)
	if _, m = get(t, base+"/rpc/Switch.GetConfig?id=1"); m["name"] != "nas" {
		t.Fatalf("Switch.GetConfig after SetConfig = %v (%v)", m, f)
	}
	// Errors as the Common Errors page lists them, acting on nothing.
	for _, tc := range []struct {
		path string
		http int
		code float64
	}{
		{"/rpc/Switch.GetStatus", 400, -103},
		{"/rpc/Switch.Set?id=9&on=false", 500, -105},
		{"/rpc/Switch.Set?id=0&on=maybe", 400, -103},
		{"/rpc/Switch.Set?id=0", 400, -103},
		{"/rpc/No.Such", 404, 404},
	} {
		code, m := get(t, base+tc.path)
		if code != tc.http || m["code"] != tc.code || m["message"] == "" {
			t.Errorf("%s = %d %v, want HTTP %d code %v", tc.path, code, m, tc.http, tc.code)
		}
	}
	_, _, f = post(t, base+"/rpc", `{"id":9,"src":"t","method":"Switch.Set","params":{"id":0}}`, nil)
	if at(f, "error", "code") != -103.0 || !dev.On(0) {
		t.Fatalf("Switch.Set without on: %v", f)
	}
	dev.RefuseMethod("Switch.Set")
	if code, m := get(t, base+"/rpc/Switch.Set?id=0&on=false"); code != 404 || !dev.On(0) || m["message"] != "No handler for Switch.Set" {
		t.Fatalf("refused method: %d %v", code, m)
	}
}

func TestGen2DigestAuth(t *testing.T) {
	dev, base := start(t, shellysim.Options{Model: "shellyplusplugs", Password: "pw"})
	if _, m := get(t, base+"/rpc/Shelly.GetDeviceInfo"); m["auth_en"] != true || m["auth_domain"] != dev.ID() {
		t.Fatalf("GetDeviceInfo stays open and says auth: %v", m)
	}
	body := `{"id":1,"src":"t","method":"Switch.Set","params":{"id":0,"on":false}}`
	code, hdr, f := post(t, base+"/rpc", body, nil)
	ch := hdr.Get("WWW-Authenticate")
	if code != 401 || !strings.Contains(ch, `realm="`+dev.ID()+`"`) || at(f, "error", "code") != 401.0 {
		t.Fatalf("unauthenticated: %d %q %v", code, ch, f)
	}
	var msg map[string]any
	json.Unmarshal([]byte(at(f, "error", "message").(string)), &msg)
	if msg["auth_type"] != "digest" || msg["realm"] != dev.ID() || msg["algorithm"] != "SHA-256" {
		t.Fatalf("401 message = %v", msg)
	}
	if !dev.On(0) {
		t.Fatal("an unauthenticated request switched the relay")
	}
	if code, _, _ := post(t, base+"/rpc", body, digestHeader(t, ch, "wrong", "POST", "/rpc")); code != 401 || !dev.On(0) {
		t.Fatalf("wrong password: %d", code)
	}
	if code, _, f := post(t, base+"/rpc", body, digestHeader(t, ch, "pw", "POST", "/rpc")); code != 200 || at(f, "result", "was_on") != true || dev.On(0) {
		t.Fatalf("right password: %d %v", code, f)
	}
	// GET /rpc/… signs its own URI.
	req, _ := http.NewRequest(http.MethodGet, base+"/rpc/Switch.GetStatus?id=0", nil)
	_, hdr, _ = do(t, req)
	req.Header = digestHeader(t, hdr.Get("WWW-Authenticate"), "pw", "GET", "/rpc/Switch.GetStatus?id=0")
	if code, _, m := do(t, req); code != 200 || m["output"] != false {
		t.Fatalf("GET with digest: %d %v", code, m)
	}
}

// wsCall sends one frame on a WebSocket and reads the answer.
func wsCall(t *testing.T, c *websocket.Conn, frame map[string]any) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, _ := json.Marshal(frame)
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	_, r, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(r, &m); err != nil {
		t.Fatalf("frame %q: %v", r, err)
	}
	return m
}

func TestGen2WebSocket(t *testing.T) {
	for _, pass := range []string{"", "pw"} {
		t.Run("password="+pass, func(t *testing.T) {
			dev, base := start(t, shellysim.Options{Model: "shellyplus1", Password: pass})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/rpc", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			f := wsCall(t, c, map[string]any{"id": 1, "src": "ws-tester", "method": "Shelly.GetDeviceInfo"})
			if at(f, "result", "model") != "SNSW-001X16EU" || f["dst"] != "ws-tester" {
				t.Fatalf("GetDeviceInfo over WS: %v", f)
			}
			set := map[string]any{"id": 2, "src": "ws-tester", "method": "Switch.Set", "params": map[string]any{"id": 0, "on": false}}
			if pass != "" {
				f = wsCall(t, c, set)
				if at(f, "error", "code") != 401.0 || !dev.On(0) {
					t.Fatalf("unauthenticated frame: %v", f)
				}
				var ch struct {
					Nonce int64  `json:"nonce"`
					NC    int    `json:"nc"`
					Realm string `json:"realm"`
				}
				json.Unmarshal([]byte(at(f, "error", "message").(string)), &ch)
				h := func(s string) string { x := sha256.Sum256([]byte(s)); return hex.EncodeToString(x[:]) }
				nonce := fmt.Sprint(ch.Nonce)
				set["auth"] = map[string]any{"realm": ch.Realm, "username": "admin", "nonce": ch.Nonce, "cnonce": 313, "algorithm": "SHA-256",
					"response": h(strings.Join([]string{h("admin:" + ch.Realm + ":" + pass), nonce, fmt.Sprint(ch.NC), "313", "auth", h("dummy_method:dummy_uri")}, ":"))}
			}
			f = wsCall(t, c, set)
			if at(f, "result", "was_on") != true || dev.On(0) {
				t.Fatalf("Switch.Set over WS: %v", f)
			}
			get := map[string]any{"id": 3, "src": "ws-tester", "method": "Switch.GetStatus", "params": map[string]any{"id": 0}}
			get["auth"] = set["auth"]
			if f = wsCall(t, c, get); at(f, "result", "output") != false || at(f, "result", "source") != "WS_in" {
				t.Fatalf("Switch.GetStatus over WS: %v", f)
			}
		})
	}
}

func TestFaultRefuseAndRecover(t *testing.T) {
	dev, base := start(t, shellysim.Options{Model: "shelly1"})
	if code, _ := get(t, base+"/shelly"); code != 200 {
		t.Fatal(code)
	}
	dev.SetFault(shellysim.Refuse)
	if _, err := hc.Get(base + "/shelly"); err == nil {
		t.Fatal("answered while refusing")
	}
	dev.SetFault(shellysim.NoFault)
	waitFor(t, "listening again", func() bool {
		resp, err := hc.Get(base + "/shelly")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
}

func TestNewRejects(t *testing.T) {
	for _, opt := range []shellysim.Options{{Model: "shelly99"}, {Model: "shelly1", Outlets: -1}, {Model: "shellyplus1", Username: "bob", Password: "x"}} {
		if _, err := shellysim.New(opt); err == nil {
			t.Errorf("New(%+v) accepted", opt)
		}
	}
}
