package pdusim

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gosnmp/gosnmp"
)

// Counters of RFC 3412, 3413 and 3414 the agent keeps and serves. Each is
// the OID (instance .0) a Report carries when it counts an error.
const (
	snmpInASNParseErrs           = "1.3.6.1.2.1.11.6.0"
	snmpUnknownSecurityModels    = "1.3.6.1.6.3.11.2.1.1.0"
	snmpInvalidMsgs              = "1.3.6.1.6.3.11.2.1.2.0"
	snmpUnknownPDUHandlers       = "1.3.6.1.6.3.11.2.1.3.0"
	snmpUnknownContexts          = "1.3.6.1.6.3.12.1.5.0"
	usmStatsUnsupportedSecLevels = "1.3.6.1.6.3.15.1.1.1.0"
	usmStatsNotInTimeWindows     = "1.3.6.1.6.3.15.1.1.2.0"
	usmStatsUnknownUserNames     = "1.3.6.1.6.3.15.1.1.3.0"
	usmStatsUnknownEngineIDs     = "1.3.6.1.6.3.15.1.1.4.0"
	usmStatsWrongDigests         = "1.3.6.1.6.3.15.1.1.5.0"
	usmStatsDecryptionErrors     = "1.3.6.1.6.3.15.1.1.6.0"
)

// counterOIDs are served in the MIB, in this order.
var counterOIDs = []string{snmpInASNParseErrs, snmpUnknownSecurityModels, snmpInvalidMsgs, snmpUnknownPDUHandlers,
	snmpUnknownContexts, usmStatsUnsupportedSecLevels, usmStatsNotInTimeWindows, usmStatsUnknownUserNames,
	usmStatsUnknownEngineIDs, usmStatsWrongDigests, usmStatsDecryptionErrors}

// snmpEngine group (SNMP-FRAMEWORK-MIB).
const (
	snmpEngineID             = "1.3.6.1.6.3.10.2.1.1.0"
	snmpEngineBoots          = "1.3.6.1.6.3.10.2.1.2.0"
	snmpEngineTime           = "1.3.6.1.6.3.10.2.1.3.0"
	snmpEngineMaxMessageSize = "1.3.6.1.6.3.10.2.1.4.0"
)

const (
	// maxMessageSize is what the agent accepts and says it does
	// (snmpEngineMaxMessageSize): the largest UDP payload over IPv4.
	maxMessageSize = 65507
	// timeWindow is RFC 3414 2.2.3's 150 seconds.
	timeWindow = 150
	// flag bits of msgFlags.
	flagAuth       = 0x01
	flagPriv       = 0x02
	flagReportable = 0x04
	usmModel       = 3
)

// v3Message is an SNMPv3 message as RFC 3412 section 6 lays it out, with
// the USM security parameters of RFC 3414 2.4 and the offset of the MAC.
type v3Message struct {
	msgID, maxSize int
	flags          byte
	securityModel  int
	engineID       []byte
	boots, time    int
	user           []byte
	authParams     []byte
	authOff        int
	privParams     []byte
	dataTag        byte
	data           []byte // plaintext ScopedPDU (SEQUENCE content) or ciphertext
}

// parseV3 reads the message wrapper; errors are snmpInASNParseErrs.
func parseV3(msg []byte) (*v3Message, error) {
	top, err := newBERReader(msg).enter("SNMPv3Message")
	if err != nil {
		return nil, err
	}
	m := &v3Message{}
	if v, err := top.integer("msgVersion"); err != nil || v != 3 {
		return nil, fmt.Errorf("%w: not an SNMPv3 message", errBER)
	}
	g, err := top.enter("msgGlobalData")
	if err != nil {
		return nil, err
	}
	if m.msgID, err = g.integer("msgID"); err != nil {
		return nil, err
	}
	if m.maxSize, err = g.integer("msgMaxSize"); err != nil {
		return nil, err
	}
	flags, _, err := g.octets("msgFlags")
	if err != nil {
		return nil, err
	}
	if len(flags) != 1 {
		return nil, fmt.Errorf("%w: msgFlags has %d octets", errBER, len(flags))
	}
	m.flags = flags[0]
	if m.securityModel, err = g.integer("msgSecurityModel"); err != nil {
		return nil, err
	}
	// msgSecurityParameters is an OCTET STRING wrapping the USM SEQUENCE;
	// read it in place so offsets stay those of the whole message.
	spOff, spLen, err := top.expect(tagOctetString, "msgSecurityParameters")
	if err != nil {
		return nil, err
	}
	if m.securityModel == usmModel {
		sp, err := (&berReader{msg: msg, off: spOff, end: spOff + spLen}).enter("UsmSecurityParameters")
		if err != nil {
			return nil, err
		}
		if m.engineID, _, err = sp.octets("msgAuthoritativeEngineID"); err != nil {
			return nil, err
		}
		if m.boots, err = sp.integer("msgAuthoritativeEngineBoots"); err != nil {
			return nil, err
		}
		if m.time, err = sp.integer("msgAuthoritativeEngineTime"); err != nil {
			return nil, err
		}
		if m.user, _, err = sp.octets("msgUserName"); err != nil {
			return nil, err
		}
		if len(m.user) > 32 {
			return nil, fmt.Errorf("%w: msgUserName longer than 32 octets", errBER)
		}
		if m.authParams, m.authOff, err = sp.octets("msgAuthenticationParameters"); err != nil {
			return nil, err
		}
		if m.privParams, _, err = sp.octets("msgPrivacyParameters"); err != nil {
			return nil, err
		}
	}
	tag, off, n, err := top.next()
	if err != nil {
		return nil, fmt.Errorf("msgData: %w", err)
	}
	if tag != tagSequence && tag != tagOctetString {
		return nil, fmt.Errorf("%w: msgData has tag 0x%02x", errBER, tag)
	}
	m.dataTag, m.data = tag, msg[off:off+n]
	return m, nil
}

