package snmppdu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/restartinator/restartinator/actuator"
)

// SNMP versions of Config.Version.
const (
	V1  = "1"
	V2c = "2c"
	V3  = "3"
)

const (
	sysDescr    = "1.3.6.1.2.1.1.1.0"
	sysObjectID = "1.3.6.1.2.1.1.2.0"
	sysName     = "1.3.6.1.2.1.1.5.0"
)

// Config says how to reach one PDU.
type Config struct {
	Host string
	Port int // default 161
	// Version is V1, V2c (default) or V3.
	Version string
	// Community is the v1/v2c community; it must be one that may write
	// (APC ships "private"). Default "private".
	Community string
	// v3 user-based security: Username, and AuthPassword with AuthProtocol
	// (SHA or MD5) for authNoPriv, plus PrivPassword with PrivProtocol (AES
	// or DES) for authPriv.
	Username, AuthProtocol, AuthPassword string
	PrivProtocol, PrivPassword           string
	// ContextName is the SNMPv3 context (empty for APC PDUs).
	ContextName string
	Timeout     time.Duration // per request, default 3s
	Retries     int           // default 1
	// RebootDuration, when not 0, is written to the outlet's reboot
	// duration before a power cycle if the PDU has another.
	RebootDuration time.Duration
	Logger         *slog.Logger
}

// Client is one PDU. It is safe for concurrent use; requests to the PDU go
// one at a time.
type Client struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	family *Family // learnt from sysObjectID at the first request
}

var (
	_ actuator.Plug         = (*Client)(nil)
	_ actuator.DeviceCycler = (*Client)(nil)
)

// New checks cfg and returns a client; it does not talk to the PDU yet.
func New(cfg Config) (*Client, error) {
	if cfg.Host == "" {
		return nil, errors.New("snmp_pdu: host is empty")
	}
	if cfg.Port == 0 {
		cfg.Port = 161
	}
	if cfg.Version == "" {
		cfg.Version = V2c
	}
	if cfg.Community == "" {
		cfg.Community = "private"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	switch cfg.Version {
	case V1, V2c:
	case V3:
		if cfg.Username == "" {
			return nil, errors.New("snmp_pdu: version 3 needs username (the PDU's SNMPv3 user)")
		}
		if cfg.PrivPassword != "" && cfg.AuthPassword == "" {
			return nil, errors.New("snmp_pdu: priv_password needs password too (SNMPv3 has no privacy without authentication)")
		}
		if _, err := authProtocol(cfg.AuthProtocol); err != nil {
			return nil, err
		}
		if _, err := privProtocol(cfg.PrivProtocol); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("snmp_pdu: version %q: use 1, 2c or 3", cfg.Version)
	}
	return &Client{cfg: cfg, log: cfg.Logger}, nil
}

func authProtocol(s string) (gosnmp.SnmpV3AuthProtocol, error) {
	switch strings.ToUpper(s) {
	case "", "SHA":
		return gosnmp.SHA, nil
	case "MD5":
		return gosnmp.MD5, nil
	case "SHA-224", "SHA224":
		return gosnmp.SHA224, nil
	case "SHA-256", "SHA256":
		return gosnmp.SHA256, nil
	}
	return 0, fmt.Errorf("snmp_pdu: auth_protocol %q: use SHA, MD5, SHA-224 or SHA-256", s)
}

func privProtocol(s string) (gosnmp.SnmpV3PrivProtocol, error) {
	switch strings.ToUpper(s) {
	case "", "AES":
		return gosnmp.AES, nil
	case "DES":
		return gosnmp.DES, nil
	}
	return 0, fmt.Errorf("snmp_pdu: priv_protocol %q: use AES or DES", s)
}

func (c *Client) addr() string { return net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.cfg.Port)) }

