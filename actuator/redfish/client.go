package redfish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/restartinator/restartinator/actuator"
)

// Authentication methods of Config.Auth.
const (
	AuthSession = "session" // POST SessionService/Sessions, then X-Auth-Token
	AuthBasic   = "basic"   // HTTP basic on every request
)

// Config says how to reach one BMC.
type Config struct {
	Host string
	Port int // default 443
	// Username and Password are the BMC account.
	Username, Password string
	// Auth is AuthSession (default) or AuthBasic.
	Auth string
	// System selects the ComputerSystem by Id when the service has several;
	// empty takes the only one.
	System string
	// TLS: CAFile verifies against that CA instead of the system roots;
	// FingerprintSHA256 pins the server certificate (hex, colons allowed)
	// and replaces chain verification; InsecureSkipVerify verifies nothing.
	CAFile             string
	FingerprintSHA256  string
	InsecureSkipVerify bool
	Timeout            time.Duration // per request, default 10s
	Logger             *slog.Logger
}

// Client is one BMC's Redfish service. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base string
	http *http.Client
	log  *slog.Logger

	mu      sync.Mutex
	token   string // session token
	session string // session URI, deleted on Close
}

var (
	_ actuator.Plug            = (*Client)(nil)
	_ actuator.DeviceCycler    = (*Client)(nil)
	_ actuator.BMCStatusReader = (*Client)(nil)
)

// New checks cfg and builds the client; it does not connect yet.
func New(cfg Config) (*Client, error) {
	if cfg.Host == "" {
		return nil, errors.New("redfish: host is empty")
	}
	if cfg.Port == 0 {
		cfg.Port = 443
	}
	if cfg.Auth == "" {
		cfg.Auth = AuthSession
	}
	if cfg.Auth != AuthSession && cfg.Auth != AuthBasic {
		return nil, fmt.Errorf("redfish: auth %q: use session or basic", cfg.Auth)
	}
	if cfg.Username == "" {
		return nil, errors.New("redfish: username is empty: a BMC needs an account")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	tc, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second,
		TLSHandshakeTimeout: cfg.Timeout, ResponseHeaderTimeout: cfg.Timeout}
	return &Client{cfg: cfg, base: "https://" + net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		http: &http.Client{Transport: tr, Timeout: cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		log: cfg.Logger}, nil
}

// ParseFingerprint reads a SHA-256 fingerprint written as hex, with or
// without colons.
func ParseFingerprint(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("fingerprint_sha256 %q: want the certificate's SHA-256 as 64 hex digits (openssl x509 -noout -fingerprint -sha256)", s)
	}
	return b, nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redfish: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redfish: ca_file %s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.FingerprintSHA256 != "" {
		want, err := ParseFingerprint(cfg.FingerprintSHA256)
		if err != nil {
			return nil, fmt.Errorf("redfish: %w", err)
		}
		// The pin replaces chain and name verification: BMCs ship
		// self-signed certificates for names nobody uses.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the BMC sent no certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(got[:], want) {
				return fmt.Errorf("the BMC's certificate has SHA-256 fingerprint %s, not the pinned %s — a different certificate (renewed, or someone in between)",
					hex.EncodeToString(got[:]), hex.EncodeToString(want))
			}
			return nil
		}
	}
	if cfg.InsecureSkipVerify {
		tc.InsecureSkipVerify = true
	}
	return tc, nil
}

// httpError is a non-2xx answer.
type httpError struct {
	status  int
	message string // from the Redfish error body
}

func (e *httpError) Error() string {
	s := fmt.Sprintf("HTTP %d %s", e.status, http.StatusText(e.status))
	if e.status == http.StatusUnauthorized {
		s += " — check the BMC username and password"
	}
	if e.message != "" {
		s += ": " + e.message
	}
	return s
}

// wrap names the BMC and what we asked it in err.
func (c *Client) wrap(what string, err error) error {
	hint := ""
	var ce *tls.CertificateVerificationError
	if errors.As(err, &ce) || strings.Contains(err.Error(), "certificate") {
		hint = "BMCs ship self-signed certificates: give ca_file, or pin it with fingerprint_sha256"
	}
	return &actuator.PlugError{Kind: "BMC", Plug: c.base, Op: what, Err: err, Hint: hint}
}