// scopedPDU is a decoded ScopedPDU: the context and the PDU, which gosnmp
// decodes.
type scopedPDU struct {
	contextEngineID, contextName []byte
	pdu                          *gosnmp.SnmpPacket
}

// parseScopedPDU reads a ScopedPDU's content (after its SEQUENCE header)
// and decodes its PDU with gosnmp by wrapping it as a v2c message, whose
// PDUs are the same (RFC 3416).
func parseScopedPDU(content []byte) (*scopedPDU, error) {
	r := &berReader{msg: content, end: len(content)}
	s := &scopedPDU{}
	var err error
	if s.contextEngineID, _, err = r.octets("contextEngineID"); err != nil {
		return nil, err
	}
	if s.contextName, _, err = r.octets("contextName"); err != nil {
		return nil, err
	}
	start := r.off
	if _, _, _, err := r.next(); err != nil {
		return nil, fmt.Errorf("PDU: %w", err)
	}
	pdu := content[start:r.off]
	wrapped := berTLV(tagSequence, append([]byte{tagInteger, 1, 1, tagOctetString, 0}, pdu...))
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
	if s.pdu, err = dec.SnmpDecodePacket(wrapped); err != nil {
		return nil, err
	}
	return s, nil
}

// plaintextScopedPDU unwraps a decrypted ScopedPDU: a SEQUENCE, then
// padding the cipher may have added.
func plaintextScopedPDU(b []byte) ([]byte, error) {
	r := newBERReader(b)
	off, n, err := r.expect(tagSequence, "ScopedPDU")
	if err != nil {
		return nil, err
	}
	return b[off : off+n], nil
}

// v3Error is an RFC 3414/3412 error indication: the counter it increments
// and, when the request is reportable, the Report that carries it.
type v3Error struct {
	counter string
	// level is the Report's security level: noAuthNoPriv except for
	// notInTimeWindow, which is authenticated (RFC 3414 3.2 step 7b).
	level byte
}

func (e *v3Error) Error() string { return "SNMPv3 error indication " + e.counter }

// engineTime is snmpEngineTime: seconds since the engine (re)started.
func (p *PDU) engineTime() int {
	return int(min(p.opt.Clock.Now().Sub(p.start).Seconds(), 0x7fffffff))
}

// count increments a counter.
func (p *PDU) count(oid string) {
	p.mu.Lock()
	p.counters[oid]++
	p.mu.Unlock()
}

// handleV3 answers one SNMPv3 datagram following RFC 3412 7.2 and RFC 3414
// 3.2; nil means no answer.
func (p *PDU) handleV3(pkt []byte) []byte {
	m, err := parseV3(pkt)
	if err != nil {
		p.count(snmpInASNParseErrs)
		p.log.Debug("pdusim: undecodable SNMPv3 message dropped", "err", err)
		return nil
	}
	// RFC 3412 7.2 step 3: privacy without authentication is invalid.
	if m.flags&(flagAuth|flagPriv) == flagPriv {
		p.count(snmpInvalidMsgs)
		return nil
	}
	// RFC 3412 7.2 step 4: only the USM is spoken.
	if m.securityModel != usmModel {
		p.count(snmpUnknownSecurityModels)
		return nil
	}
	user, sc, verr := p.processIncoming(pkt, m)
	if verr != nil {
		return p.report(m, user, sc, verr)
	}
	if sc == nil {
		return nil // counted and dropped
	}
	return p.respondV3(m, user, sc)
}

