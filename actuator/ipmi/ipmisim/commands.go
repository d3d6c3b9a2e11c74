package ipmisim

import (
	"cmp"
	"encoding/binary"
	"slices"
	"time"
)

// Network functions and commands (IPMI v2.0 appendix G).
const (
	netFnChassis = 0x00
	netFnApp     = 0x06
	netFnGroup   = 0x2C // group extension: DCMI's commands, group DCh

	dcmiGroup           = 0xDC
	cmdDCMIPowerReading = 0x02

	cmdGetDeviceID         = 0x01
	cmdGetSystemGUID       = 0x37
	cmdGetChannelAuthCaps  = 0x38
	cmdSetSessionPrivilege = 0x3B
	cmdCloseSession        = 0x3C
	cmdGetSessionInfo      = 0x3D
	cmdGetChannelCiphers   = 0x54

	cmdGetChassisStatus      = 0x01
	cmdChassisControl        = 0x02
	cmdSetPowerCycleInterval = 0x0B
)

// Completion codes (IPMI v2.0 table 5-2, and command-specific ones).
const (
	ccOK                  = 0x00
	ccPrivilegeNotForUser = 0x80 // Set Session Privilege Level
	ccPrivilegeOverLimit  = 0x81 // Set Session Privilege Level
	ccInvalidSessionID    = 0x87 // Close Session
	ccInvalidCommand      = 0xC1
	ccDataLength          = 0xC7
	ccInvalidDataField    = 0xCC
	ccInsufficientPriv    = 0xD4
	ccNotInPresentState   = 0xD5
)

// lanChannel is the channel number the simulated LAN interface has.
const lanChannel = 0x01

// Manufacturer and product the BMC reports in Get Device ID: IANA 0 is
// "reserved", so no client mistakes the simulator for a vendor's BMC and
// turns on OEM quirks.
const (
	manufacturerID = 0x000000
	productID      = 0x5253 // "RS"
)

// command is one IPMI command the BMC carries out in a session.
type command struct {
	priv Privilege // the session privilege it needs (appendix G)
	run  func(b *BMC, s *session, data []byte) (byte, []byte)
}

// commands are the commands a session may send, by network function and
// command number.
var commands = map[[2]byte]command{
	{netFnApp, cmdGetDeviceID}:               {User, (*BMC).getDeviceID},
	{netFnApp, cmdGetSystemGUID}:             {User, func(b *BMC, _ *session, _ []byte) (byte, []byte) { return ccOK, b.guid[:] }},
	{netFnApp, cmdGetChannelAuthCaps}:        {Callback, func(b *BMC, _ *session, d []byte) (byte, []byte) { return b.channelAuthCaps(d) }},
	{netFnApp, cmdGetChannelCiphers}:         {Callback, func(b *BMC, _ *session, d []byte) (byte, []byte) { return b.channelCiphers(d) }},
	{netFnApp, cmdSetSessionPrivilege}:       {Callback, (*BMC).setSessionPrivilege},
	{netFnApp, cmdGetSessionInfo}:            {User, (*BMC).sessionInfo},
	{netFnApp, cmdCloseSession}:              {Callback, (*BMC).closeSession},
	{netFnChassis, cmdGetChassisStatus}:      {User, (*BMC).chassisStatus},
	{netFnChassis, cmdChassisControl}:        {Operator, (*BMC).chassisControl},
	{netFnChassis, cmdSetPowerCycleInterval}: {Administrator, (*BMC).setPowerCycleInterval},
	{netFnGroup, cmdDCMIPowerReading}:        {User, (*BMC).dcmiPowerReading},
}

// command answers a request of an active session: the encoded response
// message.
func (b *BMC) command(s *session, m *message) []byte {
	key := [2]byte{m.netFn, m.cmd}
	c, ok := commands[key]
	if !ok || m.netFn&1 != 0 {
		return m.response(ccInvalidCommand, nil)
	}
	if s.priv < c.priv {
		if key == [2]byte{netFnChassis, cmdChassisControl} {
			b.controls = append(b.controls, ChassisControl{At: b.opt.Clock.Now(), Action: firstByte(m.data), CC: ccInsufficientPriv})
		}
		return m.response(ccInsufficientPriv, nil)
	}
	if f, ok := b.fail[key]; ok && f.n > 0 {
		f.n--
		b.fail[key] = f
		if key == [2]byte{netFnChassis, cmdChassisControl} {
			b.controls = append(b.controls, ChassisControl{At: b.opt.Clock.Now(), Action: firstByte(m.data), CC: f.cc})
		}
		return m.response(f.cc, nil)
	}
	cc, data := c.run(b, s, m.data)
	return m.response(cc, data)
}

func firstByte(d []byte) byte {
	if len(d) == 0 {
		return 0xFF
	}
	return d[0]
}

