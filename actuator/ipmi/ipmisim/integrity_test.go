package ipmisim

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
)

// console is the remote console's side of a session, for tests that need
// to send what ipmitool would not: tampered, replayed or unprotected
// packets.
type console struct {
	t     testing.TB
	b     *BMC
	kx    keyExchange
	keys  keys
	seq   uint32
	rqSeq byte
}

func (c *console) send(pkt []byte) *packet {
	c.t.Helper()
	out := c.b.handle(pkt, nil)
	if out == nil {
		return nil
	}
	p, err := decodePacket(out)
	if err != nil {
		c.t.Fatalf("answer % x: %v", out, err)
	}
	return p
}

// handshake opens a session the way section 13.17–13.23 describes, with
// the console's side of RAKP computed here.
func handshake(t testing.TB, b *BMC, suite byte, user, password string, role byte) *console {
	t.Helper()
	cs := cipherSuites[suite]
	c := &console{t: t, b: b, kx: keyExchange{suite: cs, consoleSID: 0x11223344, role: role, user: user}}
	q := []byte{0, 0, 0, 0}
	q = binary.LittleEndian.AppendUint32(q, c.kx.consoleSID)
	q = append(q, 0, 0, 0, 8, cs.auth, 0, 0, 0, 1, 0, 0, 8, cs.integrity, 0, 0, 0, 2, 0, 0, 8, cs.conf, 0, 0, 0)
	p := c.send(encodePlus(payloadOpenRequest, false, 0, 0, q, nil))
	if p == nil || p.payload[1] != rakpOK {
		t.Fatalf("open session: %+v", p)
	}
	c.kx.bmcSID = binary.LittleEndian.Uint32(p.payload[8:])
	for i := range 16 {
		c.kx.rm[i] = byte(i * 7)
	}
	r1 := []byte{0, 0, 0, 0}
	r1 = binary.LittleEndian.AppendUint32(r1, c.kx.bmcSID)
	r1 = append(r1, c.kx.rm[:]...)
	r1 = append(r1, role, 0, 0, byte(len(user)))
	r1 = append(r1, user...)
	p = c.send(encodePlus(payloadRAKP1, false, 0, 0, r1, nil))
	if p == nil || p.payload[1] != rakpOK {
		t.Fatalf("RAKP 2: %+v", p)
	}
	copy(c.kx.rc[:], p.payload[8:24])
	copy(c.kx.guid[:], p.payload[24:40])
	if !bytes.Equal(p.payload[40:], c.kx.rakp2(password)) {
		t.Fatal("RAKP 2 key exchange code does not match the password")
	}
	r3 := []byte{0, 0, 0, 0}
	r3 = binary.LittleEndian.AppendUint32(r3, c.kx.bmcSID)
	r3 = append(r3, c.kx.rakp3(password)...)
	p = c.send(encodePlus(payloadRAKP3, false, 0, 0, r3, nil))
	if p == nil || p.payload[1] != rakpOK {
		t.Fatalf("RAKP 4: %+v", p)
	}
	sik := c.kx.sik(password, b.opt.Kg)
	if !bytes.Equal(p.payload[8:], c.kx.rakp4(sik)) {
		t.Fatal("RAKP 4 integrity check value wrong")
	}
	c.keys = deriveKeys(cs, sik)
	return c
}

// request builds an in-session IPMI request packet.
func (c *console) request(netFn, cmd byte, data ...byte) []byte {
	c.seq++
	c.rqSeq++
	m := []byte{0x20, netFn << 2, 0, 0x81, c.rqSeq << 2, cmd}
	m[2] = checksum(m[:2])
	m = append(m, data...)
	m = append(m, checksum(m[3:]))
	suite := c.kx.suite
	if suite.conf != confNone {
		m = encryptAES(c.keys.k2, m)
	}
	var sign func([]byte) []byte
	if suite.integrity != integrityNone {
		sign = func(s []byte) []byte { return suite.authCode(c.keys.k1, s) }
	}
	return encodePlus(payloadIPMI, suite.conf != confNone, c.kx.bmcSID, c.seq, m, sign)
}

// completion decrypts an answer and returns its completion code.
func (c *console) completion(p *packet) byte {
	c.t.Helper()
	if p == nil {
		c.t.Fatal("no answer")
	}
	if p.sessionID != c.kx.consoleSID || !hmacOK(c.kx.suite, c.keys.k1, p) {
		c.t.Fatalf("answer for session %08x or with a bad AuthCode", p.sessionID)
	}
	m := p.payload
	if p.encrypted {
		var err error
		if m, err = decryptAES(c.keys.k2, m); err != nil {
			c.t.Fatal(err)
		}
	}
	return m[6]
}

func hmacOK(s cipherSuite, k1 []byte, p *packet) bool {
	return s.integrity == integrityNone || bytes.Equal(p.authCode, s.authCode(k1, p.signed))
}