// processIncoming is the USM's processIncomingMsg (RFC 3414 3.2) and the
// dispatcher's checks of the scoped PDU: the user, the decoded scoped PDU,
// or an error indication to report; (nil, nil, nil) means drop.
func (p *PDU) processIncoming(pkt []byte, m *v3Message) (*usmUser, *scopedPDU, *v3Error) {
	level := m.flags & (flagAuth | flagPriv)
	plain := func() *scopedPDU {
		// For Reports of errors found before decryption: the request ID
		// from the plaintext scoped PDU when there is one.
		if m.dataTag != tagSequence {
			return nil
		}
		sc, _ := parseScopedPDU(m.data)
		return sc
	}
	// Step 3: an engine ID that is not ours (the empty one of discovery
	// included).
	if string(m.engineID) != string(p.engineID) {
		p.count(usmStatsUnknownEngineIDs)
		return nil, plain(), &v3Error{counter: usmStatsUnknownEngineIDs}
	}
	// Step 4: the user.
	user := p.users[string(m.user)]
	if user == nil {
		p.count(usmStatsUnknownUserNames)
		return nil, plain(), &v3Error{counter: usmStatsUnknownUserNames}
	}
	// Step 5: a security level the user's protocols cannot give.
	if level&^user.level() != 0 {
		p.count(usmStatsUnsupportedSecLevels)
		return nil, plain(), &v3Error{counter: usmStatsUnsupportedSecLevels}
	}
	if level&flagAuth != 0 {
		// Step 6: the MAC.
		if !user.authentic(pkt, m.authOff, m.authParams) {
			p.count(usmStatsWrongDigests)
			return nil, plain(), &v3Error{counter: usmStatsWrongDigests}
		}
		// Step 7: the time window, now the message is authentic.
		now := p.engineTime()
		if m.boots == 0x7fffffff || m.boots != p.boots || m.time > now+timeWindow || m.time < now-timeWindow {
			p.count(usmStatsNotInTimeWindows)
			p.log.Debug("pdusim: SNMPv3 request outside the time window", "user", user.name, "boots", m.boots, "time", m.time, "engine_boots", p.boots, "engine_time", now)
			return user, plain(), &v3Error{counter: usmStatsNotInTimeWindows, level: flagAuth}
		}
	}
	data := m.data
	if level&flagPriv != 0 {
		// Step 8: decrypt.
		if m.dataTag != tagOctetString {
			p.count(snmpInASNParseErrs)
			return nil, nil, nil
		}
		dec, err := user.decrypt(m.data, m.privParams, m.boots, m.time)
		if err != nil {
			p.count(usmStatsDecryptionErrors)
			return nil, nil, &v3Error{counter: usmStatsDecryptionErrors}
		}
		// A wrong privacy key decrypts to garbage that is no ScopedPDU:
		// RFC 3412 7.2 step 6 counts a parse error and drops it, as
		// Net-SNMP's agent and snmpsim do, so the manager times out.
		if data, err = plaintextScopedPDU(dec); err != nil {
			p.count(snmpInASNParseErrs)
			p.log.Debug("pdusim: SNMPv3 message decrypts to no scoped PDU (wrong privacy password?); dropped", "user", user.name)
			return nil, nil, nil
		}
	} else if m.dataTag != tagSequence {
		p.count(snmpInASNParseErrs)
		return nil, nil, nil
	}
	sc, err := parseScopedPDU(data)
	if err != nil {
		p.count(snmpInASNParseErrs)
		p.log.Debug("pdusim: undecodable scoped PDU dropped", "err", err)
		return nil, nil, nil
	}
	// RFC 3412 4.2.2.1: the command responder serves our engine (an empty
	// contextEngineID means the same) and the default context only.
	if len(sc.contextEngineID) > 0 && string(sc.contextEngineID) != string(p.engineID) {
		p.count(snmpUnknownPDUHandlers)
		return user, sc, &v3Error{counter: snmpUnknownPDUHandlers, level: level}
	}
	if len(sc.contextName) > 0 {
		p.count(snmpUnknownContexts)
		return user, sc, &v3Error{counter: snmpUnknownContexts, level: level}
	}
	return user, sc, nil
}

