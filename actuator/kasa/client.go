package kasa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/internal/clock"
)

// Protocols a Client can speak.
const (
	ProtocolAuto = "auto"
	ProtocolXOR  = "xor"
	ProtocolKLAP = "klap"
	ProtocolAES  = "aes"
)

// Default ports by protocol.
const (
	PortXOR  = 9999
	PortKLAP = 80
	PortAES  = 80
)

// MinFlipBack is the shortest countdown armed: users report that firmware
// never runs countdowns of 2–3 s. A shorter off time still ends with our own
// switch-on; the plug's timer then fires on an outlet already on.
const MinFlipBack = 5 * time.Second

// Options configures a Client.
type Options struct {
	Host string
	// Port overrides the protocol's default port (9999 for XOR, 80 for KLAP).
	// With ProtocolAuto, both protocols are tried on it.
	Port int
	// Protocol is "auto" (default), "xor", "klap" or "aes". Auto tries XOR,
	// then KLAP, then AES, and remembers what answered.
	Protocol string
	// Credentials for KLAP and AES; without them the default accounts are
	// tried.
	Credentials *Credentials
	// LoginVersion is the AES login_device form (1 or 2) when discovery
	// announced it; 0 tries both.
	LoginVersion int
	// Timeout bounds each request (default 5s); a context deadline may be
	// shorter.
	Timeout time.Duration
	// RetryDelay is the wait before another try after a transient failure
	// (default 1s, as python-kasa waits).
	RetryDelay time.Duration
	// Name is the configured plug name, used in errors and logs.
	Name   string
	Clock  clock.Clock
	Logger *slog.Logger
}

// api is one of the two JSON APIs over an established transport.
type api interface {
	kind() string
	info(ctx context.Context) (actuator.Status, error) // without energy
	status(ctx context.Context) (actuator.Status, error)
	setOn(ctx context.Context, o actuator.Outlet, on bool) error
	armFlipBack(ctx context.Context, o actuator.Outlet, secs int) error
	disarmFlipBack(ctx context.Context, o actuator.Outlet) error
	// checkFlipBack reads the rules back: is a flip-back armed, and how long
	// has it left?
	checkFlipBack(ctx context.Context, o actuator.Outlet) (time.Duration, bool, error)
}

// Client is a Kasa plug or strip. It implements actuator.Plug and is safe for
// concurrent use; requests to one plug go one at a time, as the devices want.
type Client struct {
	opt Options

	mu      sync.Mutex
	t       transport
	api     api
	port    int
	outlets *actuator.Status // last outlet list, to resolve selectors
	// asked: protocol auto has asked the plug by discovery; found is its
	// answer, nil when it gave none.
	asked bool
	found *Discovered
}

var (
	_ actuator.Plug             = (*Client)(nil)
	_ actuator.FlipBackVerifier = (*Client)(nil)
)

// New returns a client for one plug. It does not connect until used.
func New(opt Options) (*Client, error) {
	switch opt.Protocol {
	case "":
		opt.Protocol = ProtocolAuto
	case ProtocolAuto, ProtocolXOR, ProtocolKLAP, ProtocolAES:
	default:
		return nil, fmt.Errorf("kasa: unknown protocol %q (want auto, xor, klap or aes)", opt.Protocol)
	}
	if opt.Host == "" {
		return nil, errors.New("kasa: no host given")
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 5 * time.Second
	}
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.RetryDelay <= 0 {
		opt.RetryDelay = time.Second
	}
	return &Client{opt: opt}, nil
}

// Protocol is the transport in use ("xor" or "klap"), or "" before the first
// successful contact when auto-detecting.
func (c *Client) Protocol() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t == nil {
		if c.opt.Protocol == ProtocolAuto {
			return ""
		}
		return c.opt.Protocol
	}
	return c.t.name()
}

// API is the JSON API the plug speaks ("iot" or "smart"), once known.
func (c *Client) API() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.api == nil {
		return ""
	}
	return c.api.kind()
}

func (c *Client) portFor(proto string) int {
	if c.opt.Port != 0 {
		return c.opt.Port
	}
	if c.found != nil && c.found.Protocol == proto && c.found.Port != 0 {
		return c.found.Port
	}
	switch proto {
	case ProtocolKLAP:
		return PortKLAP
	case ProtocolAES:
		return PortAES
	}
	return PortXOR
}

