package tasmota

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/restartinator/restartinator/actuator"
)

// Config configures a Client.
type Config struct {
	Host string
	Port int // default 80
	// Username defaults to admin, the only web user Tasmota has; Password
	// empty means the device has no web password.
	Username, Password string
	// Timeout bounds each HTTP request (default 5s).
	Timeout time.Duration
}

// Backlog limits from the Commands page: Delay takes 2…3600 tenths of a
// second, a Backlog at most 30 commands (Power OFF, Power ON and 28 Delays).
const (
	minDelayTenths = 2
	maxDelayTenths = 3600
	maxDelays      = 28
	// MaxFlipBack is the longest off time one Backlog can wait.
	MaxFlipBack = maxDelays * maxDelayTenths * 100 * time.Millisecond
)

// readBack bounds how long we wait for a Backlog's first command (the
// switch-off) to show, and how often we look.
const (
	readBackTries = 20
	readBackEvery = 50 * time.Millisecond
)

// Client is one Tasmota device. It implements actuator.Plug and is safe for
// concurrent use; requests go one at a time.
type Client struct {
	cfg  Config
	addr string
	hc   *http.Client

	mu    sync.Mutex
	last  *actuator.Status
	armed map[int]time.Duration // relay number (1-based) -> off time
}

var _ actuator.Plug = (*Client)(nil)

