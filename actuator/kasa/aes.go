package kasa

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/restartinator/restartinator/actuator/kasa/internal/wire"
	"github.com/restartinator/restartinator/internal/clock"
)

// aesTransport speaks the AES "securePassthrough" transport of older Tapo
// and Kasa SMART firmware over HTTP POST /app, following python-kasa's
// aestransport.py: an RSA-1024 handshake yields an AES-128-CBC key and IV and
// a session cookie; login_device (credentials in the v1 or v2 form) yields a
// token that goes in the URL of every later request. The session is renewed
// before its TIMEOUT cookie runs out, and at once when the device answers
// 9999 (session timeout) or an authentication error.
type aesTransport struct {
	app     string // http://host:port/app
	timeout time.Duration
	creds   []Credentials // the user's first, then the defaults, then blank
	// versions are the login_device forms to try: the one discovery
	// announced, or both (2 first: every AES recording but two says lv 2).
	versions []int
	clock    clock.Clock
	logger   *slog.Logger
	http     *http.Client

	mu         sync.Mutex
	key        *rsa.PrivateKey
	sess       *wire.AESSession
	cookie     string
	token      string
	expires    time.Time
	login      *aesLogin // what worked last, tried first next time
	handshakes int
}

type aesLogin struct {
	cred    Credentials
	version int
}

// AES-transport HTTP headers python-kasa sends with every request.
var aesHeaders = map[string]string{"Content-Type": "application/json", "requestByApp": "true", "Accept": "application/json"}

func newAESTransport(addr string, timeout time.Duration, user *Credentials, loginVersion int, clk clock.Clock, logger *slog.Logger) *aesTransport {
	versions := []int{2, 1}
	if loginVersion == 1 || loginVersion == 2 {
		versions = []int{loginVersion}
	}
	return &aesTransport{
		app:      "http://" + addr + "/app",
		timeout:  timeout,
		creds:    credentialList(user),
		versions: versions,
		clock:    clk,
		logger:   logger,
		http:     newHTTPClient(timeout),
	}
}

// credentialList is the user's account, then the default accounts, then a
// blank one, the order KLAP and AES logins try them in.
func credentialList(user *Credentials) []Credentials {
	var creds []Credentials
	if user != nil && (user.Username != "" || user.Password != "") {
		creds = append(creds, *user)
	}
	creds = append(creds, DefaultCredentials...)
	return append(creds, Credentials{})
}

func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil, // a plug on the LAN is never behind a proxy
			DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (t *aesTransport) name() string { return ProtocolAES }

func (t *aesTransport) close() error {
	t.mu.Lock()
	t.sess, t.token = nil, ""
	t.mu.Unlock()
	t.http.CloseIdleConnections()
	return nil
}

// aesSessionCodes are outer error codes after which a new handshake and
// login may succeed: session timeout, login errors, and python-kasa's
// authentication errors (which reset its transport).
var aesSessionCodes = map[int]bool{
	smartSessionTimeout: true, smartLoginError: true, smartLoginFailed: true,
	smartAESDecodeFail: true, smartHandshakeFailed: true, smartUnknownCredentials: true,
	smartSessionExpired: true,
}

func (t *aesTransport) send(ctx context.Context, req []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if err := t.establish(ctx); err != nil {
			return nil, err
		}
		inner, err := t.passthrough(ctx, t.app+"?token="+url.QueryEscape(t.token), req)
		if err == nil {
			return inner, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		t.sess, t.token = nil, ""
		if attempt == 0 && (errors.Is(err, errSessionLost) || aesSessionCodes[deviceCode(err)]) {
			t.logger.Debug("AES session lost, handshaking again", "url", t.app, "err", err)
			continue
		}
		return nil, err
	}
}

// establish handshakes and logs in when there is no live session.
func (t *aesTransport) establish(ctx context.Context) error {
	if t.sess != nil && t.token != "" && t.clock.Now().Before(t.expires) {
		return nil
	}
	tries := t.logins()
	var lastErr error
	for i, l := range tries {
		// A failed login leaves the session unusable (the device then
		// answers 9999), so each try starts with a fresh handshake.
		if err := t.handshake(ctx); err != nil {
			return err
		}
		err := t.loginDevice(ctx, l)
		if err == nil {
			t.login = &l
			if i > 0 {
				t.logger.Debug("AES login accepted", "url", t.app, "login_version", l.version, "default_account", l.cred != tries[0].cred)
			}
			return nil
		}
		t.sess = nil
		if code := deviceCode(err); code != smartLoginError && code != smartLoginFailed {
			return err
		}
		lastErr = err
	}
	return fmt.Errorf("%w: login_device refused the given account and the default ones: %w", ErrAuth, lastErr)
}

// logins lists what to try, the last one that worked first.
func (t *aesTransport) logins() []aesLogin {
	var out []aesLogin
	if t.login != nil {
		out = append(out, *t.login)
	}
	for _, c := range t.creds {
		for _, v := range t.versions {
			l := aesLogin{c, v}
			if t.login == nil || l != *t.login {
				out = append(out, l)
			}
		}
	}
	return out
}

