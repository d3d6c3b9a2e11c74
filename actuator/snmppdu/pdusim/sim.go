// Package pdusim is a simulated APC switched rack PDU (the rPDU family of
// the PowerNet-MIB, sysObjectID masterSwitchrPDU) answering SNMP v1 and v2c
// over UDP on loopback, as another program's SNMP manager would meet it:
// the communities public (read) and private (write) APC ships, the outlet
// control, config and status tables, the reboot command with the outlet's
// reboot duration on the simulator's clock, delayed on/off with the
// outlets' power-on/off times, and the phase load.
package pdusim

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/simserve"
)

// SysObjectID is what the simulated PDU says it is: APC masterSwitchrPDU.
const SysObjectID = "1.3.6.1.4.1.318.1.3.4.5"

// PowerNet-MIB columns the simulator serves (see snmppdu.Families).
const (
	apc = "1.3.6.1.4.1.318.1.1.12."
	// rPDUIdent
	identName       = apc + "1.1.0"
	identModel      = apc + "1.5.0"
	identNumOutlets = apc + "1.8.0"
	identPowerWatts = apc + "1.16.0"
	// rPDULoadStatusLoad.1 (tenths of amperes, phase 1)
	loadStatus = apc + "2.3.1.1.2.1"
	// rPDUOutletControlEntry: 1 index, 2 name, 3 phase, 4 command
	controlEntry = apc + "3.3.1.1."
	// rPDUOutletConfigEntry: 1 index, 2 name, 3 phase, 4 powerOnTime,
	// 5 powerOffTime, 6 rebootDuration
	configEntry = apc + "3.4.1.1."
	// rPDUOutletStatusEntry: 1 index, 2 name, 3 phase, 4 state,
	// 5 commandPending
	statusEntry = apc + "3.5.1.1."
)

// rPDUOutletControlOutletCommand values.
const (
	cmdImmediateOn     = 1
	cmdImmediateOff    = 2
	cmdImmediateReboot = 3
	cmdDelayedOn       = 4
	cmdDelayedOff      = 5
	cmdDelayedReboot   = 6
	cmdCancelPending   = 7
)

// Options configure a simulated PDU.
type Options struct {
	// Outlets is the number of outlets (default 8, as an AP7920/AP7921).
	Outlets int
	// Listen is a loopback UDP address (default 127.0.0.1:0).
	Listen string
	// ReadCommunity and WriteCommunity default to public and private.
	ReadCommunity, WriteCommunity string
	// SysObjectID overrides what the agent says it is (default
	// SysObjectID), to show a client a PDU it does not know.
	SysObjectID string
	// Amperes is what each outlet that is on draws (default 0.4).
	Amperes float64
	// Users are the SNMPv3 users (none: v3 requests get reports of
	// usmStatsUnknownUserNames). Each may read and write.
	Users []User
	// EngineID is the agent's snmpEngineID (default: RFC 3411 MAC format
	// under APC's enterprise number, 80:00:01:3e:03 and a MAC in APC's
	// 00:c0:b7 block made from the port). EngineBoots is snmpEngineBoots
	// (default 1); snmpEngineTime counts seconds on Clock from Start.
	EngineID    []byte
	EngineBoots int
	Clock       clock.Clock
	Logger      *slog.Logger
}

// Fault is a failure the PDU shows until cleared with SetFault(NoFault).
type Fault int

const (
	NoFault Fault = iota
	// Unreachable answers nothing; the PDU's own timers still run, so a
	// reboot in progress still switches the outlet back on.
	Unreachable
	// RefuseSet answers every SET with genErr and changes nothing.
	RefuseSet
)

// Outlet is one outlet's state, for tests.
type Outlet struct {
	Name           string
	On             bool
	RebootDuration time.Duration
	PowerOnTime    time.Duration // delay of delayedOn
	PowerOffTime   time.Duration // delay of delayedOff
	// pending is a scheduled change: at At, the outlet goes On.
	pending []change
}

type change struct {
	at time.Time
	on bool
}

