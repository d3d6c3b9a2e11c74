package ipmisim

import (
	"testing"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
)

// The sliding window of section 6.12.13: forward jumps move it, numbers
// below the top are accepted once, 0 and numbers 32 or more behind never.
func TestSequenceWindow(t *testing.T) {
	var s session
	steps := []struct {
		seq uint32
		ok  bool
	}{
		{0, false}, {5, true}, {5, false}, {3, true}, {3, false}, {4, true}, {6, true},
		{40, true}, {8, true}, {7, false}, {9, true}, {9, false}, {1000, true}, {999, true}, {968, true}, {967, false},
	}
	for i, st := range steps {
		if got := s.acceptSeq(st.seq); got != st.ok {
			t.Fatalf("step %d: sequence %d accepted %v, want %v", i, st.seq, got, st.ok)
		}
	}
}

func openRequest(console byte) []byte {
	q := []byte{0x00, 0x00, 0, 0, console, 0, 0, 0,
		0x00, 0, 0, 8, authHMACSHA1, 0, 0, 0,
		0x01, 0, 0, 8, integrityHMACSHA1_96, 0, 0, 0,
		0x02, 0, 0, 8, confAESCBC128, 0, 0, 0}
	return encodePlus(payloadOpenRequest, false, 0, 0, q, nil)
}

// The BMC holds at most maxSessions sessions and answers "insufficient
// resources" beyond; idle sessions end after the session timeout on its
// clock and free their slot.
func TestSessionLimitAndTimeout(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b, err := newBMC(Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	status := func(console byte) byte {
		t.Helper()
		p, err := decodePacket(b.handle(openRequest(console), nil))
		if err != nil || p.payloadType != payloadOpenReply {
			t.Fatalf("open session: %v", err)
		}
		return p.payload[1]
	}
	for i := range maxSessions {
		if st := status(byte(i + 1)); st != rakpOK {
			t.Fatalf("session %d: status %02x", i+1, st)
		}
	}
	if st := status(99); st != rakpNoResources {
		t.Fatalf("session %d: status %02x, want insufficient resources", maxSessions+1, st)
	}
	clk.Advance(time.Minute)
	if st := status(99); st != rakpOK {
		t.Fatalf("after the timeout: status %02x", st)
	}
	// A console session ID of 0 and an algorithm set no suite has are
	// refused by name.
	if st := status(0); st != rakpIllegalParameter {
		t.Fatalf("console session ID 0: status %02x", st)
	}
	q := openRequest(5)
	q[len(q)-4] = 0x00 // no confidentiality: not suite 3
	if p, _ := decodePacket(b.handle(q, nil)); p.payload[1] != rakpNoCipherSuiteMatch {
		t.Fatalf("HMAC-SHA1 without AES: status %02x", p.payload[1])
	}
}
