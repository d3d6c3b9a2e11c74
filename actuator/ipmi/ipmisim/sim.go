// Package ipmisim is a simulated server BMC speaking IPMI v2.0 over
// RMCP+ ("lanplus", UDP) on loopback, as another program's IPMI client
// meets it (Debian's ipmitool -I lanplus drives it in the tests): RMCP and
// the ASF presence ping, IPMI 1.5 Get Channel Authentication
// Capabilities, the RMCP+ Open Session and RAKP 1–4 exchange with cipher
// suites 3 (HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) and 17 (HMAC-SHA256,
// HMAC-SHA256-128, AES-CBC-128), per-message integrity and confidentiality,
// session privilege levels, and the chassis commands: status, power
// down/up/cycle, hard reset, ACPI soft shutdown and the power-cycle
// interval. A power cycle keeps power off for the interval and the BMC
// itself turns it back on, on the simulator's clock.
package ipmisim

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/simserve"
)

// Privilege is an IPMI privilege level (IPMI v2.0 table 6-1 / 22-?).
type Privilege byte

const (
	Callback      Privilege = 1
	User          Privilege = 2
	Operator      Privilege = 3
	Administrator Privilege = 4
	OEM           Privilege = 5
)

func (p Privilege) String() string {
	switch p {
	case Callback:
		return "CALLBACK"
	case User:
		return "USER"
	case Operator:
		return "OPERATOR"
	case Administrator:
		return "ADMINISTRATOR"
	case OEM:
		return "OEM"
	}
	return fmt.Sprintf("privilege(%d)", byte(p))
}

// Options configure a simulated BMC.
type Options struct {
	// Listen is a loopback UDP address (default 127.0.0.1:0; IPMI's own
	// port is 623).
	Listen string
	// Username and Password are the one account (default admin/password).
	// IPMI limits both: 16 bytes of user name, 20 of password.
	Username, Password string
	// Privilege is the account's privilege limit (default Administrator).
	Privilege Privilege
	// CipherSuites are the suites a session may use (default 3 and 17).
	// Suite 0 (no authentication, integrity or encryption) is refused
	// unless listed.
	CipherSuites []int
	// OffTime is how long a power cycle keeps power off before the BMC
	// turns it on again (default 1s, the least the spec allows: "a power
	// off interval of at least 1 second"). Set Power Cycle Interval
	// changes it.
	OffTime time.Duration
	// ShutdownDelay is how long the simulated OS takes to power off after
	// an ACPI soft shutdown (default 5s).
	ShutdownDelay time.Duration
	// Kg is the BMC key (up to 20 bytes, ipmitool -k/-y): when set, the
	// session integrity key is keyed by it instead of the password, and a
	// console must know it too (IPMI v2.0 section 13.31).
	Kg []byte
	// Watts is what the system draws when on, StandbyWatts when off, as
	// DCMI Get Power Reading reports them (defaults 180 and 8).
	Watts, StandbyWatts int
	// Off starts the system powered off.
	Off bool
	// SessionTimeout ends a session idle this long (default 60s, the
	// spec's default session inactivity timeout).
	SessionTimeout time.Duration
	Clock          clock.Clock
	Logger         *slog.Logger
}

// Fault is a failure the BMC shows until cleared with SetFault(NoFault).
type Fault int

const (
	NoFault Fault = iota
	// Unreachable answers nothing; the BMC's own timers still run, so a
	// power cycle in progress still turns power back on.
	Unreachable
	// NeverRestore is a broken BMC: a power cycle turns power off and
	// never back on, and Get Chassis Status then reports a power control
	// fault.
	NeverRestore
	// IgnoreACPI is an OS that ignores the ACPI soft shutdown: power stays
	// on.
	IgnoreACPI
)

// Chassis Control actions (IPMI v2.0 table 28-4, data byte 1).
const (
	PowerDown    byte = 0x00
	PowerUp      byte = 0x01
	PowerCycle   byte = 0x02
	HardReset    byte = 0x03
	PulseDiag    byte = 0x04
	SoftShutdown byte = 0x05
)

// ChassisControl is one Chassis Control request the BMC received in a
// session, and the completion code it answered.
type ChassisControl struct {
	At     time.Time
	Action byte
	CC     byte
}

