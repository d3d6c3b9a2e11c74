package ipmi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/app"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/types"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/internal/clock"
)

// Privilege levels of Config.Privilege, as the IPMI spec names them.
const (
	PrivilegeUser          = "user"
	PrivilegeOperator      = "operator"
	PrivilegeAdministrator = "administrator"
)

var privileges = map[string]types.PrivilegeLevel{
	PrivilegeUser:          types.PrivilegeLevelUser,
	PrivilegeOperator:      types.PrivilegeLevelOperator,
	PrivilegeAdministrator: types.PrivilegeLevelAdministrator,
}

// How Switch(off) powers the server off (Config.PowerOff).
const (
	PowerOffHard = "hard" // Chassis Control power down: cut power at once
	PowerOffSoft = "soft" // Chassis Control soft shutdown (ACPI), then wait
)

// CipherSuites are the cipher suites the driver accepts: each
// authenticates, checks integrity and encrypts with AES-CBC-128 (IPMI v2.0
// table 22-20). Suites without integrity or encryption are refused.
var CipherSuites = []int{17, 3, 8, 12}

// DefaultCipherSuites are tried in order when the config names none:
// 17 (HMAC-SHA256) where the BMC has it, else 3 (HMAC-SHA1), which every
// IPMI v2.0 BMC implements.
var DefaultCipherSuites = []int{17, 3}

// Defaults.
const (
	DefaultPort           = 623
	DefaultTimeout        = 10 * time.Second
	DefaultSoftOffTimeout = 2 * time.Minute
	// maxPowerCycleInterval is the largest Set Power Cycle Interval (one
	// byte of seconds, IPMI v2.0 28.9).
	maxPowerCycleInterval = 255 * time.Second
	// softOffPoll is how often the chassis is read while the OS shuts down.
	softOffPoll = 2 * time.Second
)

// Config says how to reach one BMC.
type Config struct {
	Host string
	Port int // default 623
	// Username and Password are the BMC account.
	Username, Password string
	// Privilege is the session's level: user (read only), operator
	// (default; enough to switch power) or administrator.
	Privilege string
	// CipherSuites are tried in order (default DefaultCipherSuites).
	CipherSuites []int
	// PowerOff is PowerOffHard (default) or PowerOffSoft.
	PowerOff string
	// SoftOffTimeout bounds the wait for the OS to power off after the
	// ACPI request; past it the server is powered down hard.
	SoftOffTimeout time.Duration
	// Timeout bounds each call: opening the session, its commands and
	// closing it (default 10s).
	Timeout time.Duration
	Clock   clock.Clock
	Logger  *slog.Logger
}

// Client is one BMC. It is safe for concurrent use; calls to the BMC are
// serialised.
type Client struct {
	cfg    Config
	addr   string
	priv   types.PrivilegeLevel
	suites []types.CipherSuiteID
	log    *slog.Logger
	// sem holds one token while a session is open: BMCs allow only a few.
	sem chan struct{}
}

var (
	_ actuator.Plug            = (*Client)(nil)
	_ actuator.DeviceCycler    = (*Client)(nil)
	_ actuator.BMCStatusReader = (*Client)(nil)
)