// label names the plug in errors: host:port, with the configured name.
func (c *Client) label() string {
	addr := c.opt.Host
	if c.port != 0 {
		addr = net.JoinHostPort(c.opt.Host, strconv.Itoa(c.port))
	} else if c.opt.Protocol != ProtocolAuto || c.opt.Port != 0 {
		addr = net.JoinHostPort(c.opt.Host, strconv.Itoa(c.portFor(c.opt.Protocol)))
	}
	if c.opt.Name != "" {
		return strconv.Quote(c.opt.Name) + " (" + addr + ")"
	}
	return addr
}

func (c *Client) addr(proto string) string {
	return net.JoinHostPort(c.opt.Host, strconv.Itoa(c.portFor(proto)))
}

// connect picks the transport and API, detecting them when asked to. Called
// with c.mu held.
func (c *Client) connect(ctx context.Context) error {
	if c.api != nil {
		return nil
	}
	switch c.opt.Protocol {
	case ProtocolXOR:
		c.use(newXORTransport(c.addr(ProtocolXOR), c.opt.Timeout), nil, ProtocolXOR)
		return nil
	case ProtocolKLAP:
		return c.connectKLAP(ctx)
	case ProtocolAES:
		return c.connectAES(ctx)
	}
	if d := c.discover(ctx); d != nil {
		c.opt.Logger.Debug("plug said which transport it speaks", "plug", c.label(), "family", d.Family, "encryption", d.Encryption, "login_version", d.LoginVersion)
		switch {
		case !d.Supported:
			return fmt.Errorf("%w: the plug %s", errUnsupportedTransport, d.Note)
		case d.Protocol == ProtocolXOR:
			c.use(newXORTransport(c.addr(ProtocolXOR), c.opt.Timeout), nil, ProtocolXOR)
			return nil
		case d.Protocol == ProtocolKLAP:
			return c.connectKLAP(ctx)
		case d.Protocol == ProtocolAES:
			return c.connectAES(ctx)
		}
	}
	xt := newXORTransport(c.addr(ProtocolXOR), c.opt.Timeout)
	xa := newIOTAPI(xt)
	st, xerr := xa.info(ctx)
	var de *DeviceError
	if xerr == nil || errors.As(xerr, &de) || errors.Is(xerr, ErrNotAPlug) {
		c.use(xt, xa, ProtocolXOR)
		if xerr == nil {
			c.outlets = &st
		}
		return xerr
	}
	_ = xt.close()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	kerr := c.connectKLAP(ctx)
	if kerr == nil {
		return nil
	}
	if !errors.Is(kerr, errProtocol) || ctx.Err() != nil {
		c.port = 0
		return fmt.Errorf("no answer over XOR on port %d (%w) nor over KLAP on port %d (%w)",
			c.portFor(ProtocolXOR), xerr, c.portFor(ProtocolKLAP), kerr)
	}
	// An HTTP server that does not speak KLAP: older SMART firmware speaks
	// AES securePassthrough on the same port.
	aerr := c.connectAES(ctx)
	if aerr == nil {
		return nil
	}
	c.port = 0
	return fmt.Errorf("no answer over XOR on port %d (%w), KLAP on port %d (%w) nor AES (%w)",
		c.portFor(ProtocolXOR), xerr, c.portFor(ProtocolKLAP), kerr, aerr)
}

// discoveryWait bounds how long protocol auto waits for the plug's
// discovery answer before trying the transports in turn.
const discoveryWait = time.Second

