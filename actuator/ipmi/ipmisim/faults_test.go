package ipmisim_test

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/ipmi/ipmisim"
)

// A broken BMC: the cycle turns power off and never on again, and the
// chassis status says so with its power control fault. Power on mends it.
func TestFaultNeverRestore(t *testing.T) {
	b, clk := start(t, ipmisim.Options{Username: "operator", Password: "s3cret"})
	b.SetFault(ipmisim.NeverRestore)
	mustRun(t, b, "Chassis Power Control: Cycle", "-C", "17", "chassis", "power", "cycle")
	clk.Advance(time.Hour)
	if b.Power() || b.Pending() {
		t.Fatal("a BMC that never restores power turned it on")
	}
	out := mustRun(t, b, "System Power         : off", "-C", "17", "chassis", "status")
	if !strings.Contains(out, "Power Control Fault  : true") {
		t.Fatalf("chassis status of the broken BMC:\n%s", out)
	}
	mustRun(t, b, "Chassis Power Control: Up/On", "-C", "17", "chassis", "power", "on")
	if !b.Power() {
		t.Fatal("power on did not mend it")
	}
	mustRun(t, b, "Power Control Fault  : false", "-C", "17", "chassis", "status")
}

// The OS ignores the ACPI shutdown: power stays on however long one waits.
func TestFaultIgnoreACPI(t *testing.T) {
	b, clk := start(t, ipmisim.Options{Username: "operator", Password: "s3cret"})
	b.SetFault(ipmisim.IgnoreACPI)
	mustRun(t, b, "Chassis Power Control: Soft", "-C", "3", "chassis", "power", "soft")
	clk.Advance(time.Hour)
	if !b.Power() {
		t.Fatal("an OS ignoring ACPI powered off")
	}
}

// A command fails with the completion code asked for, as many times as
// asked, and acts on nothing meanwhile.
func TestFaultFailNext(t *testing.T) {
	b, _ := start(t, ipmisim.Options{Username: "operator", Password: "s3cret"})
	b.FailNext(0x00, 0x02, 0xC0, 2) // Chassis Control: node busy, twice
	for range 2 {
		out, err := ipmitool(t, b, "operator", "s3cret", "-C", "17", "chassis", "power", "off")
		if err == nil || !strings.Contains(out, "Set Chassis Power Control to Down/Off failed: Node busy") {
			t.Fatalf("%v\n%s", err, out)
		}
		if !b.Power() {
			t.Fatal("a failed Chassis Control switched power off")
		}
	}
	mustRun(t, b, "Chassis Power Control: Down/Off", "-C", "17", "chassis", "power", "off")
	if b.Power() {
		t.Fatal("power on after the third power off")
	}
	c := b.Controls()
	if len(c) != 3 || c[0].CC != 0xC0 || c[1].CC != 0xC0 || c[2].CC != 0 || c[2].Action != ipmisim.PowerDown {
		t.Fatalf("controls: %+v", c)
	}
}

// Unreachable answers nothing, but the BMC's own timer still ends a cycle
// it had started.
func TestFaultUnreachable(t *testing.T) {
	b, clk := start(t, ipmisim.Options{Username: "operator", Password: "s3cret", OffTime: 10 * time.Second})
	mustRun(t, b, "Chassis Power Control: Cycle", "-C", "17", "chassis", "power", "cycle")
	b.SetFault(ipmisim.Unreachable)
	if pong := ping(t, b, 0x21, 300*time.Millisecond); pong != nil {
		t.Fatalf("an unreachable BMC answered % x", pong)
	}
	clk.Advance(10 * time.Second)
	if !b.Power() {
		t.Fatal("the cycle's power-on did not happen while unreachable")
	}
	b.SetFault(ipmisim.NoFault)
	mustRun(t, b, "Chassis Power is on", "-C", "17", "chassis", "power", "status")
}