// do sends one request with the configured authentication and returns the
// body of a 2xx answer.
func (c *Client) do(ctx context.Context, method, path string, body any) ([]byte, http.Header, error) {
	b, h, err := c.send(ctx, method, path, body)
	var he *httpError
	if c.cfg.Auth == AuthSession && errors.As(err, &he) && he.status == http.StatusUnauthorized {
		// The session may have timed out: log in again, once.
		c.mu.Lock()
		c.token, c.session = "", ""
		c.mu.Unlock()
		b, h, err = c.send(ctx, method, path, body)
	}
	if err != nil {
		return nil, nil, c.wrap(method+" "+path, err)
	}
	return b, h, nil
}

func (c *Client) send(ctx context.Context, method, path string, body any) ([]byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-Version", "4.0")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch c.cfg.Auth {
	case AuthBasic:
		req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	case AuthSession:
		tok, err := c.login(ctx)
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("X-Auth-Token", tok)
	}
	return c.roundTrip(req)
}

func (c *Client) roundTrip(req *http.Request) ([]byte, http.Header, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, nil, &httpError{status: resp.StatusCode, message: decodeError(b)}
	}
	return b, resp.Header, nil
}

// login opens a session (DSP0266 13.3.4) unless one is open.
func (c *Client) login(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" {
		return c.token, nil
	}
	j, _ := json.Marshal(map[string]string{"UserName": c.cfg.Username, "Password": c.cfg.Password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/redfish/v1/SessionService/Sessions", bytes.NewReader(j))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	_, h, err := c.roundTrip(req)
	if err != nil {
		return "", fmt.Errorf("logging in (POST /redfish/v1/SessionService/Sessions): %w", err)
	}
	tok := h.Get("X-Auth-Token")
	if tok == "" {
		return "", fmt.Errorf("%w: the session was created without an X-Auth-Token header; try auth: basic", ErrBadAnswer)
	}
	c.token, c.session = tok, h.Get("Location")
	return tok, nil
}

// system finds the ComputerSystem.
func (c *Client) system(ctx context.Context) (System, error) {
	b, _, err := c.do(ctx, http.MethodGet, "/redfish/v1/Systems", nil)
	if err != nil {
		return System{}, err
	}
	var col collection
	if err := json.Unmarshal(b, &col); err != nil {
		return System{}, c.wrap("GET /redfish/v1/Systems", fmt.Errorf("%w: %w", ErrBadAnswer, err))
	}
	var ids []string
	for _, m := range col.Members {
		ids = append(ids, m.ID)
	}
	var path string
	switch {
	case c.cfg.System != "":
		for _, id := range ids {
			if id == "/redfish/v1/Systems/"+c.cfg.System || strings.TrimSuffix(id, "/") == "/redfish/v1/Systems/"+c.cfg.System {
				path = id
			}
		}
		if path == "" {
			return System{}, fmt.Errorf("BMC %s: no system %q; it has: %s", c.base, c.cfg.System, strings.Join(ids, ", "))
		}
	case len(ids) == 1:
		path = ids[0]
	case len(ids) == 0:
		return System{}, fmt.Errorf("BMC %s: /redfish/v1/Systems lists no system", c.base)
	default:
		return System{}, fmt.Errorf("BMC %s: it manages %d systems (%s); choose one with system: <Id>", c.base, len(ids), strings.Join(ids, ", "))
	}
	if !strings.HasPrefix(path, "/redfish/v1/") {
		return System{}, c.wrap("GET /redfish/v1/Systems", fmt.Errorf("%w: member %q is not under /redfish/v1/", ErrBadAnswer, path))
	}
	b, _, err = c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return System{}, err
	}
	s, err := decodeSystem(b)
	if err != nil {
		return System{}, c.wrap("GET "+path, err)
	}
	return s, nil
}

// resetTypes lists the ResetType values the service accepts, inline or
// from the action's ActionInfo. nil means the service does not say.
func (c *Client) resetTypes(ctx context.Context, s System) ([]string, error) {
	r := s.Actions.Reset
	if len(r.Allowable) > 0 || r.ActionInfo == "" {
		return r.Allowable, nil
	}
	if !strings.HasPrefix(r.ActionInfo, "/redfish/v1/") {
		return nil, fmt.Errorf("%w: @Redfish.ActionInfo %q is not under /redfish/v1/", ErrBadAnswer, r.ActionInfo)
	}
	b, _, err := c.do(ctx, http.MethodGet, r.ActionInfo, nil)
	if err != nil {
		return nil, err
	}
	v, err := decodeActionInfo(b)
	if err != nil {
		return nil, c.wrap("GET "+r.ActionInfo, err)
	}
	return v, nil
}