// discover asks the plug itself, once, which transport it speaks: both
// discovery probes to its address (and its configured port), the first
// answer kept. Nil when it did not answer; the transports are then tried in
// turn. Called with c.mu held.
func (c *Client) discover(ctx context.Context) *Discovered {
	if c.asked {
		return c.found
	}
	c.asked = true
	ip := net.ParseIP(c.opt.Host)
	if ip == nil {
		addrs, err := net.DefaultResolver.LookupIP(ctx, "ip4", c.opt.Host)
		if err != nil || len(addrs) == 0 {
			return nil
		}
		ip = addrs[0]
	}
	if ip.To4() == nil {
		return nil
	}
	ports := []int{DiscoveryPortXOR, DiscoveryPortTDP}
	if c.opt.Port != 0 && c.opt.Port != DiscoveryPortXOR {
		ports = append(ports, c.opt.Port)
	}
	found, err := Discover(ctx, DiscoverOptions{Broadcast: ip.String(), Ports: ports, First: true,
		Timeout: min(c.opt.Timeout, discoveryWait), Logger: c.opt.Logger})
	if err != nil || len(found) == 0 {
		return nil
	}
	c.found = &found[0]
	return c.found
}

// errUnsupportedTransport: the plug said it speaks a transport we do not.
var errUnsupportedTransport = errors.New("unsupported transport")

// connectAES logs in over AES securePassthrough; only the SMART API runs
// over it.
func (c *Client) connectAES(ctx context.Context) error {
	lv := c.opt.LoginVersion
	if lv == 0 && c.found != nil && c.found.Protocol == ProtocolAES {
		lv = c.found.LoginVersion
		if lv == 0 {
			lv = 1 // no "lv" in the answer: python-kasa sends the v1 form
		}
	}
	at := newAESTransport(c.addr(ProtocolAES), c.opt.Timeout, c.opt.Credentials, lv, c.opt.Clock, c.opt.Logger)
	sa := newSMARTAPI(at)
	st, err := sa.info(ctx)
	if err == nil || errors.Is(err, ErrNotAPlug) {
		c.use(at, sa, ProtocolAES)
		if err == nil {
			c.outlets = &st
		}
		return err
	}
	_ = at.close() // a failed login leaves nothing to keep
	return err
}

// connectKLAP handshakes and finds which API the device speaks over KLAP:
// SMART (KP125M, Tapo) or IOT (HS100 v4.1 and other old models on new
// firmware).
func (c *Client) connectKLAP(ctx context.Context) error {
	kt := newKLAPTransport(c.addr(ProtocolKLAP), c.opt.Timeout, c.opt.Credentials, c.opt.Clock, c.opt.Logger)
	sa := newSMARTAPI(kt)
	st, serr := sa.info(ctx)
	if serr == nil || errors.Is(serr, ErrNotAPlug) {
		c.use(kt, sa, ProtocolKLAP)
		if serr == nil {
			c.outlets = &st
		}
		return serr
	}
	if !errors.Is(serr, errProtocol) && !isDeviceErr(serr) {
		_ = kt.close()
		return serr
	}
	ia := newIOTAPI(kt)
	st, ierr := ia.info(ctx)
	if ierr == nil || isDeviceErr(ierr) || errors.Is(ierr, ErrNotAPlug) {
		c.use(kt, ia, ProtocolKLAP)
		if ierr == nil {
			c.outlets = &st
		}
		return ierr
	}
	_ = kt.close()
	return fmt.Errorf("KLAP device speaks neither the SMART API (%v) nor the IOT API (%w)", serr, ierr)
}

func isDeviceErr(err error) bool {
	var de *DeviceError
	return errors.As(err, &de)
}

func (c *Client) use(t transport, a api, proto string) {
	if a == nil {
		a = newIOTAPI(t)
	}
	c.t, c.api, c.port = t, a, c.portFor(proto)
	c.opt.Logger.Debug("plug protocol chosen", "plug", c.label(), "protocol", proto, "api", a.kind())
}

// Status reads the plug: identity, relay state of each outlet and energy.
func (c *Client) Status(ctx context.Context) (actuator.Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var st actuator.Status
	err := c.retry(ctx, "status", transientAnswer, func() error {
		if err := c.connect(ctx); err != nil {
			return err
		}
		var err error
		st, err = c.api.status(ctx)
		return err
	})
	if err != nil {
		return st, wrap(c.label(), "status", err)
	}
	st.Protocol = c.t.name()
	c.outlets = &st
	return st, nil
}

// resolve finds the outlet sel names, reading the outlet list when it is not
// known yet or sel is not in the one we have.
func (c *Client) resolve(ctx context.Context, sel string) (actuator.Outlet, error) {
	if c.outlets != nil {
		if o, err := actuator.SelectOutlet(*c.outlets, sel); err == nil {
			return o, nil
		}
	}
	st, err := c.api.info(ctx)
	if err != nil {
		return actuator.Outlet{}, err
	}
	c.outlets = &st
	return actuator.SelectOutlet(st, sel)
}