// sessionless answers a request outside any session: only the commands
// a client may send before it has one.
func (b *BMC) sessionless(m *message) []byte {
	switch {
	case m.netFn == netFnApp && m.cmd == cmdGetChannelAuthCaps:
		cc, data := b.channelAuthCaps(m.data)
		return m.response(cc, data)
	case m.netFn == netFnApp && m.cmd == cmdGetChannelCiphers:
		cc, data := b.channelCiphers(m.data)
		return m.response(cc, data)
	case m.netFn == netFnApp && m.cmd == cmdGetSystemGUID:
		return m.response(ccOK, b.guid[:])
	}
	return m.response(ccNotInPresentState, nil)
}

// channelAuthCaps is Get Channel Authentication Capabilities (section
// 22.13), with the IPMI v2.0 extended data when bit 7 of byte 1 asks.
func (b *BMC) channelAuthCaps(d []byte) (byte, []byte) {
	if len(d) != 2 {
		return ccDataLength, nil
	}
	ch := d[0] & 0x0F
	if ch != 0x0E && ch != lanChannel {
		return ccInvalidDataField, nil
	}
	priv := Privilege(d[1] & 0x0F)
	if priv < Callback || priv > OEM {
		return ccInvalidDataField, nil
	}
	auth := byte(0x00) // no IPMI v1.5 authentication types: RMCP+ only
	ext := byte(0x00)
	if d[0]&0x80 != 0 {
		auth |= 0x80 // IPMI v2.0+ extended capabilities available
		ext = 0x02   // IPMI v2.0 connections supported (and not v1.5)
	}
	// Byte 3: KG set or the default (bit 5), per-message and user-level
	// authentication enabled (bits 4, 3 clear), non-null user names only.
	flags := byte(0x04)
	if len(b.opt.Kg) > 0 {
		flags |= 0x20
	}
	return ccOK, []byte{lanChannel, auth, flags, ext, 0, 0, 0, 0}
}

// channelCiphers is Get Channel Cipher Suites (section 22.15): the
// records of the offered suites, 16 bytes per list index.
func (b *BMC) channelCiphers(d []byte) (byte, []byte) {
	if len(d) != 3 {
		return ccDataLength, nil
	}
	ch := d[0] & 0x0F
	if ch != 0x0E && ch != lanChannel {
		return ccInvalidDataField, nil
	}
	if d[1] != payloadIPMI {
		return ccInvalidDataField, nil
	}
	var recs []byte
	for _, s := range b.suites {
		recs = append(recs, 0xC0, s.id, s.auth, 0x40|s.integrity, 0x80|s.conf)
	}
	if d[2]&0x80 == 0 {
		// "list supported algorithms": the algorithm numbers, each once.
		recs = nil
		for _, s := range b.suites {
			recs = append(recs, s.auth, 0x40|s.integrity, 0x80|s.conf)
		}
	}
	idx := int(d[2] & 0x3F)
	start := min(idx*16, len(recs))
	end := min(start+16, len(recs))
	return ccOK, append([]byte{lanChannel}, recs[start:end]...)
}

// getDeviceID is Get Device ID (section 20.1).
func (b *BMC) getDeviceID(_ *session, _ []byte) (byte, []byte) {
	out := []byte{
		0x20, // device ID
		0x01, // device revision 1, no device SDRs
		0x01, // firmware 1.xx, device available
		0x00, // firmware .00 (BCD)
		0x02, // IPMI version 2.0
		0x80, // additional device support: chassis device
	}
	out = append(out, byte(manufacturerID&0xFF), byte(manufacturerID>>8&0xFF), byte(manufacturerID>>16&0xFF))
	out = binary.LittleEndian.AppendUint16(out, productID)
	return ccOK, out
}

// setSessionPrivilege is Set Session Privilege Level (section 22.18).
func (b *BMC) setSessionPrivilege(s *session, d []byte) (byte, []byte) {
	if len(d) != 1 {
		return ccDataLength, nil
	}
	p := Privilege(d[0] & 0x0F)
	switch {
	case p == 0: // no change: report the present level
	case p < User || p > OEM:
		return ccInvalidDataField, nil
	case p > b.opt.Privilege:
		// "Requested level exceeds Channel and/or User Privilege Limit".
		return ccPrivilegeOverLimit, nil
	case p > s.maxPriv:
		// Within the user's limit but above the maximum the session was
		// opened for in RAKP 1: "Requested level not available for this
		// user" in this session.
		return ccPrivilegeNotForUser, nil
	default:
		s.priv = p
	}
	return ccOK, []byte{byte(s.priv)}
}

// closeSession is Close Session (section 22.19): this session, or another
// one for an administrator.
func (b *BMC) closeSession(s *session, d []byte) (byte, []byte) {
	if len(d) < 4 {
		return ccDataLength, nil
	}
	id := binary.LittleEndian.Uint32(d)
	if id == s.kx.bmcSID {
		return ccOK, nil // inSession forgets it once the answer is signed
	}
	if s.priv < Administrator {
		return ccInsufficientPriv, nil
	}
	if _, ok := b.sessions[id]; !ok || id == 0 {
		return ccInvalidSessionID, nil
	}
	delete(b.sessions, id)
	return ccOK, nil
}