// PDU is a running simulated PDU.
type PDU struct {
	opt   Options
	conn  net.PacketConn
	log   *slog.Logger
	start time.Time

	mu      sync.Mutex
	outlets []Outlet
	fault   Fault
	sets    int // SETs that changed something, for tests

	// SNMPv3 engine: fixed at Start but the counters and the salt.
	engineID []byte
	boots    int
	users    map[string]*usmUser
	counters map[string]int
	salt     uint64

	done chan struct{}
}

// Start listens on opt.Listen and serves until Close.
func Start(opt Options) (*PDU, error) {
	if opt.Outlets == 0 {
		opt.Outlets = 8
	}
	if opt.Outlets < 1 || opt.Outlets > 48 {
		return nil, fmt.Errorf("pdusim: %d outlets: an APC rack PDU has 1 to 48", opt.Outlets)
	}
	if opt.Listen == "" {
		opt.Listen = "127.0.0.1:0"
	}
	if opt.ReadCommunity == "" {
		opt.ReadCommunity = "public"
	}
	if opt.WriteCommunity == "" {
		opt.WriteCommunity = "private"
	}
	if opt.SysObjectID == "" {
		opt.SysObjectID = SysObjectID
	}
	if opt.Amperes == 0 {
		opt.Amperes = 0.4
	}
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if err := simserve.Loopback(opt.Listen); err != nil {
		return nil, fmt.Errorf("pdusim: %w", err)
	}
	conn, err := net.ListenPacket("udp", opt.Listen)
	if err != nil {
		return nil, fmt.Errorf("pdusim: %w", err)
	}
	if opt.EngineBoots == 0 {
		opt.EngineBoots = 1
	}
	if opt.EngineBoots < 1 || opt.EngineBoots >= 0x7fffffff {
		conn.Close()
		return nil, fmt.Errorf("pdusim: engine boots %d: RFC 3414 allows 1 to 2147483646", opt.EngineBoots)
	}
	if opt.EngineID == nil {
		port := conn.LocalAddr().(*net.UDPAddr).Port
		opt.EngineID = []byte{0x80, 0x00, 0x01, 0x3e, 0x03, 0x00, 0xc0, 0xb7, 0x5d, byte(port >> 8), byte(port)}
	}
	if len(opt.EngineID) < 5 || len(opt.EngineID) > 32 {
		conn.Close()
		return nil, fmt.Errorf("pdusim: engine ID of %d octets: RFC 3411 wants 5 to 32", len(opt.EngineID))
	}
	p := &PDU{opt: opt, conn: conn, log: opt.Logger, start: opt.Clock.Now(), done: make(chan struct{}),
		engineID: opt.EngineID, boots: opt.EngineBoots, users: map[string]*usmUser{}, counters: map[string]int{}}
	for _, u := range opt.Users {
		if p.users[u.Name] != nil {
			conn.Close()
			return nil, fmt.Errorf("pdusim: SNMPv3 user %q twice", u.Name)
		}
		uu, err := newUSMUser(u, p.engineID)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("pdusim: %w", err)
		}
		p.users[u.Name] = uu
	}
	for i := range opt.Outlets {
		p.outlets = append(p.outlets, Outlet{Name: "Outlet " + strconv.Itoa(i+1), On: true, RebootDuration: 5 * time.Second})
	}
	go p.serve()
	return p, nil
}

// Addr is the UDP address it answers on.
func (p *PDU) Addr() string { return p.conn.LocalAddr().String() }

// Host and Port split Addr.
func (p *PDU) Host() string { h, _, _ := net.SplitHostPort(p.Addr()); return h }

// Port is the UDP port.
func (p *PDU) Port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

// Describe says what it is, for restartinator simulate.
func (p *PDU) Describe() string {
	v3 := ""
	for _, u := range p.opt.Users {
		v3 += fmt.Sprintf(", v3 user %s %s", u.Name, p.users[u.Name].describe())
	}
	return fmt.Sprintf("apc-rpdu (snmp v1/v2c/v3, communities %s/%s%s, engine ID %x, %d outlets)", p.opt.ReadCommunity, p.opt.WriteCommunity, v3, p.engineID, len(p.outlets))
}

// EngineID is the agent's snmpEngineID.
func (p *PDU) EngineID() []byte { return slices.Clone(p.engineID) }