// session opens a UDP session bound to ctx.
func (c *Client) session(ctx context.Context) (*gosnmp.GoSNMP, error) {
	g := &gosnmp.GoSNMP{
		Target:    c.cfg.Host,
		Port:      uint16(c.cfg.Port),
		Community: c.cfg.Community,
		Timeout:   c.cfg.Timeout,
		Retries:   c.cfg.Retries,
		Context:   ctx,
		MaxOids:   gosnmp.MaxOids,
	}
	switch c.cfg.Version {
	case V1:
		g.Version = gosnmp.Version1
	case V2c:
		g.Version = gosnmp.Version2c
	case V3:
		g.Version = gosnmp.Version3
		g.SecurityModel = gosnmp.UserSecurityModel
		usm := &gosnmp.UsmSecurityParameters{UserName: c.cfg.Username}
		g.MsgFlags = gosnmp.NoAuthNoPriv
		if c.cfg.AuthPassword != "" {
			usm.AuthenticationProtocol, _ = authProtocol(c.cfg.AuthProtocol) // checked in New
			usm.AuthenticationPassphrase = c.cfg.AuthPassword
			g.MsgFlags = gosnmp.AuthNoPriv
		}
		if c.cfg.PrivPassword != "" {
			usm.PrivacyProtocol, _ = privProtocol(c.cfg.PrivProtocol) // checked in New
			usm.PrivacyPassphrase = c.cfg.PrivPassword
			g.MsgFlags = gosnmp.AuthPriv
		}
		g.SecurityParameters = usm
		g.ContextName = c.cfg.ContextName
	}
	if err := g.Connect(); err != nil {
		return nil, c.wrap(err)
	}
	return g, nil
}

// wrap names the PDU and says what to check.
func (c *Client) wrap(err error) error {
	hint := ""
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout(), strings.Contains(err.Error(), "timeout"):
		hint = " — is the PDU on the network, SNMP enabled, and the community or v3 user right? (a wrong community or SNMPv3 privacy password gets no answer at all)"
	// The PDU's SNMPv3 reports (RFC 3414 usmStats*), as gosnmp names them.
	case errors.Is(err, gosnmp.ErrWrongDigest):
		hint = " — the PDU says the authentication password or auth_protocol is wrong for this user"
	case errors.Is(err, gosnmp.ErrUnknownUsername):
		hint = " — the PDU has no SNMPv3 user of this name"
	case errors.Is(err, gosnmp.ErrUnknownSecurityLevel):
		hint = " — the PDU's user has no privacy (or no authentication) protocol: leave out priv_password (or password) as its profile says"
	case strings.Contains(err.Error(), "not authentic"):
		// The PDU's Report of a wrong digest or unknown user is, as RFC
		// 3414 says, unauthenticated, and gosnmp (rightly) does not trust
		// one once it knows the engine: it cannot tell which it was.
		hint = " — the PDU refused the SNMPv3 credentials: check username, password and auth_protocol"
	case errors.Is(err, gosnmp.ErrDecryption):
		hint = " — the PDU could not decrypt the request: check priv_protocol"
	case strings.Contains(err.Error(), "authentication"), strings.Contains(err.Error(), "unknown user"):
		hint = " — check the SNMPv3 user, passwords and protocols"
	}
	return fmt.Errorf("PDU %s over SNMP v%s: %w%s", c.addr(), c.cfg.Version, err, hint)
}

// get reads OIDs, checking the answer's error status.
func (c *Client) get(g *gosnmp.GoSNMP, oids ...string) ([]gosnmp.SnmpPDU, error) {
	res, err := g.Get(oids)
	if err != nil {
		return nil, c.wrap(err)
	}
	if res.Error != gosnmp.NoError {
		return nil, c.wrap(fmt.Errorf("%w: GET %s: error status %s", ErrBadAnswer, strings.Join(oids, " "), res.Error))
	}
	if len(res.Variables) != len(oids) {
		return nil, c.wrap(fmt.Errorf("%w: GET of %d OIDs answered with %d", ErrBadAnswer, len(oids), len(res.Variables)))
	}
	return res.Variables, nil
}

