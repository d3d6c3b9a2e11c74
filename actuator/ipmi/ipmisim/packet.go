package ipmisim

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// RMCP (DMTF ASF 2.0, IPMI v2.0 section 13.1.3): version 6, reserved, a
// sequence number (0xFF: no RMCP ACK), the class of message.
const (
	rmcpVersion   = 0x06
	rmcpClassASF  = 0x06
	rmcpClassIPMI = 0x07

	asfIANA     = 4542 // 0x000011BE
	asfPing     = 0x80
	asfPong     = 0x40
	maxDatagram = 1024 // larger than any request ipmitool sends; longer datagrams are dropped
)

// Session header authentication types (IPMI v2.0 table 13-8).
const (
	authTypeNone     = 0x00
	authTypeRMCPPlus = 0x06
)

// RMCP+ payload types (IPMI v2.0 table 13-16).
const (
	payloadIPMI        = 0x00
	payloadOpenRequest = 0x10
	payloadOpenReply   = 0x11
	payloadRAKP1       = 0x12
	payloadRAKP2       = 0x13
	payloadRAKP3       = 0x14
	payloadRAKP4       = 0x15
	payloadOEM         = 0x02
)

// packet is one decoded datagram: RMCP header, then ASF or an IPMI
// session (1.5 or RMCP+) wrapper. The payload is still encrypted when
// encrypted is set; the caller, who knows the session's keys, checks the
// AuthCode and decrypts.
type packet struct {
	class   byte
	rmcpSeq byte

	// ASF
	asfType, asfTag byte

	// IPMI session wrapper
	authType      byte
	payloadType   byte
	encrypted     bool
	authenticated bool
	sessionID     uint32
	seq           uint32
	payload       []byte
	// signed is the range the RMCP+ AuthCode covers: AuthType through
	// Next Header (IPMI v2.0 table 13-8). authCode is what follows it.
	signed   []byte
	authCode []byte
}

var errShort = errors.New("datagram too short")

// decodePacket parses a datagram as a BMC receives it. It checks framing
// only: lengths, the RMCP version and class, the integrity pad; it never
// panics on any input (FuzzDecodePacket).
func decodePacket(b []byte) (*packet, error) {
	if len(b) > maxDatagram {
		return nil, fmt.Errorf("datagram of %d bytes is longer than %d", len(b), maxDatagram)
	}
	if len(b) < 4 {
		return nil, errShort
	}
	if b[0] != rmcpVersion {
		return nil, fmt.Errorf("RMCP version 0x%02x, want 0x06", b[0])
	}
	p := &packet{rmcpSeq: b[2], class: b[3] & 0x1F}
	if b[3]&0x80 != 0 {
		return nil, errors.New("RMCP ACK: nothing to answer")
	}
	rest := b[4:]
	switch p.class {
	case rmcpClassASF:
		// IANA (4, big-endian), type, tag, reserved, data length.
		if len(rest) < 8 {
			return nil, errShort
		}
		if binary.BigEndian.Uint32(rest) != asfIANA {
			return nil, fmt.Errorf("ASF IANA number %d, want 4542", binary.BigEndian.Uint32(rest))
		}
		p.asfType, p.asfTag = rest[4], rest[5]
		if int(rest[7]) > len(rest)-8 {
			return nil, errShort
		}
		return p, nil
	case rmcpClassIPMI:
	default:
		return nil, fmt.Errorf("RMCP class 0x%02x is neither ASF nor IPMI", p.class)
	}
	if len(rest) < 1 {
		return nil, errShort
	}
	p.authType = rest[0] & 0x0F
	if p.authType != authTypeRMCPPlus {
		return p, decode15(p, rest)
	}
	// IPMI v2.0 / RMCP+ session header (table 13-8).
	if len(rest) < 12 {
		return nil, errShort
	}
	p.payloadType = rest[1] & 0x3F
	p.encrypted = rest[1]&0x80 != 0
	p.authenticated = rest[1]&0x40 != 0
	h := 2
	if p.payloadType == payloadOEM {
		// OEM IANA (4) and OEM payload ID (2): not simulated, but framed.
		h += 6
		if len(rest) < 12+6 {
			return nil, errShort
		}
	}
	p.sessionID = binary.LittleEndian.Uint32(rest[h:])
	p.seq = binary.LittleEndian.Uint32(rest[h+4:])
	n := int(binary.LittleEndian.Uint16(rest[h+8:]))
	start := h + 10
	if n > len(rest)-start {
		return nil, fmt.Errorf("payload length %d is longer than the %d bytes left", n, len(rest)-start)
	}
	p.payload = rest[start : start+n]
	trailer := rest[start+n:]
	if !p.authenticated {
		if len(trailer) != 0 {
			return nil, fmt.Errorf("%d bytes after an unauthenticated payload", len(trailer))
		}
		return p, nil
	}
	// Integrity pad so that AuthType..Next Header is a multiple of four
	// bytes, the pad length, Next Header (0x07), then the AuthCode.
	pad := (4 - (start+n+2)%4) % 4
	if len(trailer) < pad+2+1 {
		return nil, errors.New("authenticated packet without an AuthCode")
	}
	for _, x := range trailer[:pad] {
		if x != 0xFF {
			return nil, errors.New("integrity pad bytes are not 0xFF")
		}
	}
	if int(trailer[pad]) != pad {
		return nil, fmt.Errorf("pad length %d, want %d", trailer[pad], pad)
	}
	if trailer[pad+1] != 0x07 {
		return nil, fmt.Errorf("next header 0x%02x, want 0x07", trailer[pad+1])
	}
	p.signed = rest[:start+n+pad+2]
	p.authCode = trailer[pad+2:]
	return p, nil
}