func (t *aesTransport) post(ctx context.Context, u string, body []byte) (int, []*http.Cookie, []byte, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline(ctx, t.timeout))
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range aesHeaders {
		r.Header.Set(k, v)
	}
	if t.cookie != "" {
		r.Header.Set("Cookie", sessionCookie+"="+t.cookie)
	}
	resp, err := t.http.Do(r)
	if err != nil {
		return 0, nil, nil, describe(unwrapURL(err), t.timeout)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxFrame))
	if err != nil {
		return 0, nil, nil, describe(err, t.timeout)
	}
	return resp.StatusCode, resp.Cookies(), data, nil
}

func (t *aesTransport) handshake(ctx context.Context) error {
	t.sess, t.token, t.cookie = nil, "", ""
	if t.key == nil {
		k, err := rsa.GenerateKey(rand.Reader, wire.AESKeyBits)
		if err != nil {
			return err
		}
		t.key = k
	}
	pemKey, err := wire.AESPublicKeyPEM(&t.key.PublicKey)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"method": "handshake", "params": map[string]string{"key": pemKey}})
	status, cookies, data, err := t.post(ctx, t.app, body)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("%w: AES handshake answered HTTP %d", errProtocol, status)
	}
	var ans struct {
		Code   *int `json:"error_code"`
		Result struct {
			Key string `json:"key"`
		} `json:"result"`
	}
	if err := json.Unmarshal(data, &ans); err != nil || ans.Code == nil {
		return fmt.Errorf("%w: AES handshake answer is not the expected JSON", errProtocol)
	}
	if *ans.Code != 0 {
		return smartResponse{Code: ans.Code}.err("handshake")
	}
	keyIV, err := wire.OpenAESHandshakeKey(t.key, ans.Result.Key)
	if err != nil {
		return fmt.Errorf("%w: %w", errProtocol, err)
	}
	sess, err := wire.NewAESSession(keyIV)
	if err != nil {
		return fmt.Errorf("%w: %w", errProtocol, err)
	}
	timeout := 24 * time.Hour
	for _, c := range cookies {
		switch c.Name {
		case sessionCookie, "SESSIONID":
			t.cookie = c.Value
		case "TIMEOUT":
			if s, err := strconv.Atoi(c.Value); err == nil && s > 0 {
				timeout = time.Duration(s) * time.Second
			}
		}
	}
	t.sess = sess
	t.expires = t.clock.Now().Add(timeout - sessionMargin(timeout))
	t.handshakes++
	t.logger.Debug("AES handshake done", "url", t.app)
	return nil
}

// sessionMargin is how long before a session's advertised expiry it is
// renewed: device clocks drift (python-kasa keeps 20 minutes).
func sessionMargin(timeout time.Duration) time.Duration {
	margin := 20 * time.Minute
	if timeout <= 2*margin {
		margin = timeout / 2
	}
	return margin
}

func (t *aesTransport) loginDevice(ctx context.Context, l aesLogin) error {
	req, _ := json.Marshal(map[string]any{
		"method":             "login_device",
		"params":             wire.AESLoginParams(l.version, l.cred.Username, l.cred.Password),
		"request_time_milis": t.clock.Now().UnixMilli(),
	})
	inner, err := t.passthrough(ctx, t.app, req)
	if err != nil {
		return err
	}
	var resp struct {
		smartResponse
		Result struct {
			Token string `json:"token"`
		} `json:"result"`
	}
	if err := json.Unmarshal(inner, &resp); err != nil {
		return fmt.Errorf("%w: login_device answer: %v", errProtocol, err)
	}
	if err := resp.err("login_device"); err != nil {
		return err
	}
	if resp.Result.Token == "" {
		return fmt.Errorf("%w: login_device answered no token", errProtocol)
	}
	t.token = resp.Result.Token
	return nil
}

// passthrough sends req encrypted to u and returns the decrypted answer. An
// outer error code comes back as a *DeviceError.
func (t *aesTransport) passthrough(ctx context.Context, u string, req []byte) ([]byte, error) {
	body, _ := json.Marshal(map[string]any{
		"method": "securePassthrough",
		"params": map[string]string{"request": t.sess.Encrypt(req)},
	})
	status, _, data, err := t.post(ctx, u, body)
	if err != nil {
		return nil, err
	}
	switch status {
	case http.StatusOK:
	case http.StatusForbidden, http.StatusUnauthorized:
		return nil, fmt.Errorf("%w (HTTP %d)", errSessionLost, status)
	default:
		return nil, fmt.Errorf("%w: securePassthrough answered HTTP %d", errProtocol, status)
	}
	code, inner, err := wire.OpenAESResponse(t.sess, data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errSessionLost, err)
	}
	if code != 0 {
		return nil, smartResponse{Code: &code}.err("securePassthrough")
	}
	return inner, nil
}