// set writes one INTEGER.
func (c *Client) set(g *gosnmp.GoSNMP, oid string, v int) error {
	res, err := g.Set([]gosnmp.SnmpPDU{{Name: oid, Type: gosnmp.Integer, Value: v}})
	if err != nil {
		return c.wrap(err)
	}
	if res.Error != gosnmp.NoError {
		hint := ""
		if res.Error == gosnmp.NoAccess || res.Error == gosnmp.NotWritable || res.Error == gosnmp.AuthorizationError || res.Error == gosnmp.ReadOnly {
			hint = " — the community or user may only read; APC's write community is private by default"
		}
		return c.wrap(fmt.Errorf("SET %s = %d refused: error status %s%s", oid, v, res.Error, hint))
	}
	return nil
}

// walk reads one table column.
func (c *Client) walk(g *gosnmp.GoSNMP, column string) ([]gosnmp.SnmpPDU, error) {
	var out []gosnmp.SnmpPDU
	var err error
	if g.Version == gosnmp.Version1 {
		out, err = g.WalkAll(column)
	} else {
		out, err = g.BulkWalkAll(column)
	}
	if err != nil {
		return nil, c.wrap(err)
	}
	return out, nil
}

// ident reads what the PDU is and learns its family.
func (c *Client) ident(g *gosnmp.GoSNMP) (Family, string, error) {
	vs, err := c.get(g, sysObjectID, sysDescr, sysName)
	if err != nil {
		return Family{}, "", err
	}
	id, err := oidValue(vs[0])
	if err != nil {
		return Family{}, "", c.wrap(err)
	}
	descr, _ := stringValue(vs[1]) // descriptive only
	name, _ := stringValue(vs[2])
	f, err := FamilyOf(id)
	if err != nil {
		return Family{}, "", c.wrap(err)
	}
	c.family = &f
	model := descr
	if name != "" {
		model = name + ": " + descr
	}
	return f, model, nil
}

// outlets reads the state and name columns.
func (c *Client) outlets(g *gosnmp.GoSNMP, f Family) ([]actuator.Outlet, error) {
	states, err := c.walk(g, f.StatusColumn)
	if err != nil {
		return nil, err
	}
	names, err := c.walk(g, f.NameColumn)
	if err != nil {
		return nil, err
	}
	return parseOutlets(f, states, names)
}

// parseOutlets builds the outlets from the walked state and name columns:
// outlet N has ID "N" (the PDU's number) and its name as alias.
func parseOutlets(f Family, states, names []gosnmp.SnmpPDU) ([]actuator.Outlet, error) {
	alias := map[int]string{}
	for _, v := range names {
		if n, ok := rowOf(v.Name, f.NameColumn); ok {
			if s, err := stringValue(v); err == nil {
				alias[n] = s
			}
		}
	}
	var outs []actuator.Outlet
	for _, v := range states {
		n, ok := rowOf(v.Name, f.StatusColumn)
		if !ok {
			continue
		}
		st, err := intValue(v)
		if err != nil {
			return nil, err
		}
		var on bool
		switch st {
		case f.StateOn:
			on = true
		case f.StateOff:
		default:
			// Neither on nor off (APC: unknown, or a command pending):
			// counted as off so nobody takes power for granted.
		}
		outs = append(outs, actuator.Outlet{Index: n - 1, ID: strconv.Itoa(n), Alias: alias[n], On: on})
	}
	if len(outs) == 0 {
		return nil, fmt.Errorf("%w: the outlet state column %s is empty", ErrBadAnswer, f.StatusColumn)
	}
	return outs, nil
}

// Status reads the PDU's identity and every outlet.
func (c *Client) Status(ctx context.Context) (actuator.Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := c.session(ctx)
	if err != nil {
		return actuator.Status{}, err
	}
	defer g.Conn.Close()
	return c.status(g)
}