// New checks cfg and builds the client; it does not connect yet.
func New(cfg Config) (*Client, error) {
	if cfg.Host == "" {
		return nil, errors.New("ipmi: host is empty")
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Username == "" {
		return nil, errors.New("ipmi: username is empty: a BMC needs an account")
	}
	if len(cfg.Username) > 16 {
		return nil, fmt.Errorf("ipmi: username %q is longer than the 16 bytes IPMI allows", cfg.Username)
	}
	if len(cfg.Password) > 20 {
		return nil, errors.New("ipmi: the password is longer than the 20 bytes IPMI v2.0 allows")
	}
	if cfg.Privilege == "" {
		cfg.Privilege = PrivilegeOperator
	}
	priv, ok := privileges[cfg.Privilege]
	if !ok {
		return nil, fmt.Errorf("ipmi: privilege %q: use user, operator or administrator", cfg.Privilege)
	}
	if len(cfg.CipherSuites) == 0 {
		cfg.CipherSuites = DefaultCipherSuites
	}
	var suites []types.CipherSuiteID
	for _, s := range cfg.CipherSuites {
		if err := checkCipherSuite(s); err != nil {
			return nil, fmt.Errorf("ipmi: %w", err)
		}
		suites = append(suites, types.CipherSuiteID(s))
	}
	switch cfg.PowerOff {
	case "":
		cfg.PowerOff = PowerOffHard
	case PowerOffHard, PowerOffSoft:
	default:
		return nil, fmt.Errorf("ipmi: power_off %q: use hard or soft", cfg.PowerOff)
	}
	if cfg.SoftOffTimeout <= 0 {
		cfg.SoftOffTimeout = DefaultSoftOffTimeout
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Client{cfg: cfg, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), priv: priv, suites: suites,
		log: cfg.Logger, sem: make(chan struct{}, 1)}, nil
}

// checkCipherSuite refuses the suites the driver does not speak.
func checkCipherSuite(s int) error {
	for _, ok := range CipherSuites {
		if s == ok {
			return nil
		}
	}
	return fmt.Errorf("cipher_suite %d: use one of 17, 3, 8, 12 (suites without integrity checks or AES would send the session in the clear)", s)
}

// exchangeTimeout is how long go-ipmi waits for one datagram before it
// sends it again (it tries 5 times): a fifth of the call's timeout, at most
// ipmitool's 1 s.
func (c *Client) exchangeTimeout() time.Duration {
	return min(max(c.cfg.Timeout/5, 100*time.Millisecond), time.Second)
}

// session runs fn in a session of its own, under the call's timeout. The
// go-ipmi calls run on a goroutine, so a library that ignored the deadline
// still could not hold the caller past it; a panic decoding the BMC's
// answer becomes an error. The caller gets fn's result as soon as it is
// known; the session is closed after that, still holding the BMC's slot,
// so the next call to this BMC starts once it is closed.
func (c *Client) session(ctx context.Context, what string, fn func(ctx context.Context, s *client.Client) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return c.wrap(what, fmt.Errorf("%w: another call to this BMC was still running (%w)", ErrUnreachable, ctx.Err()))
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-c.sem }()
		var s *client.Client
		done <- recovered(func() error {
			var err error
			if s, err = c.open(ctx); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			return fn(ctx, s)
		})
		if s != nil {
			// Close Session is a courtesy to the BMC, so it does not
			// hold a BMC with few session slots: bounded, and not an
			// error of the call.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
			defer cancel()
			if cerr := recovered(func() error { return s.Close(cctx) }); cerr != nil {
				c.log.Debug("closing the IPMI session failed", "bmc", c.addr, "err", cerr)
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			return c.wrap(what, err)
		}
		return nil
	case <-ctx.Done():
		return c.wrap(what, network(fmt.Errorf("gave up after %s: %w", c.cfg.Timeout, ctx.Err())))
	}
}

// recovered runs fn, turning a panic (go-ipmi decoding a BMC's answer)
// into an error.
func recovered(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoding it failed: %v", ErrBadAnswer, r)
		}
	}()
	return fn()
}

// open opens a session; nil and the classified error when it fails.
func (c *Client) open(ctx context.Context) (*client.Client, error) {
	s, err := client.NewClient(c.cfg.Host, c.cfg.Port, c.cfg.Username, c.cfg.Password)
	if err != nil {
		return nil, err
	}
	s.WithTimeout(c.exchangeTimeout()).WithRetry(4).WithMaxPrivilegeLevel(c.priv)
	s.WithCipherSuiteID(c.suites...)
	if err := s.Connect(ctx); err != nil {
		// Close only releases the socket here: there is no session.
		dead, cancel := context.WithCancel(context.Background())
		cancel()
		_ = recovered(func() error { return s.Close(dead) })
		return nil, classify(err, c.cfg.Username, c.cfg.Privilege, c.cfg.CipherSuites)
	}
	return s, nil
}