// New returns a client for one device. It does not connect until used.
func New(cfg Config) (*Client, error) {
	if cfg.Host == "" {
		return nil, errors.New("tasmota: no host given")
	}
	if cfg.Port == 0 {
		cfg.Port = 80
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("tasmota: port %d out of range", cfg.Port)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
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

// Command runs one Tasmota command and returns the answer's body.
func (c *Client) Command(ctx context.Context, cmnd string) ([]byte, error) {
	b, err := c.command(ctx, cmnd)
	return b, wrap(c.addr, cmnd, err)
}

func (c *Client) command(ctx context.Context, cmnd string) ([]byte, error) {
	q := url.Values{}
	if c.cfg.Password != "" {
		q.Set("user", c.cfg.Username)
		q.Set("password", c.cfg.Password)
	}
	q.Set("cmnd", cmnd)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.addr+"/cm?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// The URL holds the password: never let it into an error.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, c.authErr()
	}
	if err := checkJSON(resp.StatusCode, resp.Header.Get("Content-Type"), b); err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	if _, err := DecodeAnswer(cmnd, b); errors.Is(err, ErrAuthRequired) {
		return nil, c.authErr()
	} else if err != nil {
		return nil, err
	}
	return b, nil
}

func (c *Client) authErr() error {
	if c.cfg.Password == "" {
		return ErrAuthRequired
	}
	return ErrAuthRejected
}

func (c *Client) run(ctx context.Context, cmnd string) (map[string][]byte, error) {
	b, err := c.command(ctx, cmnd)
	if err != nil {
		return nil, err
	}
	m, err := DecodeAnswer(cmnd, b)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out, nil
}

// Status reads `Status 0`.
func (c *Client) Status(ctx context.Context) (actuator.Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.status(ctx)
	return st, wrap(c.addr, "read status", err)
}

func (c *Client) status(ctx context.Context) (actuator.Status, error) {
	b, err := c.command(ctx, "Status 0")
	if err != nil {
		return actuator.Status{}, err
	}
	st, err := Status0(b)
	if err != nil {
		return st, err
	}
	c.last = &st
	return st, nil
}

// relay resolves a selector to a relay number (1-based).
func (c *Client) relay(ctx context.Context, sel string, fresh bool) (int, error) {
	if c.last == nil || fresh {
		if _, err := c.status(ctx); err != nil {
			return 0, err
		}
	}
	o, err := actuator.SelectOutlet(*c.last, sel)
	if err != nil {
		return 0, err
	}
	return o.Index + 1, nil
}

// power reads relay n.
func (c *Client) power(ctx context.Context, n int) (bool, error) {
	cmnd := "Power" + strconv.Itoa(n)
	m, err := c.run(ctx, cmnd)
	if err != nil {
		return false, err
	}
	return answerState(cmnd, m, n)
}

// answerState reads POWERn (or POWER for relay 1) from an answer.
func answerState(cmnd string, m map[string][]byte, n int) (bool, error) {
	raw, ok := m["POWER"+strconv.Itoa(n)]
	if !ok && n == 1 {
		raw, ok = m["POWER"]
	}
	if !ok {
		return false, fmt.Errorf("%w: %s: the answer has no POWER%d", ErrNotTasmota, cmnd, n)
	}
	s := strings.Trim(string(raw), `"`)
	switch strings.ToUpper(s) {
	case "ON":
		return true, nil
	case "OFF":
		return false, nil
	}
	return false, fmt.Errorf("%w: %s: POWER%d is %q", ErrNotTasmota, cmnd, n, s)
}

// Switch turns an outlet on or off and reads it back. Switching off an
// outlet armed by ArmFlipBack sends the Backlog that switches it on again
// on the device.
func (c *Client) Switch(ctx context.Context, outlet string, on bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	op := "switch outlet " + strconv.Quote(outlet) + " " + onOff(on)
	n, err := c.relay(ctx, outlet, false)
	if err != nil {
		return wrap(c.addr, op, err)
	}
	if d, ok := c.armed[n]; ok && !on {
		delete(c.armed, n) // one switch-off per arming
		return wrap(c.addr, op, c.offWithFlipBack(ctx, n, d))
	}
	cmnd := "Power" + strconv.Itoa(n) + " " + strings.ToUpper(onOff(on))
	m, err := c.run(ctx, cmnd)
	if err != nil {
		return wrap(c.addr, op, err)
	}
	got, err := answerState(cmnd, m, n)
	if err == nil && got != on {
		err = fmt.Errorf("the device reports Power%d %s after %s", n, onOff(got), cmnd)
	}
	if err == nil && !on {
		// Read back: a rule or PulseTime may have undone it.
		if got, err = c.power(ctx, n); err == nil && got {
			err = fmt.Errorf("relay Power%d reads ON again right after switching off", n)
		}
	}
	return wrap(c.addr, op, err)
}

// FlipBackCommand is the Backlog that switches relay n off and, after off,
// on again: Delays of at most 3600 tenths, the off time rounded up.
func FlipBackCommand(n int, off time.Duration) (string, error) {
	tenths := int(math.Ceil(float64(off) / float64(100*time.Millisecond)))
	tenths = max(tenths, minDelayTenths)
	if off > MaxFlipBack {
		return "", fmt.Errorf("%w: an off time of %s is longer than one Backlog can wait (%s)", actuator.ErrFlipBackUnsupported, off, MaxFlipBack)
	}
	p := "Power" + strconv.Itoa(n)
	parts := []string{p + " OFF"}
	for tenths > 0 {
		d := min(tenths, maxDelayTenths)
		if rest := tenths - d; rest > 0 && rest < minDelayTenths {
			d -= minDelayTenths - rest // keep the last Delay valid
		}
		parts = append(parts, "Delay "+strconv.Itoa(d))
		tenths -= d
	}
	parts = append(parts, p+" ON")
	return "Backlog " + strings.Join(parts, "; "), nil
}

func (c *Client) offWithFlipBack(ctx context.Context, n int, off time.Duration) error {
	cmnd, err := FlipBackCommand(n, off)
	if err != nil {
		return err
	}
	if _, err := c.run(ctx, cmnd); err != nil {
		return err
	}
	// The Backlog runs after the answer: look until the relay is off.
	for try := 0; ; try++ {
		on, err := c.power(ctx, n)
		if err != nil {
			return fmt.Errorf("reading Power%d back after the Backlog: %w", n, err)
		}
		if !on {
			return nil
		}
		if try == readBackTries {
			return fmt.Errorf("relay Power%d still reads ON %s after the Backlog switching it off", n, readBackEvery*readBackTries)
		}
		t := time.NewTimer(readBackEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// ArmFlipBack checks the outlet answers and that the off time fits one
// Backlog; the next switch-off of the outlet carries the flip-back.
func (c *Client) ArmFlipBack(ctx context.Context, outlet string, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	op := "arm flip-back on outlet " + strconv.Quote(outlet)
	n, err := c.relay(ctx, outlet, true)
	if err != nil {
		return wrap(c.addr, op, err)
	}
	if _, err := FlipBackCommand(n, d); err != nil {
		return wrap(c.addr, op, err)
	}
	c.armed[n] = d
	return nil
}

// DisarmFlipBack forgets an arming not yet used. A Backlog already running
// is left to finish (see the package doc): what remains of it can only
// switch the outlet on, and the only way to stop it, an empty Backlog,
// would also drop commands others queued.
func (c *Client) DisarmFlipBack(ctx context.Context, outlet string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.relay(ctx, outlet, false)
	if err != nil {
		return wrap(c.addr, "disarm flip-back on outlet "+strconv.Quote(outlet), err)
	}
	delete(c.armed, n)
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