// Counter is the value of one of the RFC 3412/3414 counters the agent
// keeps (usmStats*, snmpInASNParseErrs …), by OID.
func (p *PDU) Counter(oid string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counters[strings.TrimPrefix(oid, ".")]
}

// Close stops it.
func (p *PDU) Close() error {
	err := p.conn.Close()
	<-p.done
	return err
}

// SetFault makes the PDU fail until SetFault(NoFault).
func (p *PDU) SetFault(f Fault) {
	p.mu.Lock()
	p.fault = f
	p.mu.Unlock()
}

// Outlets returns the outlets' state now (index 0 is outlet 1).
func (p *PDU) Outlets() []Outlet {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.settleLocked()
	out := make([]Outlet, len(p.outlets))
	for i, o := range p.outlets {
		o.pending = nil
		out[i] = o
	}
	return out
}

// Pending reports whether an outlet (1-based) has a scheduled change.
func (p *PDU) Pending(n int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.settleLocked()
	return len(p.outlets[n-1].pending) > 0
}

// SetOutlet sets an outlet's name and state (1-based), for tests.
func (p *PDU) SetOutlet(n int, name string, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outlets[n-1].Name, p.outlets[n-1].On, p.outlets[n-1].pending = name, on, nil
}

// Sets counts SETs that were applied.
func (p *PDU) Sets() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sets
}

// settleLocked applies the scheduled changes that are due: the PDU's own
// timers run on the clock whether or not anyone asks.
func (p *PDU) settleLocked() {
	now := p.opt.Clock.Now()
	for i := range p.outlets {
		o := &p.outlets[i]
		for len(o.pending) > 0 && !now.Before(o.pending[0].at) {
			o.On = o.pending[0].on
			o.pending = o.pending[1:]
		}
	}
}

// command applies an rPDUOutletControlOutletCommand; false for a value the
// MIB does not define.
func (p *PDU) commandLocked(n, cmd int) bool {
	o := &p.outlets[n-1]
	now := p.opt.Clock.Now()
	switch cmd {
	case cmdImmediateOn:
		o.On, o.pending = true, nil
	case cmdImmediateOff:
		o.On, o.pending = false, nil
	case cmdImmediateReboot:
		// The MIB: an outlet that is off stays off for the reboot duration
		// and then comes on, like one that was on.
		o.On = false
		o.pending = []change{{at: now.Add(o.RebootDuration), on: true}}
	case cmdDelayedOn:
		o.pending = []change{{at: now.Add(o.PowerOnTime), on: true}}
	case cmdDelayedOff:
		o.pending = []change{{at: now.Add(o.PowerOffTime), on: false}}
	case cmdDelayedReboot:
		off := now.Add(o.PowerOffTime)
		o.pending = []change{{at: off, on: false}, {at: off.Add(o.RebootDuration), on: true}}
	case cmdCancelPending:
		o.pending = nil
	default:
		return false
	}
	return true
}

func (p *PDU) watts() int { return int(p.amps() * 230) }

func (p *PDU) amps() float64 {
	on := 0
	for _, o := range p.outlets {
		if o.On {
			on++
		}
	}
	return float64(on) * p.opt.Amperes
}

