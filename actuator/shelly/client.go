package shelly

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/restartinator/restartinator/actuator"
)

// Config configures a Client.
type Config struct {
	Host string
	Port int // default 80
	// Username defaults to admin (the only user Gen2+ devices know);
	// Password empty means the device has authentication off.
	Username, Password string
	// Timeout bounds each HTTP request (default 5s); a context deadline may
	// be shorter.
	Timeout time.Duration
	// Generation is 1 for the Gen1 HTTP API, 2 or more for Gen2+ RPC; 0
	// detects it from GET /shelly.
	Generation int
}

// api is one generation's way of reading and switching relays.
type api interface {
	status(ctx context.Context) (actuator.Status, error)
	// set switches relay id; a positive flipBack makes the device switch it
	// back after that long (only used with on=false). It reports whether the
	// device then shows the timer running.
	set(ctx context.Context, id int, on bool, flipBack time.Duration) (timer bool, err error)
	// relay reads one relay and whether a timer is running on it.
	relay(ctx context.Context, id int) (on, timer bool, err error)
}

// apis maps a generation to its API; Gen3 and Gen4 speak Gen2's RPC.
var apis = map[int]func(c *Client, info Info) api{
	1: newGen1,
	2: newGen2,
}

// Client is one Shelly device. It implements actuator.Plug and is safe for
// concurrent use; requests go one at a time.
type Client struct {
	cfg  Config
	addr string
	hc   *http.Client

	mu    sync.Mutex
	api   api
	info  Info
	last  *actuator.Status
	armed map[int]time.Duration // outlet id -> off time for the next switch-off
}

var _ actuator.Plug = (*Client)(nil)

// New returns a client for one device. It does not connect until used.
func New(cfg Config) (*Client, error) {
	if cfg.Host == "" {
		return nil, errors.New("shelly: no host given")
	}
	if cfg.Port == 0 {
		cfg.Port = 80
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("shelly: port %d out of range", cfg.Port)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Generation < 0 {
		return nil, fmt.Errorf("shelly: generation %d: want 0 (detect), 1, or 2 and up", cfg.Generation)
	}
	if cfg.Username == "" {
		cfg.Username = "admin"
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: cfg.Timeout}).DialContext,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     30 * time.Second,
	}
	return &Client{
		cfg: cfg, addr: addr, armed: map[int]time.Duration{},
		hc: &http.Client{Transport: tr, Timeout: cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}, nil
}

// Addr is the host:port the client talks to.
func (c *Client) Addr() string { return c.addr }

// Info identifies the device (GET /shelly), detecting its generation.
func (c *Client) Info(ctx context.Context) (Info, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.connect(ctx); err != nil {
		return Info{}, wrap(c.addr, "identify", err)
	}
	return c.info, nil
}

// connect reads /shelly once and picks the API.
func (c *Client) connect(ctx context.Context) error {
	if c.api != nil {
		return nil
	}
	body, err := c.do(ctx, http.MethodGet, "/shelly", nil, nil)
	if err != nil {
		return err
	}
	info, err := DecodeInfo(body)
	if err != nil {
		return err
	}
	gen := c.cfg.Generation
	if gen == 0 {
		gen = info.Generation()
	}
	mk := apis[min(gen, 2)]
	c.info, c.api = info, mk(c, info)
	return nil
}

// do sends one HTTP request and returns the body of a 2xx JSON answer.
// authorize, when set, adds credentials to the request.
func (c *Client) do(ctx context.Context, method, path string, body []byte, authorize func(*http.Request) error) ([]byte, error) {
	resp, b, err := c.roundTrip(ctx, method, path, body, authorize)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		if c.cfg.Password == "" {
			return nil, ErrAuthRequired
		}
		return nil, ErrAuthRejected
	}
	return checkAnswer(path, resp, b)
}