// nextSalt is a fresh msgPrivacyParameters for an encrypted answer:
// DES takes engine boots and a counter (RFC 3414 8.1.1.1), AES a 64-bit
// counter (RFC 3826 3.1.2.1).
func (p *PDU) nextSalt(u *usmUser) []byte {
	p.mu.Lock()
	p.salt++
	n := p.salt
	p.mu.Unlock()
	salt := make([]byte, 8)
	if u.priv == privDES {
		binary.BigEndian.PutUint32(salt, uint32(p.boots))
		binary.BigEndian.PutUint32(salt[4:], uint32(n))
	} else {
		binary.BigEndian.PutUint64(salt, n)
	}
	return salt
}

// report is the Report PDU of RFC 3412 7.1 step 3: sent only when the
// request asked for reports, with the counter's OID and new value.
func (p *PDU) report(m *v3Message, user *usmUser, sc *scopedPDU, e *v3Error) []byte {
	if m.flags&flagReportable == 0 {
		return nil
	}
	p.mu.Lock()
	value := p.counters[e.counter]
	p.mu.Unlock()
	out := &gosnmp.SnmpPacket{
		Version: gosnmp.Version3, MsgFlags: gosnmp.SnmpV3MsgFlags(e.level), SecurityModel: gosnmp.UserSecurityModel,
		MsgID: uint32(m.msgID), MsgMaxSize: maxMessageSize, PDUType: gosnmp.Report,
		ContextEngineID: string(p.engineID), Logger: gosnmp.NewLogger(nil),
		Variables: []gosnmp.SnmpPDU{{Name: e.counter, Type: gosnmp.Counter32, Value: uint(value)}},
	}
	if sc != nil {
		out.RequestID, out.ContextName = sc.pdu.RequestID, string(sc.contextName)
	}
	sp := &gosnmp.UsmSecurityParameters{
		AuthoritativeEngineID: string(p.engineID), AuthoritativeEngineBoots: uint32(p.boots),
		AuthoritativeEngineTime: uint32(p.engineTime()), UserName: string(m.user),
		AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv, Logger: gosnmp.NewLogger(nil),
	}
	if user != nil && e.level != 0 {
		sp = user.securityParameters(p.engineID, p.boots, p.engineTime(), p.nextSalt(user), e.level)
	}
	out.SecurityParameters = sp
	b, err := out.MarshalMsg()
	if err != nil {
		p.log.Debug("pdusim: report not encodable", "err", err)
		return nil
	}
	return b
}

// errAuthorization stands for VACM's noAccessEntry: a user's request
// below the security level the user is configured for.
var errAuthorization = errors.New("authorizationError")

// respondV3 serves an authentic request with the user's rights: every v3
// user reads and writes, at the security level it is configured for
// (RFC 3413 3.2 step 4: less is authorizationError).
func (p *PDU) respondV3(m *v3Message, user *usmUser, sc *scopedPDU) []byte {
	req := sc.pdu
	level := m.flags & (flagAuth | flagPriv)
	p.mu.Lock()
	fault := p.fault
	p.mu.Unlock()
	resp := &gosnmp.SnmpPacket{
		Version: gosnmp.Version3, MsgFlags: gosnmp.SnmpV3MsgFlags(level), SecurityModel: gosnmp.UserSecurityModel,
		MsgID: uint32(m.msgID), MsgMaxSize: maxMessageSize, PDUType: gosnmp.GetResponse, RequestID: req.RequestID,
		ContextEngineID: string(p.engineID), ContextName: string(sc.contextName), Logger: gosnmp.NewLogger(nil),
		SecurityParameters: user.securityParameters(p.engineID, p.boots, p.engineTime(), p.nextSalt(user), level),
	}
	if level != user.level() {
		resp.Error, resp.Variables = gosnmp.AuthorizationError, req.Variables
		p.log.Debug("pdusim: SNMPv3 request below the user's security level", "user", user.name, "err", errAuthorization)
	} else {
		switch req.PDUType {
		case gosnmp.GetRequest:
			p.get(req, resp, false)
		case gosnmp.GetNextRequest:
			p.getNext(req, resp, false)
		case gosnmp.GetBulkRequest:
			p.getBulk(req, resp)
		case gosnmp.SetRequest:
			p.set(req, resp, false, true, fault == RefuseSet)
		default:
			// RFC 3412 4.2.2.1: no application for this PDU type.
			p.count(snmpUnknownPDUHandlers)
			return p.report(m, user, sc, &v3Error{counter: snmpUnknownPDUHandlers, level: level})
		}
	}
	b, err := resp.MarshalMsg()
	if err != nil {
		p.log.Debug("pdusim: answer not encodable", "err", err)
		return nil
	}
	return b
}