func (c *Client) status(g *gosnmp.GoSNMP) (actuator.Status, error) {
	f, model, err := c.ident(g)
	if err != nil {
		return actuator.Status{}, err
	}
	outs, err := c.outlets(g, f)
	if err != nil {
		return actuator.Status{}, c.wrap(err)
	}
	st := actuator.Status{Model: model, Protocol: "snmp v" + c.cfg.Version + " (" + f.Name + ")", Strip: true, Outlets: outs}
	if l, err := c.load(g, f); err != nil {
		c.log.Debug("could not read the PDU's load", "err", err)
	} else {
		st.Inputs = l.inputs()
	}
	return st, nil
}

// inputs are the load as device-level meters.
func (l Load) inputs() []actuator.InputMeter {
	var out []actuator.InputMeter
	if l.Watts >= 0 {
		w := l.Watts
		out = append(out, actuator.InputMeter{Name: "device", Watts: &w})
	}
	for i, a := range l.Amperes {
		a := a
		out = append(out, actuator.InputMeter{Name: "phase/bank " + strconv.Itoa(i+1), Amperes: &a})
	}
	return out
}

// outlet resolves a selector (the PDU's outlet number or its name) to the
// outlet number.
func (c *Client) outlet(g *gosnmp.GoSNMP, sel string) (int, Family, error) {
	st, err := c.status(g)
	if err != nil {
		return 0, Family{}, err
	}
	o, err := actuator.SelectOutlet(st, sel)
	if err != nil {
		return 0, Family{}, fmt.Errorf("PDU %s: %w (select by the PDU's outlet number or name)", c.addr(), err)
	}
	return o.Index + 1, *c.family, nil
}

// Switch turns an outlet on or off at once.
func (c *Client) Switch(ctx context.Context, outlet string, on bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := c.session(ctx)
	if err != nil {
		return err
	}
	defer g.Conn.Close()
	n, f, err := c.outlet(g, outlet)
	if err != nil {
		return err
	}
	cmd := f.CmdOff
	if on {
		cmd = f.CmdOn
	}
	return c.set(g, f.ControlColumn+"."+strconv.Itoa(n), cmd)
}

// CanDeviceCycle says whether the PDU has a reboot command, reading the
// outlet so an unreachable PDU or a wrong outlet fails before anything.
func (c *Client) CanDeviceCycle(ctx context.Context, outlet string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := c.session(ctx)
	if err != nil {
		return err
	}
	defer g.Conn.Close()
	_, f, err := c.outlet(g, outlet)
	if err != nil {
		return err
	}
	if f.CmdReboot == 0 {
		return fmt.Errorf("%w: %s", actuator.ErrDeviceCycleUnsupported, f.Name)
	}
	return nil
}

// DeviceCycle sends the PDU's reboot command (APC immediateReboot): the PDU
// switches the outlet off and, after its reboot duration, on again. The
// duration is read first (and written when Config.RebootDuration asks for
// another) and returned.
func (c *Client) DeviceCycle(ctx context.Context, outlet string, off time.Duration) (time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := c.session(ctx)
	if err != nil {
		return 0, err
	}
	defer g.Conn.Close()
	n, f, err := c.outlet(g, outlet)
	if err != nil {
		return 0, err
	}
	d, known, err := c.rebootDuration(g, f, n)
	if err != nil {
		return 0, err
	}
	want := c.cfg.RebootDuration
	if !known && want > 0 {
		return 0, fmt.Errorf("PDU %s: reboot_duration is set but the PDU has no reboot duration for outlet %d (%s): not rebooting; remove reboot_duration to use the PDU's own", c.addr(), n, f.Name)
	}
	if !known {
		c.log.Warn("the PDU does not report the outlet's reboot duration; waiting off_time before reading the outlet back", "outlet", n)
	}
	if known && want > 0 && want != d {
		if err := c.set(g, f.RebootDurationColumn+"."+strconv.Itoa(n), int(want/time.Second)); err != nil {
			return 0, fmt.Errorf("setting the outlet's reboot duration to %s: %w", want, err)
		}
		c.log.Info("set the PDU outlet's reboot duration", "outlet", n, "was", d, "now", want)
		d = want
	}
	if d > 0 && off > 0 && d != off {
		c.log.Info("the PDU keeps the outlet off for its own reboot duration, not off_time; set reboot_duration to change it", "outlet", n, "reboot_duration", d, "off_time", off)
	}
	if err := c.set(g, f.ControlColumn+"."+strconv.Itoa(n), f.CmdReboot); err != nil {
		return 0, err
	}
	c.log.Info("PDU reboot command sent", "outlet", n, "reboot_duration", d)
	return d, nil
}