// BMC is a running simulated BMC.
type BMC struct {
	opt    Options
	conn   net.PacketConn
	log    *slog.Logger
	guid   [16]byte
	suites []cipherSuite

	mu            sync.Mutex
	power         bool
	pending       []change
	controlFault  bool // a power-on the BMC attempted did not happen
	lastOnByIPMI  bool
	offTime       time.Duration
	fault         Fault
	delay         time.Duration
	fail          map[[2]byte]failure
	sessions      map[uint32]*session
	controls      []ChassisControl
	authFailures  int
	sessionsTotal int

	done chan struct{}
}

type change struct {
	at time.Time
	on bool
}

type failure struct {
	cc byte
	n  int
}

// maxSessions is how many sessions (pending or active) the BMC holds; a
// real BMC's LAN channel offers a handful.
const maxSessions = 8

// Start listens on opt.Listen and serves until Close.
func Start(opt Options) (*BMC, error) {
	b, err := newBMC(opt)
	if err != nil {
		return nil, err
	}
	if err := simserve.Loopback(b.opt.Listen); err != nil {
		return nil, fmt.Errorf("ipmisim: %w", err)
	}
	conn, err := net.ListenPacket("udp", b.opt.Listen)
	if err != nil {
		return nil, fmt.Errorf("ipmisim: %w", err)
	}
	b.conn = conn
	go b.serve()
	return b, nil
}

// newBMC checks the options and builds the BMC, not yet listening.
func newBMC(opt Options) (*BMC, error) {
	if opt.Listen == "" {
		opt.Listen = "127.0.0.1:0"
	}
	if opt.Username == "" {
		opt.Username = "admin"
	}
	if opt.Password == "" {
		opt.Password = "password"
	}
	if len(opt.Username) > 16 {
		return nil, fmt.Errorf("ipmisim: user name %q is longer than the 16 bytes IPMI allows", opt.Username)
	}
	if len(opt.Password) > 20 {
		return nil, fmt.Errorf("ipmisim: the password is longer than the 20 bytes IPMI v2.0 allows")
	}
	if len(opt.Kg) > 20 {
		return nil, fmt.Errorf("ipmisim: Kg of %d bytes: IPMI allows 20", len(opt.Kg))
	}
	if opt.Privilege == 0 {
		opt.Privilege = Administrator
	}
	if opt.Privilege < Callback || opt.Privilege > OEM {
		return nil, fmt.Errorf("ipmisim: privilege %d: IPMI has 1 (CALLBACK) to 5 (OEM)", opt.Privilege)
	}
	if len(opt.CipherSuites) == 0 {
		opt.CipherSuites = []int{3, 17}
	}
	if opt.OffTime == 0 {
		opt.OffTime = time.Second
	}
	if opt.OffTime < time.Second {
		return nil, fmt.Errorf("ipmisim: off time %s: a power cycle keeps power off at least 1s (IPMI v2.0 section 28.3)", opt.OffTime)
	}
	if opt.Watts == 0 {
		opt.Watts = 180
	}
	if opt.StandbyWatts == 0 {
		opt.StandbyWatts = 8
	}
	if opt.Watts < 0 || opt.Watts > 65535 || opt.StandbyWatts < 0 || opt.StandbyWatts > 65535 {
		return nil, fmt.Errorf("ipmisim: watts %d and %d: DCMI reports 0 to 65535", opt.Watts, opt.StandbyWatts)
	}
	if opt.ShutdownDelay == 0 {
		opt.ShutdownDelay = 5 * time.Second
	}
	if opt.SessionTimeout == 0 {
		opt.SessionTimeout = time.Minute
	}
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	b := &BMC{opt: opt, log: opt.Logger, power: !opt.Off, offTime: opt.OffTime,
		fail: map[[2]byte]failure{}, sessions: map[uint32]*session{}, done: make(chan struct{})}
	for _, id := range opt.CipherSuites {
		s, ok := cipherSuites[byte(id)]
		if id < 0 || id > 255 || !ok {
			return nil, fmt.Errorf("ipmisim: cipher suite %d is not simulated (0, 3 and 17 are)", id)
		}
		b.suites = append(b.suites, s)
	}
	_, _ = rand.Read(b.guid[:]) // crypto/rand.Read never fails
	return b, nil
}

// Addr is the UDP address it answers on.
func (b *BMC) Addr() string { return b.conn.LocalAddr().String() }

// Host and Port split Addr.
func (b *BMC) Host() string { h, _, _ := net.SplitHostPort(b.Addr()); return h }

// Port is the UDP port.
func (b *BMC) Port() int { return b.conn.LocalAddr().(*net.UDPAddr).Port }

