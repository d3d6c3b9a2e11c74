package kasa

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/restartinator/restartinator/actuator/kasa/internal/wire"
	"github.com/restartinator/restartinator/internal/clock"
)

// Credentials is a TP-Link cloud account, which KLAP devices use as their
// local login.
type Credentials struct {
	Username string
	Password string
}

// DefaultCredentials are the accounts Kasa and Tapo firmware accept besides
// the owner's: devices set up through the cloud switch between the owner's
// account and these, and a device never bound to an account takes them too.
// (Stored encoded, as TP-Link's apps ship them.)
var DefaultCredentials = []Credentials{
	decodeCreds("a2FzYUB0cC1saW5rLm5ldA==", "a2FzYVNldHVw"), // Kasa
	decodeCreds("dGVzdEB0cC1saW5rLm5ldA==", "dGVzdA=="),     // Tapo
}

func decodeCreds(u, p string) Credentials {
	du, _ := base64.StdEncoding.DecodeString(u)
	dp, _ := base64.StdEncoding.DecodeString(p)
	return Credentials{Username: string(du), Password: string(dp)}
}

// sessionCookie is the cookie a KLAP device hands out in handshake1.
const sessionCookie = "TP_SESSIONID"

// klapTransport speaks KLAP over HTTP: two handshakes prove both sides know
// the account hash and derive an AES-128-CBC session, then each request is
// encrypted with the next sequence number. The session is reused until it
// expires or the device drops it (403, or an answer that does not decrypt),
// then the handshake runs again.
type klapTransport struct {
	base    string // http://host:port/app
	timeout time.Duration
	creds   []Credentials // the user's first, then the defaults, then blank
	clock   clock.Clock
	logger  *slog.Logger
	http    *http.Client

	mu        sync.Mutex
	sess      *wire.Session
	cookie    string
	expires   time.Time
	version   int // auth-hash version the device answered with
	handshake int // handshakes done, for tests and logs
}

func newKLAPTransport(addr string, timeout time.Duration, user *Credentials, clk clock.Clock, logger *slog.Logger) *klapTransport {
	return &klapTransport{
		base:    "http://" + addr + "/app",
		timeout: timeout,
		creds:   credentialList(user),
		clock:   clk,
		logger:  logger,
		http:    newHTTPClient(timeout),
	}
}

func (t *klapTransport) name() string { return "klap" }

func (t *klapTransport) close() error {
	t.mu.Lock()
	t.sess = nil
	t.mu.Unlock()
	t.http.CloseIdleConnections()
	return nil
}

// errSessionLost means the device no longer knows our session.
var errSessionLost = errors.New("KLAP session dropped by the device")

func (t *klapTransport) send(ctx context.Context, req []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for attempt := 0; ; attempt++ {
		fresh := false
		if t.sess == nil || !t.clock.Now().Before(t.expires) {
			if err := t.doHandshake(ctx); err != nil {
				return nil, err
			}
			fresh = true
		}
		resp, err := t.request(ctx, req)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// Some firmware serves one request per session, and every device
		// forgets sessions on reboot: handshake again, once.
		t.sess = nil
		if attempt == 0 && !fresh || attempt == 0 && errors.Is(err, errSessionLost) {
			t.logger.Debug("KLAP session lost, handshaking again", "url", t.base, "err", err)
			continue
		}
		return nil, err
	}
}

func (t *klapTransport) post(ctx context.Context, path string, body []byte) (int, []*http.Cookie, []byte, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline(ctx, t.timeout))
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	r.Header.Set("Content-Type", "application/octet-stream")
	if t.cookie != "" && path != "/handshake1" {
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

// unwrapURL drops net/http's `Post "http://...": ` prefix; the plug's
// address is already in our own error.
func unwrapURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

func (t *klapTransport) doHandshake(ctx context.Context) error {
	t.sess, t.cookie = nil, ""
	local := make([]byte, 16)
	rand.Read(local)
	status, cookies, body, err := t.post(ctx, "/handshake1", local)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("%w: KLAP handshake1 answered HTTP %d", errProtocol, status)
	}
	if len(body) != 48 {
		return fmt.Errorf("%w: KLAP handshake1 answered %d bytes, want 48", errProtocol, len(body))
	}
	remote, serverHash := body[:16], body[16:]
	timeout := 24 * time.Hour
	for _, c := range cookies {
		switch c.Name {
		case sessionCookie:
			t.cookie = c.Value
		case "TIMEOUT":
			if s, err := strconv.Atoi(c.Value); err == nil && s > 0 {
				timeout = time.Duration(s) * time.Second
			}
		}
	}
	var auth []byte
	version := 0
	// Both hash versions are tried locally, so no extra round trip: the
	// device's answer tells which account and which version it holds.
find:
	for _, cr := range t.creds {
		for _, v := range []int{wire.KLAPv2, wire.KLAPv1} {
			h := wire.AuthHash(v, cr.Username, cr.Password)
			if bytes.Equal(wire.Handshake1Hash(v, local, remote, h), serverHash) {
				auth, version = h, v
				break find
			}
		}
	}
	if auth == nil {
		return fmt.Errorf("%w: the device's handshake matches neither the given account nor the default ones", ErrAuth)
	}
	status, _, _, err = t.post(ctx, "/handshake2", wire.Handshake2Hash(version, local, remote, auth))
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("%w: KLAP handshake2 answered HTTP %d", ErrAuth, status)
	}
	t.sess = wire.NewSession(local, remote, auth)
	t.version = version
	t.handshake++
	// Device clocks drift; renew well before the advertised expiry.
	t.expires = t.clock.Now().Add(timeout - sessionMargin(timeout))
	t.logger.Debug("KLAP handshake done", "url", t.base, "auth_version", version)
	return nil
}

func (t *klapTransport) request(ctx context.Context, req []byte) ([]byte, error) {
	body, seq := t.sess.Next(req)
	status, _, data, err := t.post(ctx, "/request?seq="+strconv.FormatInt(int64(seq), 10), body)
	if err != nil {
		return nil, err
	}
	switch status {
	case http.StatusOK:
	case http.StatusForbidden, http.StatusUnauthorized:
		return nil, fmt.Errorf("%w (HTTP %d)", errSessionLost, status)
	default:
		return nil, fmt.Errorf("KLAP request answered HTTP %d", status)
	}
	plain, err := t.sess.Open(seq, data, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errSessionLost, err)
	}
	return plain, nil
}