// chassisStatus is Get Chassis Status (section 28.2).
func (b *BMC) chassisStatus(_ *session, _ []byte) (byte, []byte) {
	b.settleLocked()
	state := byte(0x20) // power restore policy: restore previous state (01b in bits 6:5)
	if b.power {
		state |= 0x01
	}
	if b.controlFault {
		state |= 0x10 // power control fault
	}
	var last byte
	if b.lastOnByIPMI {
		last |= 0x10 // last 'Power is on' state was entered via IPMI command
	}
	return ccOK, []byte{state, last, 0x00}
}

// chassisControl is Chassis Control (section 28.3).
func (b *BMC) chassisControl(_ *session, d []byte) (byte, []byte) {
	if len(d) != 1 {
		return ccDataLength, nil
	}
	cc := b.controlLocked(d[0] & 0x0F)
	b.controls = append(b.controls, ChassisControl{At: b.opt.Clock.Now(), Action: d[0] & 0x0F, CC: cc})
	if cc != ccOK {
		b.log.Info("ipmisim: chassis control refused", "action", d[0], "cc", cc)
	} else {
		b.log.Info("ipmisim: chassis control", "action", d[0], "power", b.power)
	}
	return cc, nil
}

// setPowerCycleInterval is Set Power Cycle Interval (section 28.9): the
// interval in seconds; the spec allows no power cycle shorter than 1 s
// (section 28.3), so 0 ("no interval") keeps power off for 1 s.
func (b *BMC) setPowerCycleInterval(_ *session, d []byte) (byte, []byte) {
	if len(d) != 1 {
		return ccDataLength, nil
	}
	b.offTime = time.Duration(max(int(d[0]), 1)) * time.Second
	return ccOK, nil
}

// userID is the account's user ID: 1 is the null user by convention, so
// the one named account is 2.
const userID = 2

// sessionInfo is Get Session Info (section 22.20): the asking session
// (index 00h), the Nth active session, or one by handle (FEh) or ID (FFh).
func (b *BMC) sessionInfo(s *session, d []byte) (byte, []byte) {
	if len(d) < 1 {
		return ccDataLength, nil
	}
	var active []*session
	for _, x := range b.sessions {
		if x.state == stateActive {
			active = append(active, x)
		}
	}
	slices.SortFunc(active, func(a, c *session) int { return cmp.Compare(a.handle, c.handle) })
	var found *session
	switch idx := d[0]; {
	case idx == 0x00:
		found = s
	case idx == 0xFE:
		if len(d) != 2 {
			return ccDataLength, nil
		}
		i := slices.IndexFunc(active, func(x *session) bool { return x.handle == d[1] })
		if i >= 0 {
			found = active[i]
		}
	case idx == 0xFF:
		if len(d) != 5 {
			return ccDataLength, nil
		}
		found = b.sessions[binary.LittleEndian.Uint32(d[1:])]
		if found != nil && found.state != stateActive {
			found = nil
		}
	case int(idx) <= len(active):
		found = active[idx-1]
	}
	head := []byte{0, maxSessions, byte(len(active))}
	if found == nil {
		if d[0] == 0xFE || d[0] == 0xFF {
			return ccInvalidDataField, nil
		}
		return ccOK, head // "no active session at this index": the first three bytes
	}
	head[0] = found.handle
	out := append(head, userID, byte(found.priv), 0x10|lanChannel) // IPMI v2.0/RMCP+ session on the LAN channel
	ip, port := make([]byte, 4), 0
	if a := found.console; a != nil {
		if v4 := a.IP.To4(); v4 != nil {
			ip = v4
		}
		port = a.Port
	}
	out = append(out, ip...)
	out = append(out, 0, 0, 0, 0, 0, 0) // MAC: loopback has none
	return ccOK, binary.LittleEndian.AppendUint16(out, uint16(port))
}

// dcmiPowerReading is DCMI 1.5's Get Power Reading (section 6.6.1), mode
// 01h "system power statistics": the system's draw now, which the
// simulator also reports as the period's minimum, maximum and average.
func (b *BMC) dcmiPowerReading(_ *session, d []byte) (byte, []byte) {
	if len(d) != 4 {
		return ccDataLength, nil
	}
	if d[0] != dcmiGroup || d[1] != 0x01 {
		return ccInvalidDataField, nil
	}
	b.settleLocked()
	w := uint16(b.opt.StandbyWatts)
	if b.power {
		w = uint16(b.opt.Watts)
	}
	out := []byte{dcmiGroup}
	for range 4 { // current, minimum, maximum, average
		out = binary.LittleEndian.AppendUint16(out, w)
	}
	out = binary.LittleEndian.AppendUint32(out, uint32(b.opt.Clock.Now().Unix())) // IPMI timestamp
	out = binary.LittleEndian.AppendUint32(out, 1000)                             // statistics period: 1 s, in ms
	return ccOK, append(out, 0x40)                                                // power measurement active
}