// Packets of a session that fail its protection act on nothing and get no
// answer: a wrong AuthCode, a replay, an unencrypted or unsigned payload,
// a session ID nobody has.
func TestInSessionProtection(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b, err := newBMC(Options{Username: "admin", Password: "pw", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	for i, suite := range []byte{3, 17} {
		b.SetPower(true)
		c := handshake(t, b, suite, "admin", "pw", 0x14)
		if cc := c.completion(c.send(c.request(netFnApp, cmdSetSessionPrivilege, byte(Operator)))); cc != ccOK {
			t.Fatalf("suite %d: set privilege: %02x", suite, cc)
		}
		off := c.request(netFnChassis, cmdChassisControl, PowerDown)
		tampered := bytes.Clone(off)
		tampered[len(tampered)-1] ^= 1
		if c.send(tampered) != nil || !b.power {
			t.Fatalf("suite %d: a wrong AuthCode was answered or acted on", suite)
		}
		if cc := c.completion(c.send(off)); cc != ccOK || b.power {
			t.Fatalf("suite %d: power down: %02x, power %v", suite, cc, b.power)
		}
		b.SetPower(true)
		if c.send(off) != nil || !b.power {
			t.Fatalf("suite %d: a replayed packet was answered or acted on", suite)
		}
		// The same request unencrypted (and signed), then unsigned.
		c.seq++
		m := []byte{0x20, netFnChassis << 2, 0, 0x81, 0x40, cmdChassisControl}
		m[2] = checksum(m[:2])
		m = append(m, PowerDown)
		m = append(m, checksum(m[3:]))
		plain := encodePlus(payloadIPMI, false, c.kx.bmcSID, c.seq, m, func(s []byte) []byte { return c.kx.suite.authCode(c.keys.k1, s) })
		c.seq++
		unsigned := encodePlus(payloadIPMI, false, c.kx.bmcSID, c.seq, m, nil)
		if c.send(plain) != nil || c.send(unsigned) != nil || !b.power {
			t.Fatalf("suite %d: an unprotected request was answered or acted on", suite)
		}
		// Another session's ID.
		wrong := c.request(netFnChassis, cmdChassisControl, PowerDown)
		binary.LittleEndian.PutUint32(wrong[6:], c.kx.bmcSID+1)
		if c.send(wrong) != nil || !b.power {
			t.Fatalf("suite %d: a request for an unknown session was answered or acted on", suite)
		}
		if n := len(b.controls); n != i+1 { // one power down per suite
			t.Fatalf("suite %d: %d controls: %+v", suite, n, b.controls)
		}
		if cc := c.completion(c.send(c.request(netFnApp, cmdCloseSession, le32(c.kx.bmcSID)...))); cc != ccOK {
			t.Fatalf("close session: %02x", cc)
		}
		if c.send(c.request(netFnChassis, cmdGetChassisStatus)) != nil {
			t.Fatalf("suite %d: a closed session still answers", suite)
		}
	}
}

// BenchmarkSession is one ipmitool-like exchange in process, without the
// network: Open Session, RAKP 1–4, Get Chassis Status, Close Session.
func BenchmarkSession(b *testing.B) {
	for _, suite := range []byte{3, 17} {
		b.Run(fmt.Sprintf("suite %d", suite), func(b *testing.B) {
			bmc, err := newBMC(Options{Username: "admin", Password: "pw"})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				c := handshake(b, bmc, suite, "admin", "pw", 0x14)
				if cc := c.completion(c.send(c.request(netFnChassis, cmdGetChassisStatus))); cc != ccOK {
					b.Fatal(cc)
				}
				if cc := c.completion(c.send(c.request(netFnApp, cmdCloseSession, le32(c.kx.bmcSID)...))); cc != ccOK {
					b.Fatal(cc)
				}
			}
		})
	}
}

// Set Session Privilege Level: up to the session's maximum (RAKP 1's
// role), 80h above it, 81h above the account's limit, CCh for a level that
// is not one.
func TestSetSessionPrivilege(t *testing.T) {
	b, err := newBMC(Options{Username: "op", Password: "pw", Privilege: Operator})
	if err != nil {
		t.Fatal(err)
	}
	c := handshake(t, b, 17, "op", "pw", 0x10|byte(User)) // session maximum USER
	for _, st := range []struct{ level, cc byte }{
		{byte(User), ccOK}, {byte(Operator), 0x80}, {byte(Administrator), 0x81}, {1, 0xCC}, {6, 0xCC},
	} {
		if cc := c.completion(c.send(c.request(netFnApp, cmdSetSessionPrivilege, st.level))); cc != st.cc {
			t.Fatalf("level %d: completion code %02x, want %02x", st.level, cc, st.cc)
		}
	}
	// At USER, Chassis Control is refused and does nothing.
	if cc := c.completion(c.send(c.request(netFnChassis, cmdChassisControl, PowerDown))); cc != ccInsufficientPriv || !b.power {
		t.Fatalf("power down at USER: %02x, power %v", cc, b.power)
	}
}