// ping sends an ASF Presence Ping (DMTF DSP0136 3.2.4.3), as rmcpping and
// ipmitool's lan interface do, and returns the answer or nil after wait.
func ping(t *testing.T, b *ipmisim.BMC, tag byte, wait time.Duration) []byte {
	t.Helper()
	c, err := net.Dial("udp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// RMCP: version 6, reserved, sequence 0xFF, class ASF; ASF: IANA 4542,
	// type Presence Ping, tag, reserved, data length 0.
	if _, err := c.Write([]byte{0x06, 0x00, 0xFF, 0x06, 0x00, 0x00, 0x11, 0xBE, 0x80, tag, 0x00, 0x00}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func TestPresencePong(t *testing.T) {
	b, _ := start(t, ipmisim.Options{})
	got := ping(t, b, 0x42, 10*time.Second)
	want := []byte{0x06, 0x00, 0xFF, 0x06, 0x00, 0x00, 0x11, 0xBE, 0x40, 0x42, 0x00, 0x10,
		0x00, 0x00, 0x11, 0xBE, 0x00, 0x00, 0x00, 0x00, 0x81, 0x00, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(got, want) {
		t.Fatalf("pong % x, want % x", got, want)
	}
}

// A slow BMC answers, late; the request acted at once.
func TestFaultDelay(t *testing.T) {
	b, _ := start(t, ipmisim.Options{Username: "operator", Password: "s3cret"})
	b.SetDelay(200 * time.Millisecond)
	began := time.Now()
	if ping(t, b, 1, 10*time.Second) == nil {
		t.Fatal("no answer from a slow BMC")
	}
	if took := time.Since(began); took < 200*time.Millisecond {
		t.Fatalf("answered after %s, before the 200ms delay", took)
	}
	b.SetDelay(0)
	mustRun(t, b, "Chassis Power is on", "-C", "3", "chassis", "power", "status")
}

// sessionless sends an IPMI v1.5 message outside a session, written from
// the spec's layout, and returns the response message.
func sessionless(t *testing.T, b *ipmisim.BMC, netFn, cmd byte, data ...byte) []byte {
	t.Helper()
	msg := []byte{0x20, netFn << 2, 0, 0x81, 0x04, cmd}
	msg[2] = -(msg[0] + msg[1])
	msg = append(msg, data...)
	var sum byte
	for _, x := range msg[3:] {
		sum += x
	}
	msg = append(msg, -sum)
	pkt := append([]byte{0x06, 0x00, 0xFF, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(msg))}, msg...)
	c, err := net.Dial("udp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if n < 14 || int(buf[13]) != n-14 {
		t.Fatalf("answer % x", buf[:n])
	}
	return buf[14:n]
}

// Get Channel Authentication Capabilities as clients send it before any
// session, and the completion codes for bad requests outside one.
func TestSessionlessRequests(t *testing.T) {
	b, _ := start(t, ipmisim.Options{})
	// Channel "this one" with IPMI v2.0 data, privilege ADMINISTRATOR.
	r := sessionless(t, b, 0x06, 0x38, 0x8E, 0x04)
	// rqAddr, netFn 07h, csum, rsAddr, seq, cmd, cc 0, channel 1, v2.0
	// extended capabilities, non-null user names, IPMI v2.0 connections.
	want := []byte{0x81, 0x07 << 2, 0, 0x20, 0x04, 0x38, 0x00, 0x01, 0x80, 0x04, 0x02, 0, 0, 0, 0}
	want[2] = -(want[0] + want[1])
	if len(r) != len(want)+1 || !bytes.Equal(r[:len(want)], want) {
		t.Fatalf("Get Channel Authentication Capabilities: % x, want % x + checksum", r, want)
	}
	if r := sessionless(t, b, 0x06, 0x38, 0x85, 0x04); r[6] != 0xCC {
		t.Fatalf("channel 5: completion code %02x, want CCh", r[6])
	}
	if r := sessionless(t, b, 0x06, 0x38, 0x8E); r[6] != 0xC7 {
		t.Fatalf("one data byte: completion code %02x, want C7h", r[6])
	}
	// Get Channel Cipher Suites, "list by cipher suite", index 0: the
	// records of suites 3 and 17 (section 22.15, table 22-19).
	r = sessionless(t, b, 0x06, 0x54, 0x0E, 0x00, 0x80)
	if got, want := r[6:len(r)-1], []byte{0x00, 0x01, 0xC0, 0x03, 0x01, 0x41, 0x81, 0xC0, 0x11, 0x03, 0x44, 0x81}; !bytes.Equal(got, want) {
		t.Fatalf("Get Channel Cipher Suites: % x, want % x", got, want)
	}
	// Chassis Control outside a session: not in this state, and no action.
	if r := sessionless(t, b, 0x00, 0x02, 0x00); r[6] != 0xD5 {
		t.Fatalf("chassis control outside a session: completion code %02x, want D5h", r[6])
	}
	if !b.Power() || len(b.Controls()) != 0 {
		t.Fatal("a request outside a session switched power")
	}
}