// RebootDuration reads how long the PDU's reboot command keeps an outlet
// off (0 when its MIB has no such column).
func (c *Client) RebootDuration(ctx context.Context, outlet string) (time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := c.session(ctx)
	if err != nil {
		return 0, err
	}
	defer g.Conn.Close()
	n, f, err := c.outlet(g, outlet)
	if err != nil {
		return 0, err
	}
	d, _, err := c.rebootDuration(g, f, n)
	return d, err
}

// rebootDuration reads an outlet's reboot duration; known is false when
// the MIB or this PDU has none (noSuchObject, noSuchInstance).
func (c *Client) rebootDuration(g *gosnmp.GoSNMP, f Family, n int) (d time.Duration, known bool, err error) {
	if f.RebootDurationColumn == "" {
		return 0, false, nil
	}
	vs, err := c.get(g, f.RebootDurationColumn+"."+strconv.Itoa(n))
	if err != nil {
		return 0, false, fmt.Errorf("reading the outlet's reboot duration: %w", err)
	}
	switch vs[0].Type {
	case gosnmp.NoSuchObject, gosnmp.NoSuchInstance:
		return 0, false, nil
	}
	s, err := intValue(vs[0])
	if err != nil {
		return 0, false, c.wrap(err)
	}
	if s < 0 {
		return 0, false, c.wrap(fmt.Errorf("%w: reboot duration %d s", ErrBadAnswer, s))
	}
	return time.Duration(s) * time.Second, true, nil
}

// Load is the PDU's own meter: whole-device power and current per phase or
// bank. PDUs of these MIBs do not meter single outlets.
type Load struct {
	Watts   float64   // -1 when the PDU has no power reading
	Amperes []float64 // per phase or bank, in the PDU's order
}

// Load reads the PDU's load OIDs.
func (c *Client) Load(ctx context.Context) (Load, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := c.session(ctx)
	if err != nil {
		return Load{}, err
	}
	defer g.Conn.Close()
	f, _, err := c.ident(g)
	if err != nil {
		return Load{}, err
	}
	return c.load(g, f)
}

func (c *Client) load(g *gosnmp.GoSNMP, f Family) (Load, error) {
	l := Load{Watts: -1}
	if f.PowerWattsOID != "" {
		if vs, err := c.get(g, f.PowerWattsOID); err == nil {
			if w, err := intValue(vs[0]); err == nil && w >= 0 {
				l.Watts = float64(w)
			}
		}
	}
	if f.LoadColumn != "" {
		vs, err := c.walk(g, f.LoadColumn)
		if err != nil {
			return l, err
		}
		for _, v := range vs {
			if _, ok := rowOf(v.Name, f.LoadColumn); !ok {
				continue
			}
			if a, err := intValue(v); err == nil && a >= 0 {
				l.Amperes = append(l.Amperes, float64(a)/10)
			}
		}
	}
	return l, nil
}

// ArmFlipBack: a PDU has no timer that switches an outlet on after off; its
// power cycle is the reboot command (DeviceCycle), which SafeCycle uses.
func (c *Client) ArmFlipBack(context.Context, string, time.Duration) error {
	return fmt.Errorf("%w: a PDU cycles an outlet with its reboot command, not a timer", actuator.ErrFlipBackUnsupported)
}

// DisarmFlipBack has nothing to remove: the reboot command ends by itself.
func (c *Client) DisarmFlipBack(context.Context, string) error { return nil }

// Close has nothing to release: every request opens and closes its socket.
func (c *Client) Close() error { return nil }
