package ipmisim

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"net"
	"time"
)

// RMCP+ and RAKP status codes (IPMI v2.0 table 13-15).
const (
	rakpOK                 = 0x00
	rakpNoResources        = 0x01
	rakpInvalidSessionID   = 0x02
	rakpInvalidRole        = 0x09
	rakpUnauthorizedRole   = 0x0A
	rakpInvalidNameLength  = 0x0C
	rakpUnauthorizedName   = 0x0D
	rakpInvalidIntegrity   = 0x0F
	rakpNoCipherSuiteMatch = 0x11
	rakpIllegalParameter   = 0x12
)

type sessionState int

const (
	stateOpened    sessionState = iota // Open Session Response sent
	stateRAKP2Sent                     // waiting for RAKP 3
	stateActive                        // RAKP 4 sent: in session
)

type session struct {
	state    sessionState
	kx       keyExchange
	maxPriv  Privilege // what RAKP 1 asked for, within the user's limit
	priv     Privilege // the session's current level
	keys     keys
	inSeq    uint32 // highest sequence number accepted
	seen     uint32 // bitmap of the 32 numbers below inSeq that were accepted
	outSeq   uint32
	lastSeen time.Time
	handle   byte         // Get Session Info's session handle
	console  *net.UDPAddr // where the session's packets come from
}

func (b *BMC) serve() {
	defer close(b.done)
	buf := make([]byte, maxDatagram+1)
	for {
		n, from, err := b.conn.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		resp := b.handle(buf[:n], from)
		if resp == nil {
			continue
		}
		b.mu.Lock()
		delay := b.delay
		b.mu.Unlock()
		send := func() {
			if _, err := b.conn.WriteTo(resp, from); err != nil {
				b.log.Debug("ipmisim: answer not sent", "to", from, "err", err)
			}
		}
		if delay > 0 {
			time.AfterFunc(delay, send)
		} else {
			send()
		}
	}
}

