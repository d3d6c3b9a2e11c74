package ipmisim

import (
	"testing"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
)

// fuzzSession is an active cipher-suite-0 session the fuzzer can reach
// without forging an AuthCode, so the command handlers are fuzzed too.
const fuzzSession = 0x01020304

// seedPackets are datagrams as clients send them, written from the spec's
// layouts (and matching what ipmitool -vvvv printed).
func seedPackets() [][]byte {
	ipmiMsg := func(netFn, cmd byte, data ...byte) []byte {
		m := []byte{0x20, netFn << 2, 0, 0x81, 0x08, cmd}
		m[2] = checksum(m[:2])
		m = append(m, data...)
		return append(m, checksum(m[3:]))
	}
	open := []byte{0x00, 0x04, 0, 0, 0xa4, 0xa3, 0xa2, 0xa0,
		0x00, 0, 0, 8, 0x03, 0, 0, 0, // RAKP-HMAC-SHA256
		0x01, 0, 0, 8, 0x04, 0, 0, 0, // HMAC-SHA256-128
		0x02, 0, 0, 8, 0x01, 0, 0, 0} // AES-CBC-128
	rakp1 := append([]byte{0, 0, 0, 0}, le32(fuzzSession)...)
	rakp1 = append(rakp1, make([]byte, 16)...)
	rakp1 = append(rakp1, 0x14, 0, 0, 8)
	rakp1 = append(rakp1, "operator"...)
	rakp3 := append([]byte{0, 0x0F, 0, 0}, le32(fuzzSession)...)
	return [][]byte{
		{0x06, 0x00, 0xFF, 0x06, 0x00, 0x00, 0x11, 0xBE, 0x80, 0x01, 0x00, 0x00}, // ASF presence ping
		encode15(ipmiMsg(netFnApp, cmdGetChannelAuthCaps, 0x8E, 0x04)),
		encodePlus(payloadIPMI, false, 0, 0, ipmiMsg(netFnApp, cmdGetChannelCiphers, 0x0E, 0x00, 0x80), nil),
		encodePlus(payloadOpenRequest, false, 0, 0, open, nil),
		encodePlus(payloadRAKP1, false, 0, 0, rakp1, nil),
		encodePlus(payloadRAKP3, false, 0, 0, rakp3, nil),
		encodePlus(payloadIPMI, false, fuzzSession, 1, ipmiMsg(netFnChassis, cmdChassisControl, PowerCycle), nil),
		encodePlus(payloadIPMI, false, fuzzSession, 2, ipmiMsg(netFnChassis, cmdGetChassisStatus), nil),
		encodePlus(payloadIPMI, false, fuzzSession, 3, ipmiMsg(netFnApp, cmdSetSessionPrivilege, 0x04), nil),
		encodePlus(payloadIPMI, true, fuzzSession, 4, make([]byte, 32), func([]byte) []byte { return make([]byte, 12) }),
	}
}

// FuzzDecodePacket feeds datagrams to the decoder and to a BMC: nothing
// may panic, and what decodes must be framed consistently.
func FuzzDecodePacket(f *testing.F) {
	for _, p := range seedPackets() {
		f.Add(p)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		p, err := decodePacket(pkt)
		if err == nil && p.class == rmcpClassIPMI {
			if p.authenticated && len(p.signed)%4 != 0 {
				t.Fatalf("signed range of %d bytes is not whole DWORDs", len(p.signed))
			}
			if m, err := decodeMessage(p.payload); err == nil {
				if r := m.response(ccOK, nil); checksum(r[3:len(r)-1]) != r[len(r)-1] {
					t.Fatal("response checksum wrong")
				}
			}
		}
		b, err := newBMC(Options{CipherSuites: []int{0, 3, 17}, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		b.sessions[fuzzSession] = &session{state: stateActive, kx: keyExchange{suite: cipherSuites[0], consoleSID: 7, bmcSID: fuzzSession},
			maxPriv: Administrator, priv: Administrator, lastSeen: clk.Now()}
		resp := b.handle(pkt, nil)
		if resp != nil {
			if _, err := decodePacket(resp); err != nil && resp[3] != rmcpClassASF {
				t.Fatalf("the BMC answered an undecodable datagram % x: %v", resp, err)
			}
		}
	})
}

// The seeds decode as what they are.
func TestSeedPacketsDecode(t *testing.T) {
	want := []byte{0xFF, payloadIPMI, payloadIPMI, payloadOpenRequest, payloadRAKP1, payloadRAKP3, payloadIPMI, payloadIPMI, payloadIPMI, payloadIPMI}
	for i, s := range seedPackets() {
		p, err := decodePacket(s)
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		if p.class == rmcpClassASF {
			if p.asfType != asfPing {
				t.Fatalf("seed %d: ASF type %02x", i, p.asfType)
			}
			continue
		}
		if p.payloadType != want[i] {
			t.Fatalf("seed %d: payload type %02x, want %02x", i, p.payloadType, want[i])
		}
	}
	// The in-session Chassis Control seed power-cycles a suite-0 session's
	// BMC: the decoder and the handler agree on the layout.
	b, _ := newBMC(Options{CipherSuites: []int{0}})
	b.sessions[fuzzSession] = &session{state: stateActive, kx: keyExchange{suite: cipherSuites[0], consoleSID: 7, bmcSID: fuzzSession},
		maxPriv: Administrator, priv: Administrator}
	resp := b.handle(seedPackets()[6], nil)
	p, err := decodePacket(resp)
	if err != nil || p.sessionID != 7 || len(p.payload) < 7 || p.payload[6] != ccOK || b.power {
		t.Fatalf("cycle through the seed: % x %v, power %v", resp, err, b.power)
	}
}