// Describe says what it is, for restartinator simulate.
func (b *BMC) Describe() string {
	ids := make([]string, len(b.suites))
	for i, s := range b.suites {
		ids[i] = fmt.Sprint(s.id)
	}
	return fmt.Sprintf("ipmi-bmc (udp, IPMI v2.0 RMCP+ lanplus, cipher suites %v, user %s at %s, power cycle off %s)", ids, b.opt.Username, b.opt.Privilege, b.OffTime())
}

// Close stops it.
func (b *BMC) Close() error {
	err := b.conn.Close()
	<-b.done
	return err
}

// SetFault makes the BMC fail until SetFault(NoFault).
func (b *BMC) SetFault(f Fault) {
	b.mu.Lock()
	b.fault = f
	b.mu.Unlock()
}

// FailNext makes the next n requests of one command (network function
// and command number, e.g. 0x00, 0x02 for Chassis Control) answer the
// completion code cc and act on nothing.
func (b *BMC) FailNext(netFn, cmd, cc byte, n int) {
	b.mu.Lock()
	b.fail[[2]byte{netFn, cmd}] = failure{cc: cc, n: n}
	b.mu.Unlock()
}

// SetDelay delays every answer by d of real time (a slow BMC); the
// requests still act at once. 0 answers at once again.
func (b *BMC) SetDelay(d time.Duration) {
	b.mu.Lock()
	b.delay = d
	b.mu.Unlock()
}

// Power is whether the system is powered on now.
func (b *BMC) Power() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.settleLocked()
	return b.power
}

// SetPower sets it, for tests, cancelling anything pending.
func (b *BMC) SetPower(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.power, b.pending, b.controlFault = on, nil, false
}

// Pending reports whether a power change is scheduled (a cycle's power-on,
// a soft shutdown's power-off).
func (b *BMC) Pending() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.settleLocked()
	return len(b.pending) > 0
}

// OffTime is the power-cycle interval now.
func (b *BMC) OffTime() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.offTime
}

// Controls lists the Chassis Control requests received in sessions, in
// order, with what the BMC answered.
func (b *BMC) Controls() []ChassisControl {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.controls)
}

// Sessions counts active sessions.
func (b *BMC) Sessions() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, s := range b.sessions {
		if s.state == stateActive {
			n++
		}
	}
	return n
}

// SessionsOpened counts sessions that were established since Start.
func (b *BMC) SessionsOpened() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sessionsTotal
}

// AuthFailures counts RAKP exchanges the BMC refused: a wrong user, a
// privilege above the account's, a RAKP 3 with a wrong key exchange code
// or an error status. A console that finds RAKP 2 wrong (its password is
// wrong) and stops there is not counted: the BMC never hears of it.
func (b *BMC) AuthFailures() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.authFailures
}

// settleLocked applies the scheduled changes that are due: the BMC's own
// timers run on the clock whether or not anyone asks.
func (b *BMC) settleLocked() {
	now := b.opt.Clock.Now()
	for len(b.pending) > 0 && !now.Before(b.pending[0].at) {
		b.power = b.pending[0].on
		if b.power {
			b.lastOnByIPMI = true
		}
		b.pending = b.pending[1:]
	}
}

// controlLocked carries out a Chassis Control action (IPMI v2.0 section
// 28.3) and returns its completion code.
func (b *BMC) controlLocked(action byte) byte {
	b.settleLocked()
	now := b.opt.Clock.Now()
	switch action {
	case PowerDown:
		b.power, b.pending = false, nil
	case PowerUp:
		if !b.power {
			b.lastOnByIPMI = true
		}
		b.power, b.pending, b.controlFault = true, nil, false
	case PowerCycle:
		// Section 28.3: "It is recommended that no action occur if system
		// power is off (S4/S5) when this action is selected, and that a
		// D5h 'Request parameter(s) not supported in present state.' error
		// completion code be returned." Real BMCs (and ipmi_sim) do.
		if !b.power {
			return ccNotInPresentState
		}
		b.power = false
		b.pending = nil
		if b.fault == NeverRestore {
			b.controlFault = true
		} else {
			b.pending = []change{{at: now.Add(b.offTime), on: true}}
		}
	case HardReset, PulseDiag:
		// Power stays as it is: a reset pulses the reset line.
	case SoftShutdown:
		if b.power && b.fault != IgnoreACPI {
			b.pending = []change{{at: now.Add(b.opt.ShutdownDelay), on: false}}
		}
	default:
		return ccInvalidDataField
	}
	return ccOK
}
