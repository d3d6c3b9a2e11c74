package shellysim

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Gen2+ RPC: https://shelly-api-docs.shelly.cloud/gen2/ (RPC Protocol,
// RPC over HTTP, Authentication, Common Errors, Switch component).

// Error codes from the Common Errors page.
const (
	codeInvalidArgument = -103
	codeNotFound        = -105
	codeUnauthorized    = 401
	codeNoHandler       = 404
)

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// request is a JSON-RPC request frame.
type request struct {
	ID     json.RawMessage            `json:"id"`
	Src    string                     `json:"src"`
	Method string                     `json:"method"`
	Params map[string]json.RawMessage `json:"params"`
	Auth   *frameAuth                 `json:"auth"`
}

// frameAuth is the "auth" object a client puts in a frame (WebSocket, or
// POST /rpc) in answer to a challenge.
type frameAuth struct {
	Realm     string          `json:"realm"`
	Username  string          `json:"username"`
	Nonce     json.RawMessage `json:"nonce"`
	CNonce    json.RawMessage `json:"cnonce"`
	Response  string          `json:"response"`
	Algorithm string          `json:"algorithm"`
	NC        json.RawMessage `json:"nc"`
}

func (d *Device) gen2Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /shelly", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, d.deviceInfo())
	})
	mux.HandleFunc("GET /rpc/{method}", d.rpcGET)
	mux.HandleFunc("POST /rpc", d.rpcPOST)
	mux.HandleFunc("GET /rpc", d.rpcWS)
}

func (d *Device) deviceInfo() map[string]any {
	var domain any
	if d.opt.Password != "" {
		domain = d.id
	}
	return map[string]any{
		"name": d.m.name, "id": d.id, "mac": d.mac, "slot": 1, "model": d.m.model, "gen": d.m.gen,
		"fw_id": d.m.fw, "ver": d.m.ver, "app": d.m.app, "auth_en": d.opt.Password != "", "auth_domain": domain,
	}
}

// --- digest authentication ---

// newNonce issues a challenge nonce, valid for an hour of device time.
func (d *Device) newNonce() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	for n, t := range d.nonces {
		if now.Sub(t) > time.Hour {
			delete(d.nonces, n)
		}
	}
	n := strconv.FormatInt(now.Unix()+int64(len(d.nonces))+int64(d.srv.Requests()), 10)
	for d.nonces[n] != (time.Time{}) {
		n += "1"
	}
	d.nonces[n] = now
	return n
}

func (d *Device) nonceValid(n string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.nonces[n]
	return ok && d.clock.Now().Sub(t) <= time.Hour
}