// handle answers one datagram; nil means no answer, as a BMC drops
// malformed packets, packets failing their integrity check, and
// everything under the Unreachable fault.
func (b *BMC) handle(pkt []byte, from net.Addr) []byte {
	p, err := decodePacket(pkt)
	if err != nil {
		b.log.Debug("ipmisim: datagram dropped", "err", err)
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fault == Unreachable {
		return nil
	}
	if p.class == rmcpClassASF {
		return b.pong(p)
	}
	if p.authType == authTypeNone {
		// IPMI v1.5 outside a session: Get Channel Authentication
		// Capabilities and the other sessionless commands.
		if p.sessionID != 0 {
			return nil
		}
		m, err := decodeMessage(p.payload)
		if err != nil {
			b.log.Debug("ipmisim: message dropped", "err", err)
			return nil
		}
		return encode15(b.sessionless(m))
	}
	switch p.payloadType {
	case payloadOpenRequest:
		return b.openSession(p, from)
	case payloadRAKP1:
		return b.rakp1(p)
	case payloadRAKP3:
		return b.rakp3(p)
	case payloadIPMI:
		if p.sessionID == 0 {
			if p.authenticated || p.encrypted {
				return nil
			}
			m, err := decodeMessage(p.payload)
			if err != nil {
				return nil
			}
			return encodePlus(payloadIPMI, false, 0, 0, b.sessionless(m), nil)
		}
		return b.inSession(p)
	}
	b.log.Debug("ipmisim: payload type not simulated; dropped", "type", p.payloadType)
	return nil
}

// pong answers an ASF Presence Ping (DSP0136 section 3.2.4.3): IPMI is
// supported, no ASF interactions.
func (b *BMC) pong(p *packet) []byte {
	if p.asfType != asfPing {
		return nil
	}
	out := []byte{rmcpVersion, 0, p.rmcpSeq, rmcpClassASF}
	out = binary.BigEndian.AppendUint32(out, asfIANA)
	out = append(out, asfPong, p.asfTag, 0, 16)
	out = binary.BigEndian.AppendUint32(out, asfIANA) // IANA enterprise
	out = append(out, 0, 0, 0, 0)                     // OEM defined
	out = append(out, 0x81, 0x00)                     // entities: IPMI supported, ASF 1.0; interactions: none
	return append(out, 0, 0, 0, 0, 0, 0)              // reserved
}

func (b *BMC) suite(auth, integrity, conf byte) (cipherSuite, bool) {
	for _, s := range b.suites {
		if s.auth == auth && s.integrity == integrity && s.conf == conf {
			return s, true
		}
	}
	return cipherSuite{}, false
}

// expireLocked forgets sessions idle past the session timeout.
func (b *BMC) expireLocked() {
	now := b.opt.Clock.Now()
	for id, s := range b.sessions {
		if now.Sub(s.lastSeen) >= b.opt.SessionTimeout {
			delete(b.sessions, id)
		}
	}
}

// openSession answers an RMCP+ Open Session Request (section 13.17).
func (b *BMC) openSession(p *packet, from net.Addr) []byte {
	if p.sessionID != 0 || p.authenticated || p.encrypted {
		return nil
	}
	q := p.payload
	if len(q) < 32 {
		return nil
	}
	tag, role := q[0], Privilege(q[1]&0x0F)
	console := binary.LittleEndian.Uint32(q[4:])
	fail := func(status byte) []byte {
		out := []byte{tag, status, 0, 0}
		out = binary.LittleEndian.AppendUint32(out, console)
		return encodePlus(payloadOpenReply, false, 0, 0, out, nil)
	}
	if console == 0 {
		return fail(rakpIllegalParameter)
	}
	if role > OEM {
		return fail(rakpInvalidRole)
	}
	// Authentication, integrity, confidentiality payloads: type, 2
	// reserved, length 8, algorithm, 3 reserved.
	var alg [3]byte
	for i := range 3 {
		a := q[8+8*i:]
		if a[0] != byte(i) || a[3] != 8 {
			return fail(rakpIllegalParameter)
		}
		alg[i] = a[4] & 0x3F
	}
	s, ok := b.suite(alg[0], alg[1], alg[2])
	if !ok {
		return fail(rakpNoCipherSuiteMatch)
	}
	b.expireLocked()
	if len(b.sessions) >= maxSessions {
		return fail(rakpNoResources)
	}
	var id uint32
	for id == 0 || b.sessions[id] != nil {
		var r [4]byte
		_, _ = rand.Read(r[:])
		id = binary.LittleEndian.Uint32(r[:])
	}
	if role == 0 {
		role = Administrator // the highest level the algorithms allow
	}
	ses := &session{state: stateOpened, kx: keyExchange{suite: s, consoleSID: console, bmcSID: id, guid: b.guid},
		lastSeen: b.opt.Clock.Now(), handle: b.freeHandleLocked()}
	ses.console, _ = from.(*net.UDPAddr)
	b.sessions[id] = ses
	out := []byte{tag, rakpOK, byte(role), 0}
	out = binary.LittleEndian.AppendUint32(out, console)
	out = binary.LittleEndian.AppendUint32(out, id)
	out = append(out, q[8:32]...)
	return encodePlus(payloadOpenReply, false, 0, 0, out, nil)
}

// rakp1 answers RAKP Message 1 with RAKP Message 2 (sections 13.20, 13.21).
func (b *BMC) rakp1(p *packet) []byte {
	q := p.payload
	if p.sessionID != 0 || len(q) < 28 {
		return nil
	}
	tag := q[0]
	s := b.sessions[binary.LittleEndian.Uint32(q[4:])]
	fail := func(status byte, console uint32) []byte {
		out := []byte{tag, status, 0, 0}
		out = binary.LittleEndian.AppendUint32(out, console)
		return encodePlus(payloadRAKP2, false, 0, 0, out, nil)
	}
	if s == nil || s.state != stateOpened {
		return fail(rakpInvalidSessionID, 0)
	}
	kx := &s.kx
	copy(kx.rm[:], q[8:24])
	kx.role = q[24]
	n := int(q[27])
	if n > 16 || len(q) < 28+n {
		return fail(rakpInvalidNameLength, kx.consoleSID)
	}
	kx.user = string(q[28 : 28+n])
	priv := Privilege(kx.role & 0x0F)
	if priv < Callback || priv > OEM {
		return fail(rakpInvalidRole, kx.consoleSID)
	}
	if kx.user != b.opt.Username {
		b.authFailures++
		delete(b.sessions, kx.bmcSID)
		return fail(rakpUnauthorizedName, kx.consoleSID)
	}
	if priv > b.opt.Privilege {
		// The requested maximum privilege is above the account's limit:
		// "unauthorized role or privilege level requested". This holds for
		// name-only lookup (ipmitool's default) and username/privilege
		// lookup alike.
		b.authFailures++
		delete(b.sessions, kx.bmcSID)
		return fail(rakpUnauthorizedRole, kx.consoleSID)
	}
	_, _ = rand.Read(kx.rc[:])
	s.maxPriv = priv
	s.state = stateRAKP2Sent
	s.lastSeen = b.opt.Clock.Now()
	out := []byte{tag, rakpOK, 0, 0}
	out = binary.LittleEndian.AppendUint32(out, kx.consoleSID)
	out = append(out, kx.rc[:]...)
	out = append(out, kx.guid[:]...)
	out = append(out, kx.rakp2(b.opt.Password)...)
	return encodePlus(payloadRAKP2, false, 0, 0, out, nil)
}

// rakp3 checks RAKP Message 3 and answers RAKP Message 4 (sections 13.22,
// 13.23); the session is active from then on.
func (b *BMC) rakp3(p *packet) []byte {
	q := p.payload
	if p.sessionID != 0 || len(q) < 8 {
		return nil
	}
	tag, status := q[0], q[1]
	id := binary.LittleEndian.Uint32(q[4:])
	s := b.sessions[id]
	fail := func(status byte, console uint32) []byte {
		out := []byte{tag, status, 0, 0}
		out = binary.LittleEndian.AppendUint32(out, console)
		return encodePlus(payloadRAKP4, false, 0, 0, out, nil)
	}
	if s == nil || s.state != stateRAKP2Sent {
		return fail(rakpInvalidSessionID, 0)
	}
	kx := &s.kx
	if status != rakpOK {
		// The console refused RAKP 2 (ipmitool does so when the password
		// is wrong: RAKP 2's HMAC does not match). The session is gone.
		b.authFailures++
		delete(b.sessions, id)
		return fail(status, kx.consoleSID)
	}
	if !hmac.Equal(q[8:], kx.rakp3(b.opt.Password)) {
		b.authFailures++
		delete(b.sessions, id)
		return fail(rakpInvalidIntegrity, kx.consoleSID)
	}
	sik := kx.sik(b.opt.Password, b.opt.Kg)
	s.keys = deriveKeys(kx.suite, sik)
	s.state = stateActive
	s.priv = min(User, s.maxPriv) // RMCP+ sessions start at USER level
	s.lastSeen = b.opt.Clock.Now()
	b.sessionsTotal++
	out := []byte{tag, rakpOK, 0, 0}
	out = binary.LittleEndian.AppendUint32(out, kx.consoleSID)
	out = append(out, kx.rakp4(sik)...)
	return encodePlus(payloadRAKP4, false, 0, 0, out, nil)
}

// acceptSeq is the sliding window of section 6.12.13: numbers up to 32
// below the highest seen are accepted once, numbers above it move the
// window; 0 is never valid in a session.
func (s *session) acceptSeq(seq uint32) bool {
	if seq == 0 {
		return false
	}
	switch {
	case seq > s.inSeq:
		shift := seq - s.inSeq
		if shift >= 32 {
			s.seen = 0
		} else {
			s.seen = s.seen<<shift | 1<<(shift-1)
		}
		if s.inSeq == 0 {
			s.seen = 0
		}
		s.inSeq = seq
		return true
	case seq == s.inSeq:
		return false
	default:
		d := s.inSeq - seq
		if d > 32 || s.seen&(1<<(d-1)) != 0 {
			return false
		}
		s.seen |= 1 << (d - 1)
		return true
	}
}

// inSession checks, decrypts and answers a message of an active session.
func (b *BMC) inSession(p *packet) []byte {
	s := b.sessions[p.sessionID]
	if s == nil || s.state != stateActive {
		return nil
	}
	suite := s.kx.suite
	if suite.integrity != integrityNone {
		if !p.authenticated || !hmac.Equal(p.authCode, suite.authCode(s.keys.k1, p.signed)) {
			b.log.Debug("ipmisim: packet failed its integrity check; dropped", "session", p.sessionID)
			return nil
		}
	} else if p.authenticated {
		return nil
	}
	if !s.acceptSeq(p.seq) {
		b.log.Debug("ipmisim: sequence number outside the window or repeated; dropped", "seq", p.seq)
		return nil
	}
	payload := p.payload
	if suite.conf != confNone {
		if !p.encrypted {
			return nil
		}
		var err error
		if payload, err = decryptAES(s.keys.k2, payload); err != nil {
			return nil
		}
	} else if p.encrypted {
		return nil
	}
	m, err := decodeMessage(payload)
	if err != nil {
		return nil
	}
	s.lastSeen = b.opt.Clock.Now()
	resp := b.command(s, m)
	closing := m.netFn == netFnApp && m.cmd == cmdCloseSession && resp[6] == ccOK &&
		binary.LittleEndian.Uint32(m.data) == s.kx.bmcSID
	s.outSeq++
	if s.outSeq == 0 {
		s.outSeq = 1
	}
	encrypted := suite.conf != confNone
	if encrypted {
		resp = encryptAES(s.keys.k2, resp)
	}
	var sign func([]byte) []byte
	if suite.integrity != integrityNone {
		sign = func(signed []byte) []byte { return suite.authCode(s.keys.k1, signed) }
	}
	out := encodePlus(payloadIPMI, encrypted, s.kx.consoleSID, s.outSeq, resp, sign)
	if closing {
		delete(b.sessions, s.kx.bmcSID)
	}
	return out
}

// freeHandleLocked picks a session handle (1–255) no session has.
func (b *BMC) freeHandleLocked() byte {
	used := map[byte]bool{}
	for _, s := range b.sessions {
		used[s.handle] = true
	}
	for h := byte(1); h != 0; h++ {
		if !used[h] {
			return h
		}
	}
	return 0 // unreachable: at most maxSessions sessions
}