func (c *Client) wrap(what string, err error) error {
	return fmt.Errorf("BMC %s: %s: %w", c.addr, what, err)
}

// chassisStatus reads Get Chassis Status in a session.
func (c *Client) chassisStatus(ctx context.Context, s *client.Client) (*chassis.GetChassisStatusResponse, error) {
	st, err := s.GetChassisStatus(ctx)
	if err != nil {
		return nil, commandError("Get Chassis Status", c.cfg.Privilege, err)
	}
	return st, nil
}

// control sends one Chassis Control command in a session.
func (c *Client) control(ctx context.Context, s *client.Client, cc chassis.ChassisControl) error {
	if _, err := s.ChassisControl(ctx, cc); err != nil {
		return commandError("Chassis Control ("+controlName(cc)+")", c.cfg.Privilege, err)
	}
	return nil
}

func controlName(cc chassis.ChassisControl) string {
	switch cc {
	case chassis.ChassisControlPowerDown:
		return "power down"
	case chassis.ChassisControlPowerUp:
		return "power up"
	case chassis.ChassisControlPowerCycle:
		return "power cycle"
	case chassis.ChassisControlHardReset:
		return "hard reset"
	case chassis.ChassisControlSoftShutdown:
		return "soft shutdown"
	}
	return fmt.Sprintf("%#02x", uint8(cc))
}

// power is the chassis power state.
func (c *Client) power(ctx context.Context) (bool, error) {
	var on bool
	err := c.session(ctx, "reading the chassis status", func(ctx context.Context, s *client.Client) error {
		st, err := c.chassisStatus(ctx, s)
		if err != nil {
			return err
		}
		on = st.PowerIsOn
		return nil
	})
	return on, err
}

// Status reads the chassis: one outlet, on when the chassis power is on.
func (c *Client) Status(ctx context.Context) (actuator.Status, error) {
	var st *chassis.GetChassisStatusResponse
	var dev *app.GetDeviceIDResponse
	err := c.session(ctx, "reading the chassis status", func(ctx context.Context, s *client.Client) error {
		var err error
		if st, err = c.chassisStatus(ctx, s); err != nil {
			return err
		}
		// The model is a nicety: a BMC that refuses Get Device ID still
		// has a power state.
		dev, _ = s.GetDeviceID(ctx)
		return nil
	})
	if err != nil {
		return actuator.Status{}, err
	}
	return statusOf(st, dev), nil
}

// statusOf maps the BMC's answers onto a plug status.
func statusOf(st *chassis.GetChassisStatusResponse, dev *app.GetDeviceIDResponse) actuator.Status {
	out := actuator.Status{Protocol: "ipmi", Alias: "chassis",
		Outlets: []actuator.Outlet{{ID: "", Alias: "chassis", On: st.PowerIsOn}}}
	if dev != nil {
		out.Model = fmt.Sprintf("IPMI %d.%d BMC, manufacturer %d, product %#04x", dev.MajorIPMIVersion, dev.MinorIPMIVersion,
			dev.ManufacturerID, dev.ProductID)
		out.SWVersion = fmt.Sprintf("%d.%02x", dev.MajorFirmwareRevision, dev.MinorFirmwareRevision)
		out.HWVersion = strconv.Itoa(int(dev.DeviceRevision))
	}
	return out
}

// BMCStatus is the chassis power and its faults, for the bmc probe. IPMI
// has no health rollup: a chassis fault reads as Warning, which does not
// make the probe fail (cycling does not mend a failed fan or supply).
func (c *Client) BMCStatus(ctx context.Context) (actuator.BMCStatus, error) {
	var st *chassis.GetChassisStatusResponse
	err := c.session(ctx, "reading the chassis status", func(ctx context.Context, s *client.Client) error {
		var err error
		st, err = c.chassisStatus(ctx, s)
		return err
	})
	if err != nil {
		return actuator.BMCStatus{}, err
	}
	return bmcStatusOf(st), nil
}