func checkAnswer(what string, resp *http.Response, b []byte) ([]byte, error) {
	if resp.StatusCode/100 != 2 {
		if err := checkJSON(resp.StatusCode, resp.Header.Get("Content-Type"), b); errors.Is(err, ErrNotShelly) && bytes.Contains(bytes.ToLower(b), []byte("<html")) {
			return nil, err
		}
		return nil, httpStatusError(what, resp, b)
	}
	if err := checkJSON(resp.StatusCode, resp.Header.Get("Content-Type"), b); err != nil {
		return nil, err
	}
	return b, nil
}

func (c *Client) roundTrip(ctx context.Context, method, path string, body []byte, authorize func(*http.Request) error) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.addr+path, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if authorize != nil {
		if err := authorize(req); err != nil {
			return nil, nil, err
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer to %s: %w", path, err)
	}
	return resp, b, nil
}

// Status reads the device and every relay.
func (c *Client) Status(ctx context.Context) (actuator.Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.status(ctx)
	return st, wrap(c.addr, "read status", err)
}

func (c *Client) status(ctx context.Context) (actuator.Status, error) {
	if err := c.connect(ctx); err != nil {
		return actuator.Status{}, err
	}
	st, err := c.api.status(ctx)
	if err != nil {
		return st, err
	}
	c.last = &st
	return st, nil
}

// outlet resolves a selector against the last status, reading it if needed.
func (c *Client) outlet(ctx context.Context, sel string, fresh bool) (int, actuator.Outlet, error) {
	if c.last == nil || fresh {
		if _, err := c.status(ctx); err != nil {
			return 0, actuator.Outlet{}, err
		}
	}
	o, err := actuator.SelectOutlet(*c.last, sel)
	if err != nil {
		return 0, o, err
	}
	id, err := strconv.Atoi(o.ID)
	if err != nil {
		return 0, o, fmt.Errorf("outlet id %q is not a relay number", o.ID)
	}
	return id, o, nil
}

// Switch turns an outlet on or off. Switching off an outlet armed by
// ArmFlipBack starts the device's own timer in the same request, and fails
// (so the caller switches back on) if the device does not show it running.
func (c *Client) Switch(ctx context.Context, outlet string, on bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	op := "switch outlet " + strconv.Quote(outlet) + " " + onOff(on)
	id, _, err := c.outlet(ctx, outlet, false)
	if err != nil {
		return wrap(c.addr, op, err)
	}
	var flip time.Duration
	if !on {
		flip = c.armed[id]
		delete(c.armed, id) // one switch-off per arming
	}
	timer, err := c.api.set(ctx, id, on, flip)
	if err != nil {
		return wrap(c.addr, op, err)
	}
	if flip > 0 && !timer {
		return wrap(c.addr, op, ErrNoTimer)
	}
	return nil
}

// ArmFlipBack checks the outlet answers and makes its next switch-off carry
// the device's own timer, which switches it on again after d.
func (c *Client) ArmFlipBack(ctx context.Context, outlet string, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, _, err := c.outlet(ctx, outlet, true)
	if err != nil {
		return wrap(c.addr, "arm flip-back on outlet "+strconv.Quote(outlet), err)
	}
	c.armed[id] = d
	return nil
}

// DisarmFlipBack forgets an arming not yet used and stops a running timer
// on an outlet that is on. A timer on an outlet that is off is left to run,
// since it is what brings power back.
func (c *Client) DisarmFlipBack(ctx context.Context, outlet string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	op := "disarm flip-back on outlet " + strconv.Quote(outlet)
	id, _, err := c.outlet(ctx, outlet, false)
	if err != nil {
		return wrap(c.addr, op, err)
	}
	delete(c.armed, id)
	on, timer, err := c.api.relay(ctx, id)
	switch {
	case err != nil:
		return wrap(c.addr, op, err)
	case !timer:
		return nil
	case !on:
		return wrap(c.addr, op, errors.New("the outlet is off; leaving its flip-back timer to switch it on"))
	}
	if _, err := c.api.set(ctx, id, true, 0); err != nil {
		return wrap(c.addr, op, err)
	}
	return nil
}

// Close drops idle connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// timerSeconds is the device timer for d: whole seconds, rounded up so the
// outlet is never on sooner than asked, at least 1.
func timerSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