// outletOp runs fn on the outlet sel names, trying again on a fresh session
// after the failures retryable calls transient.
func (c *Client) outletOp(ctx context.Context, op, sel string, retryable func(error) bool, fn func(actuator.Outlet) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sel != "" {
		op += " (outlet " + strconv.Quote(sel) + ")"
	}
	return wrap(c.label(), op, c.retry(ctx, op, retryable, func() error {
		if err := c.connect(ctx); err != nil {
			return err
		}
		o, err := c.resolve(ctx, sel)
		if err != nil {
			return err
		}
		return fn(o)
	}))
}

// retry runs fn through the package's one retry loop: a transient failure
// drops the session (the next request handshakes again) and tries again.
// Called with c.mu held.
func (c *Client) retry(ctx context.Context, op string, retryable func(error) bool, fn func() error) error {
	tries, err := retry(ctx, c.opt.RetryDelay, c.sleep, func() {
		if c.t != nil {
			_ = c.t.close() // only drops the session; the next try connects anew
		}
	}, func(err error) bool {
		if !retryable(err) {
			return false
		}
		c.opt.Logger.Debug("transient failure, trying again on a new session", "plug", c.label(), "op", op, "err", err)
		return true
	}, fn)
	if tries > 1 && err == nil {
		c.opt.Logger.Info("plug answered after retries", "plug", c.label(), "op", op, "tries", tries)
	}
	return err
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	t := c.opt.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Switch turns an outlet on or off.
func (c *Client) Switch(ctx context.Context, outlet string, on bool) error {
	op := "switch off"
	if on {
		op = "switch on"
	}
	return c.outletOp(ctx, op, outlet, transientAnswer, func(o actuator.Outlet) error {
		c.opt.Logger.Debug("switching outlet", "plug", c.label(), "outlet", o.Alias, "on", on)
		return c.api.setOn(ctx, o, on)
	})
}

// ArmFlipBack sets the plug's own countdown to switch the outlet on after d
// (rounded up to whole seconds) and reads it back. It returns an error
// wrapping actuator.ErrFlipBackUnsupported only when the plug says it has
// no countdown; transient failures (timeouts, session errors) are tried
// again on a fresh session, Retries times; any other error comes back with
// the device's code and message, and the cycle must not switch off.
func (c *Client) ArmFlipBack(ctx context.Context, outlet string, d time.Duration) error {
	if d < MinFlipBack {
		c.opt.Logger.Warn("flip-back timer raised to the shortest the firmware is known to run", "plug", c.label(), "asked", d, "armed", MinFlipBack)
		d = MinFlipBack
	}
	secs := int((d + time.Second - 1) / time.Second)
	// Nothing has been switched yet, so even a lost answer is safe to repeat.
	return c.outletOp(ctx, "arm flip-back timer", outlet, transientOrNetwork, func(o actuator.Outlet) error {
		return c.api.armFlipBack(ctx, o, secs)
	})
}

// FlipBackArmed reads the plug's countdown rules: is a timer armed that will
// switch the outlet on, and how long has it left? It implements
// actuator.FlipBackVerifier.
func (c *Client) FlipBackArmed(ctx context.Context, outlet string) (time.Duration, bool, error) {
	var left time.Duration
	var armed bool
	err := c.outletOp(ctx, "read flip-back timer", outlet, transientAnswer, func(o actuator.Outlet) error {
		var err error
		left, armed, err = c.api.checkFlipBack(ctx, o)
		return err
	})
	return left, armed, err
}

// DisarmFlipBack removes the countdown set by ArmFlipBack.
func (c *Client) DisarmFlipBack(ctx context.Context, outlet string) error {
	return c.outletOp(ctx, "remove flip-back timer", outlet, transientAnswer, func(o actuator.Outlet) error {
		return c.api.disarmFlipBack(ctx, o)
	})
}

// Close drops the connection or session. The client stays usable; the next
// call connects again with the protocol it found.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t == nil {
		return nil
	}
	return c.t.close()
}