func bmcStatusOf(st *chassis.GetChassisStatusResponse) actuator.BMCStatus {
	health := "OK"
	if len(faults(st)) > 0 {
		health = "Warning"
	}
	return actuator.BMCStatus{PowerOn: st.PowerIsOn, Health: health}
}

// faults lists the chassis faults Get Chassis Status reports.
func faults(st *chassis.GetChassisStatusResponse) []string {
	var f []string
	for _, x := range []struct {
		on   bool
		name string
	}{
		{st.PowerFault, "power fault"}, {st.PowerControlFault, "power control fault"},
		{st.PowerOverload, "power overload"}, {st.InterLock, "interlock"},
		{st.CollingFanFault, "cooling fan fault"}, {st.DriveFault, "drive fault"},
	} {
		if x.on {
			f = append(f, x.name)
		}
	}
	return f
}

// Switch powers the server up, or down: at once (power_off: hard), or
// through the OS's ACPI shutdown (power_off: soft).
func (c *Client) Switch(ctx context.Context, outlet string, on bool) error {
	if err := checkOutlet(outlet); err != nil {
		return c.wrap("switching", err)
	}
	if on {
		return c.session(ctx, "powering up", func(ctx context.Context, s *client.Client) error {
			return c.control(ctx, s, chassis.ChassisControlPowerUp)
		})
	}
	if c.cfg.PowerOff == PowerOffSoft {
		return c.SoftOff(ctx)
	}
	return c.powerDown(ctx)
}

func (c *Client) powerDown(ctx context.Context) error {
	return c.session(ctx, "powering down", func(ctx context.Context, s *client.Client) error {
		return c.control(ctx, s, chassis.ChassisControlPowerDown)
	})
}