func hexSHA256(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func (d *Device) ha1() string { return hexSHA256("admin:" + d.id + ":" + d.opt.Password) }

// challengeMessage is the 401 error message: the challenge as a JSON
// string, as recorded in fixtures/shelly/gen2-plus-2pm-rpc-401-auth-failure.json.
func (d *Device) challengeMessage(nonce string) string {
	return fmt.Sprintf(`{"auth_type": "digest", "nonce": %s, "nc": 1, "realm": %q, "algorithm": "SHA-256"}`, nonce, d.id)
}

func (d *Device) challengeHeader(w http.ResponseWriter, nonce string) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Digest qop="auth", realm=%q, nonce=%q, algorithm=SHA-256`, d.id, nonce))
}

// httpAuthorized checks an RFC 7616 Authorization: Digest header.
func (d *Device) httpAuthorized(r *http.Request) bool {
	scheme, rest, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Digest") {
		return false
	}
	p := authParams(rest)
	if p["username"] != "admin" || p["realm"] != d.id || !strings.EqualFold(p["algorithm"], "SHA-256") ||
		p["qop"] != "auth" || p["uri"] != r.URL.RequestURI() || !d.nonceValid(p["nonce"]) {
		return false
	}
	want := hexSHA256(strings.Join([]string{d.ha1(), p["nonce"], p["nc"], p["cnonce"], "auth", hexSHA256(r.Method + ":" + p["uri"])}, ":"))
	return subtle.ConstantTimeCompare([]byte(want), []byte(p["response"])) == 1
}

// frameAuthorized checks a frame's auth object: HA2 is over the fixed
// "dummy_method:dummy_uri", nc defaults to 1.
func (d *Device) frameAuthorized(a *frameAuth) bool {
	if a == nil || a.Username != "admin" || a.Realm != d.id || !strings.EqualFold(a.Algorithm, "SHA-256") {
		return false
	}
	nonce, cnonce, nc := rawString(a.Nonce), rawString(a.CNonce), rawString(a.NC)
	if nc == "" {
		nc = "1"
	}
	if !d.nonceValid(nonce) {
		return false
	}
	want := hexSHA256(strings.Join([]string{d.ha1(), nonce, nc, cnonce, "auth", hexSHA256("dummy_method:dummy_uri")}, ":"))
	return subtle.ConstantTimeCompare([]byte(want), []byte(a.Response)) == 1
}

// rawString is a JSON string's content or a number's text.
func rawString(r json.RawMessage) string {
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(r))
}

func authParams(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		s = strings.TrimLeft(s, " ,\t")
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				v, s = rest[1:], ""
			} else {
				v, s = rest[1:1+end], rest[2+end:]
			}
		} else {
			v, s, _ = strings.Cut(rest, ",")
			v = strings.TrimSpace(v)
		}
		out[k] = v
	}
	return out
}

// --- transports ---

// rpcGET is GET /rpc/Method?k=v: values are JSON where they parse, else
// strings; the answer is the bare result, or {code, message} with an HTTP
// error status.
func (d *Device) rpcGET(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	params := map[string]json.RawMessage{}
	for k, vs := range r.URL.Query() {
		v := vs[len(vs)-1]
		if json.Valid([]byte(v)) {
			params[k] = json.RawMessage(v)
		} else {
			b, _ := json.Marshal(v)
			params[k] = b
		}
	}
	if d.needsAuth(method) && !d.httpAuthorized(r) {
		n := d.newNonce()
		d.challengeHeader(w, n)
		writeJSON(w, http.StatusUnauthorized, rpcError{Code: codeUnauthorized, Message: d.challengeMessage(n)})
		return
	}
	res, rerr := d.call(method, params, "http")
	if rerr != nil {
		status := http.StatusInternalServerError
		switch rerr.Code {
		case codeNoHandler:
			status = http.StatusNotFound
		case codeInvalidArgument:
			status = http.StatusBadRequest
		}
		writeJSON(w, status, rerr)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// rpcPOST is POST /rpc with one request frame; credentials come in an
// Authorization header or in the frame's auth object.
func (d *Device) rpcPOST(w http.ResponseWriter, r *http.Request) {
	var req request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil || req.Method == "" {
		if d.opt.Password != "" && !d.httpAuthorized(r) {
			// Without credentials the challenge comes first: HTTP digest
			// clients (curl --digest) send the body only once challenged.
			n := d.newNonce()
			d.challengeHeader(w, n)
			writeJSON(w, http.StatusUnauthorized, d.response(req, nil, &rpcError{Code: codeUnauthorized, Message: d.challengeMessage(n)}))
			return
		}
		writeJSON(w, http.StatusBadRequest, rpcError{Code: codeInvalidArgument, Message: "Invalid request frame"})
		return
	}
	if d.needsAuth(req.Method) && !d.httpAuthorized(r) && !d.frameAuthorized(req.Auth) {
		n := d.newNonce()
		d.challengeHeader(w, n)
		writeJSON(w, http.StatusUnauthorized, d.response(req, nil, &rpcError{Code: codeUnauthorized, Message: d.challengeMessage(n)}))
		return
	}
	res, rerr := d.call(req.Method, req.Params, "http")
	writeJSON(w, http.StatusOK, d.response(req, res, rerr))
}

func (d *Device) response(req request, res any, rerr *rpcError) map[string]any {
	id := any(req.ID)
	if len(req.ID) == 0 {
		id = nil
	}
	f := map[string]any{"id": id, "src": d.id}
	if req.Src != "" {
		f["dst"] = req.Src
	}
	if rerr != nil {
		f["error"] = rerr
	} else {
		f["result"] = res
	}
	return f
}

// rpcWS serves the same RPC over a WebSocket at /rpc: one frame in, one
// frame out; the auth object is needed in every frame once auth is on.
func (d *Device) rpcWS(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "WebSocket upgrade required (or POST a request frame)", http.StatusBadRequest)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer d.trackConn(c)()
	defer func() { _ = c.CloseNow() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.done:
			_ = c.CloseNow()
		case <-ctx.Done():
		}
	}()
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		ok, ch := d.srv.Admit()
		if !ok {
			select {
			case <-ch:
			case <-d.done:
			}
			return
		}
		var req request
		if json.Unmarshal(msg, &req) != nil || req.Method == "" {
			if c.Write(ctx, websocket.MessageText, mustJSON(d.response(req, nil, &rpcError{Code: codeInvalidArgument, Message: "Invalid request frame"}))) != nil {
				return
			}
			continue
		}
		var out map[string]any
		if d.needsAuth(req.Method) && !d.frameAuthorized(req.Auth) {
			out = d.response(req, nil, &rpcError{Code: codeUnauthorized, Message: d.challengeMessage(d.newNonce())})
		} else {
			res, rerr := d.call(req.Method, req.Params, "WS_in")
			out = d.response(req, res, rerr)
		}
		if c.Write(ctx, websocket.MessageText, mustJSON(out)) != nil {
			return
		}
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// needsAuth: with auth on, everything but Shelly.GetDeviceInfo is protected.
func (d *Device) needsAuth(method string) bool {
	return d.opt.Password != "" && method != "Shelly.GetDeviceInfo"
}

// --- methods ---

type method func(d *Device, p map[string]json.RawMessage, source string) (any, *rpcError)

var methods = map[string]method{
	"Shelly.GetDeviceInfo": func(d *Device, _ map[string]json.RawMessage, _ string) (any, *rpcError) { return d.deviceInfo(), nil },
	"Shelly.GetStatus":     (*Device).shellyGetStatus,
	"Shelly.GetConfig":     (*Device).shellyGetConfig,
	"Switch.GetStatus":     (*Device).switchGetStatus,
	"Switch.GetConfig":     (*Device).switchGetConfig,
	"Switch.SetConfig":     (*Device).switchSetConfig,
	"Switch.Set":           (*Device).switchSet,
	"Switch.Toggle":        (*Device).switchToggle,
}

func (d *Device) call(name string, p map[string]json.RawMessage, source string) (any, *rpcError) {
	m, ok := methods[name]
	if !ok || d.refused(name) {
		return nil, &rpcError{Code: codeNoHandler, Message: "No handler for " + name}
	}
	return m(d, p, source)
}

// switchID reads the required id; d.mu is held.
func (d *Device) switchIDLocked(p map[string]json.RawMessage) (int, *rpcError) {
	raw, ok := p["id"]
	if !ok {
		return 0, &rpcError{Code: codeInvalidArgument, Message: "Missing required 'id'"}
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil || f != math.Trunc(f) {
		return 0, &rpcError{Code: codeInvalidArgument, Message: "Invalid argument 'id'"}
	}
	if f < 0 || int(f) >= len(d.relays) {
		return 0, &rpcError{Code: codeNotFound, Message: fmt.Sprintf("Bad id=%v", f)}
	}
	return int(f), nil
}

func (d *Device) switchStatusLocked(i int, now time.Time) map[string]any {
	r := d.relays[i]
	r.tally(now, d.m.metered)
	s := map[string]any{"id": i, "source": r.source, "output": r.on}
	if r.timer != nil {
		s["timer_started_at"] = float64(r.started.UnixMilli()) / 1000
		s["timer_duration"] = r.dur
	}
	if d.m.metered {
		minute := now.Truncate(time.Minute).Unix()
		s["apower"] = r.watts(true)
		s["voltage"] = mainsVolt
		s["freq"] = 50
		s["current"] = math.Round(r.watts(true)/mainsVolt*1000) / 1000
		s["aenergy"] = map[string]any{"total": math.Round(r.wh*1000) / 1000, "by_minute": []float64{0, 0, 0}, "minute_ts": minute}
	}
	s["temperature"] = map[string]any{"tC": 41.2, "tF": 106.2}
	return s
}

func (d *Device) switchConfigLocked(i int) map[string]any {
	var name any
	if n := d.relays[i].name; n != "" {
		name = n
	}
	return map[string]any{"id": i, "name": name, "initial_state": "restore_last", "auto_on": false, "auto_on_delay": 60.0, "auto_off": false, "auto_off_delay": 60.0}
}

func (d *Device) shellyGetStatus(_ map[string]json.RawMessage, _ string) (any, *rpcError) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	out := map[string]any{
		"sys":  map[string]any{"mac": d.mac, "restart_required": false, "time": now.Format("15:04"), "unixtime": now.Unix(), "uptime": int64(now.Sub(d.boot).Seconds())},
		"wifi": map[string]any{"sta_ip": "127.0.0.1", "status": "got ip", "ssid": "simulated", "rssi": -52},
	}
	for i := range d.relays {
		out["switch:"+strconv.Itoa(i)] = d.switchStatusLocked(i, now)
	}
	return out, nil
}

func (d *Device) shellyGetConfig(_ map[string]json.RawMessage, _ string) (any, *rpcError) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]any{"sys": map[string]any{"device": map[string]any{"name": d.m.name, "mac": d.mac, "fw_id": d.m.fw, "discoverable": true}}}
	for i := range d.relays {
		out["switch:"+strconv.Itoa(i)] = d.switchConfigLocked(i)
	}
	return out, nil
}

func (d *Device) switchGetStatus(p map[string]json.RawMessage, _ string) (any, *rpcError) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, err := d.switchIDLocked(p)
	if err != nil {
		return nil, err
	}
	return d.switchStatusLocked(i, d.clock.Now()), nil
}

func (d *Device) switchGetConfig(p map[string]json.RawMessage, _ string) (any, *rpcError) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, err := d.switchIDLocked(p)
	if err != nil {
		return nil, err
	}
	return d.switchConfigLocked(i), nil
}

// switchSetConfig takes {id, config: {name}}; other config keys are kept
// as they are.
func (d *Device) switchSetConfig(p map[string]json.RawMessage, _ string) (any, *rpcError) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, err := d.switchIDLocked(p)
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Name *string `json:"name"`
	}
	if raw, ok := p["config"]; !ok || json.Unmarshal(raw, &cfg) != nil {
		return nil, &rpcError{Code: codeInvalidArgument, Message: "Missing required 'config'"}
	}
	if cfg.Name != nil {
		d.relays[i].name = *cfg.Name
	}
	return map[string]any{"restart_required": false}, nil
}

// switchSet is Switch.Set {id, on, toggle_after}: toggle_after (seconds)
// flips the output back after that long — the device-side flip-back.
func (d *Device) switchSet(p map[string]json.RawMessage, source string) (any, *rpcError) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, err := d.switchIDLocked(p)
	if err != nil {
		return nil, err
	}
	raw, ok := p["on"]
	if !ok {
		return nil, &rpcError{Code: codeInvalidArgument, Message: "Missing required 'on'"}
	}
	var on bool
	if json.Unmarshal(raw, &on) != nil {
		return nil, &rpcError{Code: codeInvalidArgument, Message: "Invalid argument 'on'"}
	}
	var after float64
	if raw, ok := p["toggle_after"]; ok {
		if json.Unmarshal(raw, &after) != nil || after <= 0 || math.IsInf(after, 0) {
			return nil, &rpcError{Code: codeInvalidArgument, Message: "Invalid argument 'toggle_after'"}
		}
	}
	return map[string]any{"was_on": d.switchLocked(i, on, after, source)}, nil
}

func (d *Device) switchToggle(p map[string]json.RawMessage, source string) (any, *rpcError) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, err := d.switchIDLocked(p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"was_on": d.switchLocked(i, !d.relays[i].on, 0, source)}, nil
}