// viewLocked builds the MIB as it is now.
func (p *PDU) viewLocked() *view {
	p.settleLocked()
	v := &view{vals: map[string]value{}}
	up := p.opt.Clock.Now().Sub(p.start) / (10 * time.Millisecond)
	v.add("1.3.6.1.2.1.1.1.0", value{s: "APC Web/SNMP Management Card (MB:v3.9.2 PF:v3.9.2 PN:apc_hw02_aos_392.bin AF1:v3.7.3 AN1:apc_hw02_rpdu_373.bin MN:AP7920 HR:B2 SN: SIM0000001) restartinator simulator"})
	v.add("1.3.6.1.2.1.1.2.0", value{isOID: true, s: p.opt.SysObjectID})
	v.add("1.3.6.1.2.1.1.3.0", value{ticks: true, n: int(up)})
	v.add("1.3.6.1.2.1.1.5.0", value{s: "apc-rpdu-sim", writable: true})
	v.add(identName, value{s: "RackPDU"})
	v.add(identModel, value{s: "AP7920"})
	v.add(identNumOutlets, value{integer: true, n: len(p.outlets)})
	v.add(identPowerWatts, value{integer: true, n: p.watts()})
	v.add(loadStatus, value{gauge: true, n: int(p.amps()*10 + 0.5)})
	v.add(snmpEngineID, value{s: string(p.engineID)})
	v.add(snmpEngineBoots, value{integer: true, n: p.boots})
	v.add(snmpEngineTime, value{integer: true, n: p.engineTime()})
	v.add(snmpEngineMaxMessageSize, value{integer: true, n: maxMessageSize})
	for _, c := range counterOIDs {
		v.add(c, value{counter: true, n: p.counters[c]})
	}
	for i, o := range p.outlets {
		n := strconv.Itoa(i + 1)
		state := 2
		if o.On {
			state = 1
		}
		pending := 2
		if len(o.pending) > 0 {
			pending = 1
		}
		v.add(controlEntry+"1."+n, value{integer: true, n: i + 1})
		v.add(controlEntry+"2."+n, value{s: o.Name})
		v.add(controlEntry+"3."+n, value{integer: true, n: 1})
		v.add(controlEntry+"4."+n, value{integer: true, n: state, writable: true})
		v.add(configEntry+"1."+n, value{integer: true, n: i + 1})
		v.add(configEntry+"2."+n, value{s: o.Name, writable: true})
		v.add(configEntry+"3."+n, value{integer: true, n: 1})
		v.add(configEntry+"4."+n, value{integer: true, n: int(o.PowerOnTime / time.Second), writable: true})
		v.add(configEntry+"5."+n, value{integer: true, n: int(o.PowerOffTime / time.Second), writable: true})
		v.add(configEntry+"6."+n, value{integer: true, n: int(o.RebootDuration / time.Second), writable: true})
		v.add(statusEntry+"1."+n, value{integer: true, n: i + 1})
		v.add(statusEntry+"2."+n, value{s: o.Name})
		v.add(statusEntry+"3."+n, value{integer: true, n: 1})
		v.add(statusEntry+"4."+n, value{integer: true, n: state})
		v.add(statusEntry+"5."+n, value{integer: true, n: pending})
	}
	v.sort()
	return v
}

// errWrongValue and friends are SNMP error statuses of a SET.
var (
	errWrongValue  = errors.New("wrongValue")
	errWrongType   = errors.New("wrongType")
	errNotWritable = errors.New("notWritable")
)

// setLocked applies one SET varbind. Integer values come as int, strings
// as []byte.
func (p *PDU) setLocked(name string, isInt bool, n int, s []byte) error {
	o, ok := parseOID(name)
	if !ok || len(o) < 2 {
		return errNotWritable
	}
	row := int(o[len(o)-1])
	col := oid(o[:len(o)-1]).String() + "."
	if row < 1 || row > len(p.outlets) {
		return errNotWritable
	}
	out := &p.outlets[row-1]
	switch col {
	case controlEntry + "4.":
		if !isInt {
			return errWrongType
		}
		if !p.commandLocked(row, n) {
			return errWrongValue
		}
	case configEntry + "2.":
		if isInt {
			return errWrongType
		}
		if len(s) > 20 { // DisplayString SIZE (0..20) in the MIB
			return errWrongValue
		}
		out.Name = string(s)
	case configEntry + "4.", configEntry + "5.":
		if !isInt {
			return errWrongType
		}
		if n < -1 || n > 7200 {
			return errWrongValue
		}
		d := time.Duration(max(n, 0)) * time.Second
		if col == configEntry+"4." {
			out.PowerOnTime = d
		} else {
			out.PowerOffTime = d
		}
	case configEntry + "6.":
		if !isInt {
			return errWrongType
		}
		if n < 5 || n > 60 { // rPDUOutletConfigRebootDuration: 5 to 60 seconds
			return errWrongValue
		}
		out.RebootDuration = time.Duration(n) * time.Second
	default:
		return errNotWritable
	}
	p.sets++
	return nil
}