// decode15 reads the IPMI v1.5 session header (table 13-4). Only
// authentication type none is simulated: clients send Get Channel
// Authentication Capabilities this way before any session.
func decode15(p *packet, rest []byte) error {
	if p.authType != authTypeNone {
		return fmt.Errorf("IPMI v1.5 authentication type %d is not simulated (RMCP+ only)", p.authType)
	}
	if len(rest) < 10 {
		return errShort
	}
	p.seq = binary.LittleEndian.Uint32(rest[1:])
	p.sessionID = binary.LittleEndian.Uint32(rest[5:])
	n := int(rest[9])
	if n > len(rest)-10 {
		return fmt.Errorf("message length %d is longer than the %d bytes left", n, len(rest)-10)
	}
	p.payload = rest[10 : 10+n]
	p.payloadType = payloadIPMI
	return nil
}

// message is an IPMI LAN message (IPMI v2.0 section 13.8): a request as
// the BMC receives it.
type message struct {
	rsAddr, netFn, rsLUN, rqAddr, rqSeq, rqLUN, cmd byte
	data                                            []byte
}

func checksum(b []byte) byte {
	var s byte
	for _, x := range b {
		s += x
	}
	return -s
}

// decodeMessage parses a request message and checks both checksums.
func decodeMessage(b []byte) (*message, error) {
	if len(b) < 7 {
		return nil, errors.New("IPMI message shorter than 7 bytes")
	}
	if checksum(b[:2]) != b[2] {
		return nil, errors.New("IPMI message header checksum is wrong")
	}
	if checksum(b[3:len(b)-1]) != b[len(b)-1] {
		return nil, errors.New("IPMI message data checksum is wrong")
	}
	return &message{rsAddr: b[0], netFn: b[1] >> 2, rsLUN: b[1] & 3, rqAddr: b[3],
		rqSeq: b[4] >> 2, rqLUN: b[4] & 3, cmd: b[5], data: b[6 : len(b)-1]}, nil
}

// response encodes the answer to m: completion code, then data.
func (m *message) response(cc byte, data []byte) []byte {
	b := []byte{m.rqAddr, (m.netFn|1)<<2 | m.rqLUN, 0, m.rsAddr, m.rqSeq<<2 | m.rsLUN, m.cmd, cc}
	b[2] = checksum(b[:2])
	b = append(b, data...)
	return append(b, checksum(b[3:]))
}

// encode15 wraps a message in an RMCP + IPMI v1.5 header, authentication
// type none, outside any session.
func encode15(msg []byte) []byte {
	b := []byte{rmcpVersion, 0, 0xFF, rmcpClassIPMI, authTypeNone, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(msg))}
	return append(b, msg...)
}

// encodePlus wraps a payload in an RMCP + RMCP+ session header; sign, when
// not nil, appends the integrity trailer and AuthCode over it.
func encodePlus(ptype byte, encrypted bool, sessionID, seq uint32, payload []byte, sign func([]byte) []byte) []byte {
	b := []byte{rmcpVersion, 0, 0xFF, rmcpClassIPMI, authTypeRMCPPlus, ptype}
	if encrypted {
		b[5] |= 0x80
	}
	if sign != nil {
		b[5] |= 0x40
	}
	b = binary.LittleEndian.AppendUint32(b, sessionID)
	b = binary.LittleEndian.AppendUint32(b, seq)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(payload)))
	b = append(b, payload...)
	if sign == nil {
		return b
	}
	pad := (4 - (len(b)-4+2)%4) % 4
	for range pad {
		b = append(b, 0xFF)
	}
	b = append(b, byte(pad), 0x07)
	return append(b, sign(b[4:])...)
}
