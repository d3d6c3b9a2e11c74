package kasasim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/restartinator/restartinator/actuator/kasa/internal/wire"
	"github.com/restartinator/restartinator/internal/simserve"
)

// newTCP builds the TCP side of the plug for its protocol: KLAP or AES
// over HTTP, or XOR frames on raw connections.
func (p *Plug) newTCP() *simserve.Server {
	opt := simserve.Options{Name: "kasa simulator", Wrap: func(ln net.Listener) net.Listener { return httpOnly{ln} }}
	mux := http.NewServeMux()
	switch p.protocol {
	case "aes":
		mux.HandleFunc("POST /app", p.aesApp)
		opt.HTTP = mux
	case "klap":
		mux.HandleFunc("POST /app/handshake1", p.handshake1)
		mux.HandleFunc("POST /app/handshake2", p.handshake2)
		mux.HandleFunc("POST /app/request", p.klapRequest)
		opt.HTTP = mux
	default:
		opt.Conn, opt.Wrap = p.serveXOR, nil
	}
	return simserve.New(opt)
}

// serveXOR answers XOR frames on c until it closes.
func (p *Plug) serveXOR(c net.Conn) {
	for {
		req, err := wire.ReadFrame(c)
		if err != nil {
			return
		}
		answer, wait := p.tcp.Admit()
		if !answer {
			// Swallow the request; the connection dies with the fault.
			select {
			case <-wait:
			case <-p.dev.done:
			}
			return
		}
		// Header and payload in one write, as devices do.
		if _, err := c.Write(wire.AppendFrame(nil, p.handle(req))); err != nil {
			return
		}
		if p.opt.CloseAfterResponse {
			return
		}
	}
}

type klapSession struct {
	local, remote []byte
	sess          *wire.Session // nil until handshake2
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// stall holds a request while the plug hangs or is unreachable, then drops
// the connection without an answer. It reports whether it did.
func (p *Plug) stall(w http.ResponseWriter, r *http.Request) bool {
	switch f, ch := p.tcp.Watch(); f {
	case Hang, Unreachable:
		select {
		case <-ch:
		case <-r.Context().Done():
		case <-p.dev.done:
		}
	default:
		return false
	}
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
		}
	}
	return true
}

func (p *Plug) session(r *http.Request) *klapSession {
	c, err := r.Cookie("TP_SESSIONID")
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sessions[c.Value]
}

func (p *Plug) handshake1(w http.ResponseWriter, r *http.Request) {
	if p.stall(w, r) {
		return
	}
	local, err := io.ReadAll(io.LimitReader(r.Body, 64))
	if err != nil || len(local) != 16 {
		http.Error(w, "bad seed", http.StatusBadRequest)
		return
	}
	remote := randomBytes(16)
	id := strings.ToUpper(hex.EncodeToString(randomBytes(16)))
	p.mu.Lock()
	p.sessions[id] = &klapSession{local: local, remote: remote}
	p.mu.Unlock()
	w.Header().Add("Set-Cookie", "TP_SESSIONID="+id+";TIMEOUT=86400")
	w.Write(append(remote, wire.Handshake1Hash(p.klapVer, local, remote, p.authHash)...))
}

func (p *Plug) handshake2(w http.ResponseWriter, r *http.Request) {
	if p.stall(w, r) {
		return
	}
	s := p.session(r)
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64))
	if s == nil {
		http.Error(w, "no session", http.StatusForbidden)
		return
	}
	if string(body) != string(wire.Handshake2Hash(p.klapVer, s.local, s.remote, p.authHash)) {
		http.Error(w, "bad hash", http.StatusUnauthorized)
		return
	}
	p.mu.Lock()
	s.sess = wire.NewSession(s.local, s.remote, p.authHash)
	p.handshakes++
	p.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (p *Plug) klapRequest(w http.ResponseWriter, r *http.Request) {
	if f := p.tcp.Fault(); f == Hang || f == Unreachable {
		// Counted before it stalls: the client may give up first.
		p.tcp.Admit()
		p.stall(w, r)
		return
	}
	s := p.session(r)
	if s == nil || s.sess == nil {
		http.Error(w, "unknown session", http.StatusForbidden)
		return
	}
	seq, err := strconv.ParseInt(r.URL.Query().Get("seq"), 10, 32)
	if err != nil {
		http.Error(w, "bad seq", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, wire.MaxFrame))
	req, err := s.sess.Open(int32(seq), body, true)
	if err != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	answer, _ := p.tcp.Admit()
	if !answer {
		p.stall(w, r)
		return
	}
	w.Write(s.sess.Seal(int32(seq), p.handle(req)))
}

// serveUDP answers discovery: XOR get_sysinfo on legacy plugs, the TDP probe
// on KLAP plugs.
func (p *Plug) serveUDP() {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := p.udp.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if f := p.tcp.Fault(); f == Unreachable || f == Refuse {
			continue
		}
		msg := buf[:n]
		var reply []byte
		switch {
		case wire.IsTDP(msg) && p.protocol != "xor":
			reply = wire.TDPResponse(p.discoveryAnswer(), 0)
		case !wire.IsTDP(msg) && p.protocol == "xor":
			req := wire.XORDecrypt(nil, msg)
			if !strings.Contains(string(req), "get_sysinfo") {
				continue
			}
			reply = wire.XOREncrypt(nil, p.handleIOT(req))
		default:
			continue
		}
		_, _ = p.udp.WriteTo(reply, from) // discovery is best effort, as on a device
	}
}

func (p *Plug) discoveryAnswer() []byte {
	d := p.dev
	d.mu.Lock()
	res := asMap(deepCopy(d.discovery))
	if res == nil {
		devType := "SMART.KASAPLUG"
		if d.api == "iot" {
			devType = "IOT.SMARTPLUGSWITCH"
		}
		res = map[string]any{
			"device_id": d.deviceID, "device_model": d.model + "(US)", "device_type": devType,
			"mac": "50-C7-BF-00-00-01", "factory_default": false, "is_support_iot_cloud": true,
			"mgt_encrypt_schm": map[string]any{"encrypt_type": "KLAP", "is_support_https": false},
		}
	}
	d.mu.Unlock()
	res["ip"] = p.Host()
	schm := asMap(res["mgt_encrypt_schm"])
	if schm == nil {
		schm = map[string]any{}
		res["mgt_encrypt_schm"] = schm
	}
	schm["encrypt_type"] = strings.ToUpper(p.protocol)
	schm["http_port"] = p.Port()
	if p.protocol == "aes" && p.loginVer == 2 || p.protocol == "klap" && p.klapVer == wire.KLAPv2 {
		schm["lv"] = 2
	} else {
		delete(schm, "lv")
	}
	b, _ := json.Marshal(map[string]any{"error_code": 0, "result": res})
	return b
}

// httpOnly drops connections whose first byte cannot start an HTTP request,
// as a device's small web server does, so an XOR probe fails at once rather
// than waiting for a request line that never comes.
type httpOnly struct{ net.Listener }

func (l httpOnly) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c}, nil
}

type sniffConn struct {
	net.Conn
	seen bool
}

func (c *sniffConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if !c.seen && n > 0 {
		c.seen = true
		if b[0] < 'A' || b[0] > 'Z' {
			c.Close()
			return 0, io.EOF
		}
	}
	return n, err
}
