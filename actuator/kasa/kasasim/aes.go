package kasasim

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/restartinator/restartinator/actuator/kasa/internal/wire"
)

// aesSession is one AES securePassthrough session: the cipher from the
// handshake, and the token once login_device succeeded.
type aesSession struct {
	cipher *wire.AESSession
	token  string
}

// AES-transport outer error codes (python-kasa's SmartErrorCode).
const (
	aesSessionTimeout = 9999
	aesDecodeFail     = -1005
	aesLoginError     = -1501
	aesBadPublicKey   = -1010
)

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	b, _ := json.Marshal(v)
	_, _ = w.Write(b)
}

// aesApp serves POST /app as firmware with the AES transport does: the
// "handshake" method in the clear, everything else as securePassthrough,
// with the session in the TP_SESSIONID cookie and, after login_device, the
// token in the URL.
func (p *Plug) aesApp(w http.ResponseWriter, r *http.Request) {
	if p.stall(w, r) {
		return
	}
	var env wire.AESEnvelope
	body, _ := io.ReadAll(io.LimitReader(r.Body, wire.MaxFrame))
	if json.Unmarshal(body, &env) != nil {
		writeJSON(w, smartErr(smartBadJSON))
		return
	}
	switch env.Method {
	case "handshake":
		p.aesHandshake(w, env.Params)
	case "securePassthrough":
		p.aesPassthrough(w, r, env.Params)
	default:
		writeJSON(w, smartErr(smartUnknownMethod))
	}
}

func (p *Plug) aesHandshake(w http.ResponseWriter, params json.RawMessage) {
	var hp struct {
		Key string `json:"key"`
	}
	_ = json.Unmarshal(params, &hp)
	pub, err := wire.ParseAESPublicKey(hp.Key)
	if err != nil {
		writeJSON(w, smartErr(aesBadPublicKey))
		return
	}
	keyIV := randomBytes(32)
	sealed, err := wire.SealAESHandshakeKey(pub, keyIV)
	if err != nil {
		writeJSON(w, smartErr(aesBadPublicKey))
		return
	}
	cipher, _ := wire.NewAESSession(keyIV)
	id := strings.ToUpper(hex.EncodeToString(randomBytes(16)))
	p.mu.Lock()
	p.aesSessions[id] = &aesSession{cipher: cipher}
	p.handshakes++
	p.mu.Unlock()
	w.Header().Add("Set-Cookie", "TP_SESSIONID="+id+";TIMEOUT=86400")
	writeJSON(w, map[string]any{"error_code": 0, "result": map[string]any{"key": sealed}})
}

func (p *Plug) aesSession(r *http.Request) *aesSession {
	c, err := r.Cookie("TP_SESSIONID")
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.aesSessions[c.Value]
}

func (p *Plug) aesPassthrough(w http.ResponseWriter, r *http.Request, params json.RawMessage) {
	s := p.aesSession(r)
	if s == nil {
		writeJSON(w, smartErr(aesSessionTimeout))
		return
	}
	var pp struct {
		Request string `json:"request"`
	}
	_ = json.Unmarshal(params, &pp)
	req, err := s.cipher.Decrypt(pp.Request)
	if err != nil {
		writeJSON(w, smartErr(aesDecodeFail))
		return
	}
	var inner smartReq
	_ = json.Unmarshal(req, &inner)
	var answer []byte
	if inner.Method == "login_device" {
		answer = p.aesLogin(s, inner.Params)
	} else {
		p.mu.Lock()
		token := s.token
		p.mu.Unlock()
		if token == "" || r.URL.Query().Get("token") != token {
			writeJSON(w, smartErr(aesSessionTimeout))
			return
		}
		if ok, _ := p.tcp.Admit(); !ok {
			p.stall(w, r)
			return
		}
		answer = p.handle(req)
	}
	writeJSON(w, map[string]any{"error_code": 0, "result": map[string]any{"response": s.cipher.Encrypt(answer)}})
}

// aesLogin checks login_device's params in the form of the plug's login
// version, as python-kasa builds them, and hands out a token.
func (p *Plug) aesLogin(s *aesSession, params json.RawMessage) []byte {
	var got map[string]string
	_ = json.Unmarshal(params, &got)
	want := wire.AESLoginParams(p.loginVer, p.user, p.pass)
	ok := len(got) == len(want)
	for k, v := range want {
		ok = ok && got[k] == v
	}
	if !ok {
		b, _ := json.Marshal(smartErr(aesLoginError))
		return b
	}
	token := strings.ToUpper(hex.EncodeToString(randomBytes(16)))
	p.mu.Lock()
	s.token = token
	p.mu.Unlock()
	b, _ := json.Marshal(smartOK(map[string]any{"token": token}))
	return b
}