// SoftOff asks the OS to shut down (ACPI soft-off, Chassis Control 05h) and
// returns once the chassis reports power off. If the OS has not powered off
// within the soft-off timeout, or ctx ends first, it powers the server down
// hard: an OS still shutting down when we switch on again would end up off
// for good, so SoftOff never returns with the shutdown still running.
func (c *Client) SoftOff(ctx context.Context) error {
	var on bool
	err := c.session(ctx, "asking the OS to shut down (soft off)", func(ctx context.Context, s *client.Client) error {
		st, err := c.chassisStatus(ctx, s)
		if err != nil {
			return err
		}
		if on = st.PowerIsOn; !on {
			return nil
		}
		return c.control(ctx, s, chassis.ChassisControlSoftShutdown)
	})
	if err != nil || !on {
		return err
	}
	c.log.Info("soft off sent; waiting for the OS to power off", "bmc", c.addr, "soft_off_timeout", c.cfg.SoftOffTimeout)
	deadline := c.cfg.Clock.NewTimer(c.cfg.SoftOffTimeout)
	defer deadline.Stop()
	reason := ""
	for reason == "" {
		t := c.cfg.Clock.NewTimer(softOffPoll)
		select {
		case <-t.C():
			off, err := c.power(ctx)
			if err == nil && !off {
				c.log.Info("the OS powered the server off", "bmc", c.addr)
				return nil
			}
			if err != nil {
				c.log.Warn("reading the chassis during the soft off failed", "bmc", c.addr, "err", err)
			}
			continue
		case <-deadline.C():
			reason = fmt.Sprintf("the OS did not power off within %s of the ACPI request", c.cfg.SoftOffTimeout)
		case <-ctx.Done():
			reason = "interrupted while the OS shuts down"
		}
		t.Stop()
	}
	c.log.Warn(reason+"; powering down hard", "bmc", c.addr)
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
	defer cancel()
	if err := c.powerDown(hctx); err != nil {
		return fmt.Errorf("%s, and powering down hard failed: %w", reason, err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s; powered down hard: %w", reason, ctx.Err())
	}
	return nil
}

// CanDeviceCycle: the BMC cycles power itself, unless power_off: soft asks
// for the OS's shutdown first or the server is off (IPMI v2.0 28.3: a power
// cycle of a server that is off should do nothing and answer D5h).
func (c *Client) CanDeviceCycle(ctx context.Context, outlet string) error {
	if err := checkOutlet(outlet); err != nil {
		return c.wrap("checking the power cycle", err)
	}
	if c.cfg.PowerOff == PowerOffSoft {
		return fmt.Errorf("%w: power_off: soft asks the OS to shut down first; restartinator powers the server up again itself after the off time, and no BMC timer brings power back if it stops in between",
			actuator.ErrDeviceCycleUnsupported)
	}
	on, err := c.power(ctx)
	if err != nil {
		return err
	}
	if !on {
		return fmt.Errorf("%w: the server is powered off, and a BMC power cycle does nothing then (IPMI completion code D5h); restartinator powers it up itself",
			actuator.ErrDeviceCycleUnsupported)
	}
	return nil
}

// DeviceCycle sets the BMC's power cycle interval to off (whole seconds,
// 1 to 255) when the BMC takes Set Power Cycle Interval, then sends Chassis
// Control power cycle. It returns the interval set, or 0 when the BMC
// refused to set one (IPMI has no command to read it back).
func (c *Client) DeviceCycle(ctx context.Context, outlet string, off time.Duration) (time.Duration, error) {
	if err := checkOutlet(outlet); err != nil {
		return 0, c.wrap("power cycle", err)
	}
	secs := min(max((off+time.Second-1)/time.Second, 1), maxPowerCycleInterval/time.Second)
	var interval time.Duration
	err := c.session(ctx, "power cycle", func(ctx context.Context, s *client.Client) error {
		if _, err := s.SetPowerCycleInterval(ctx, uint8(secs)); err != nil {
			err = commandError(fmt.Sprintf("Set Power Cycle Interval %d s", secs), c.cfg.Privilege, err)
			var ce *CompletionError
			if !errors.As(err, &ce) {
				return err
			}
			// Optional command (IPMI v2.0 28.9): the BMC keeps its own.
			c.log.Info("the BMC keeps its own power cycle interval", "bmc", c.addr, "answer", err)
		} else {
			interval = time.Duration(secs) * time.Second
		}
		return c.control(ctx, s, chassis.ChassisControlPowerCycle)
	})
	if err != nil {
		return 0, err
	}
	c.log.Info("IPMI chassis power cycle sent", "bmc", c.addr, "power_cycle_interval", interval)
	return interval, nil
}

// ArmFlipBack: an IPMI BMC has no timer that powers the server on again
// (its power cycle is the DeviceCycler path).
func (c *Client) ArmFlipBack(context.Context, string, time.Duration) error {
	return fmt.Errorf("%w: an IPMI BMC has no timer that powers the server back on by itself, only its power cycle", actuator.ErrFlipBackUnsupported)
}

// DisarmFlipBack has nothing to remove.
func (c *Client) DisarmFlipBack(context.Context, string) error { return nil }

// API names the interface for plug status: IPMI v2.0 over LAN.
func (c *Client) API() string { return "lanplus" }

// Close waits, at most the plug's timeout, for a session still being
// closed: every call closes its own.
func (c *Client) Close() error {
	t := time.NewTimer(c.cfg.Timeout)
	defer t.Stop()
	select {
	case c.sem <- struct{}{}:
		<-c.sem
	case <-t.C:
	}
	return nil
}

// checkOutlet: a BMC has one chassis.
func checkOutlet(outlet string) error {
	switch strings.ToLower(outlet) {
	case "", "0", "chassis":
		return nil
	}
	return fmt.Errorf("%w: outlet %q: a BMC has one chassis (leave outlet empty)", actuator.ErrOutletNotFound, outlet)
}