// reset posts the Reset action.
func (c *Client) reset(ctx context.Context, s System, resetType string) error {
	_, _, err := c.do(ctx, http.MethodPost, s.Actions.Reset.Target, map[string]string{"ResetType": resetType})
	if err != nil {
		return fmt.Errorf("the Reset %s was refused: %w", resetType, err)
	}
	c.log.Info("Redfish Reset sent", "system", s.ID, "reset_type", resetType)
	return nil
}

// pick returns the first of want the service allows (all of them when it
// does not say).
func pick(allowed []string, want ...string) (string, bool) {
	if allowed == nil {
		return want[0], true
	}
	for _, w := range want {
		if slices.Contains(allowed, w) {
			return w, true
		}
	}
	return "", false
}

// Status reads the system: one outlet, on when PowerState is On.
func (c *Client) Status(ctx context.Context) (actuator.Status, error) {
	s, err := c.system(ctx)
	if err != nil {
		return actuator.Status{}, err
	}
	return actuator.Status{Model: strings.TrimSpace(s.Manufacturer + " " + s.Model), Alias: s.Name, Protocol: "redfish",
		Outlets: []actuator.Outlet{{ID: s.ID, Alias: s.Name, On: s.PowerState == "On"}}}, nil
}

// BMCStatus is the system's power and Status.Health, for the bmc probe.
func (c *Client) BMCStatus(ctx context.Context) (actuator.BMCStatus, error) {
	s, err := c.system(ctx)
	if err != nil {
		return actuator.BMCStatus{}, err
	}
	return actuator.BMCStatus{PowerOn: s.PowerState == "On", Health: s.Status.Health}, nil
}

// Switch powers the system on (On, else ForceOn) or off (ForceOff).
func (c *Client) Switch(ctx context.Context, outlet string, on bool) error {
	s, err := c.system(ctx)
	if err != nil {
		return err
	}
	allowed, err := c.resetTypes(ctx, s)
	if err != nil {
		return err
	}
	want := []string{"ForceOff"}
	if on {
		want = []string{"On", "ForceOn"}
	}
	rt, ok := pick(allowed, want...)
	if !ok {
		return fmt.Errorf("BMC %s: system %s allows ResetType %s, none of %s", c.base, s.ID, strings.Join(allowed, ", "), strings.Join(want, ", "))
	}
	return c.reset(ctx, s, rt)
}

// CanDeviceCycle: the BMC cycles power itself when Reset allows PowerCycle.
func (c *Client) CanDeviceCycle(ctx context.Context, outlet string) error {
	s, err := c.system(ctx)
	if err != nil {
		return err
	}
	allowed, err := c.resetTypes(ctx, s)
	if err != nil {
		return err
	}
	if allowed == nil || !slices.Contains(allowed, "PowerCycle") {
		return fmt.Errorf("%w: system %s does not list PowerCycle in ResetType@Redfish.AllowableValues (it has %s); restartinator sends ForceOff and On itself, and no BMC timer brings power back if it stops in between",
			actuator.ErrDeviceCycleUnsupported, s.ID, strings.Join(allowed, ", "))
	}
	return nil
}

// DeviceCycle sends Reset PowerCycle; the BMC does not say how long power
// stays off.
func (c *Client) DeviceCycle(ctx context.Context, outlet string, off time.Duration) (time.Duration, error) {
	s, err := c.system(ctx)
	if err != nil {
		return 0, err
	}
	return 0, c.reset(ctx, s, "PowerCycle")
}

// ArmFlipBack: a BMC has no timer that powers the system on again.
func (c *Client) ArmFlipBack(context.Context, string, time.Duration) error {
	return fmt.Errorf("%w: a Redfish BMC has no timer that powers the system back on (without PowerCycle, restartinator sends ForceOff and On itself)", actuator.ErrFlipBackUnsupported)
}

// DisarmFlipBack has nothing to remove.
func (c *Client) DisarmFlipBack(context.Context, string) error { return nil }

// Close ends the session, if one is open.
func (c *Client) Close() error {
	c.mu.Lock()
	tok, uri := c.token, c.session
	c.token, c.session = "", ""
	c.mu.Unlock()
	defer c.http.CloseIdleConnections()
	if tok == "" || uri == "" {
		return nil
	}
	path := uri
	if i := strings.Index(path, "/redfish/v1/"); i > 0 {
		path = path[i:]
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", tok)
	_, _, err = c.roundTrip(req)
	return err
}
