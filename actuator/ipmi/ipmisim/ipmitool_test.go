package ipmisim_test

import (
	"context"
	"encoding/hex"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/ipmi/ipmisim"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/testtool"
)

func needIpmitool(t *testing.T) string {
	t.Helper()
	path := testtool.Need(t, "ipmitool", "ipmitool")
	return path
}

// ipmitool runs Debian's ipmitool -I lanplus against the simulator, as an
// operator would: one try per message with a 3 s timeout (a retry could
// repeat a Chassis Control whose answer was merely late).
func ipmitool(t *testing.T, b *ipmisim.BMC, user, password string, args ...string) (string, error) {
	t.Helper()
	bin := needIpmitool(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	a := append([]string{"-I", "lanplus", "-H", b.Host(), "-p", strconv.Itoa(b.Port()), "-U", user, "-P", password, "-N", "3", "-R", "1"}, args...)
	out, err := exec.CommandContext(ctx, bin, a...).CombinedOutput()
	return string(out), err
}

func start(t *testing.T, opt ipmisim.Options) (*ipmisim.BMC, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if opt.Clock == nil {
		opt.Clock = clk
	}
	b, err := ipmisim.Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, clk
}

func mustRun(t *testing.T, b *ipmisim.BMC, want string, args ...string) string {
	t.Helper()
	out, err := ipmitool(t, b, "operator", "s3cret", args...)
	if err != nil || !strings.Contains(out, want) {
		t.Fatalf("ipmitool %s: %v\n%s\nwant %q", strings.Join(args, " "), err, out, want)
	}
	return out
}

// ipmitool drives every chassis power command over RMCP+ with cipher
// suites 3 and 17; the simulator's power follows, and a cycle's power
// comes back on by the BMC itself once the off time has passed on its
// clock.
func TestIpmitoolChassisPower(t *testing.T) {
	for _, suite := range []string{"3", "17"} {
		t.Run("cipher suite "+suite, func(t *testing.T) {
			b, clk := start(t, ipmisim.Options{Username: "operator", Password: "s3cret", OffTime: 4 * time.Second, ShutdownDelay: 30 * time.Second})
			mustRun(t, b, "Chassis Power is on", "-C", suite, "chassis", "power", "status")

			mustRun(t, b, "Chassis Power Control: Down/Off", "-C", suite, "chassis", "power", "off")
			if b.Power() {
				t.Fatal("power still on after chassis power off")
			}
			mustRun(t, b, "Chassis Power is off", "-C", suite, "chassis", "power", "status")
			// A cycle while off does nothing and says so (section 28.3).
			out, err := ipmitool(t, b, "operator", "s3cret", "-C", suite, "chassis", "power", "cycle")
			if err == nil || !strings.Contains(out, "Set Chassis Power Control to Cycle failed: Command not supported in present state") {
				t.Fatalf("cycle while off: %v\n%s", err, out)
			}
			if b.Power() || b.Pending() {
				t.Fatal("a refused cycle changed the power")
			}
			mustRun(t, b, "Chassis Power Control: Up/On", "-C", suite, "chassis", "power", "on")
			if !b.Power() {
				t.Fatal("power still off after chassis power on")
			}

			before := len(b.Controls())
			mustRun(t, b, "Chassis Power Control: Cycle", "-C", suite, "chassis", "power", "cycle")
			mustRun(t, b, "Chassis Power is off", "-C", suite, "chassis", "power", "status")
			clk.Advance(4*time.Second - time.Millisecond)
			if b.Power() {
				t.Fatal("power back on before the off time")
			}
			clk.Advance(time.Millisecond)
			if !b.Power() {
				t.Fatal("the BMC did not turn power back on after the off time")
			}
			mustRun(t, b, "Chassis Power is on", "-C", suite, "chassis", "power", "status")
			out = mustRun(t, b, "Last Power Event     : command", "-C", suite, "chassis", "status")
			if !strings.Contains(out, "System Power         : on") || !strings.Contains(out, "Power Control Fault  : false") {
				t.Fatalf("chassis status after a cycle:\n%s", out)
			}
			var cycles int
			for _, c := range b.Controls()[before:] {
				if c.Action == ipmisim.PowerCycle && c.CC == 0 {
					cycles++
				}
			}
			if cycles != 1 {
				t.Fatalf("%d power cycles carried out, want exactly 1: %+v", cycles, b.Controls())
			}

			mustRun(t, b, "Chassis Power Control: Reset", "-C", suite, "chassis", "power", "reset")
			if !b.Power() {
				t.Fatal("a hard reset left power off")
			}
			mustRun(t, b, "Chassis Power Control: Soft", "-C", suite, "chassis", "power", "soft")
			if !b.Power() {
				t.Fatal("the OS went off at once on an ACPI shutdown")
			}
			clk.Advance(30 * time.Second)
			if b.Power() {
				t.Fatal("the OS did not power off after its shutdown delay")
			}
			if n := b.Sessions(); n != 0 {
				t.Fatalf("%d sessions left open: ipmitool closes its session", n)
			}
		})
	}
}

func TestIpmitoolMCInfo(t *testing.T) {
	b, _ := start(t, ipmisim.Options{Username: "operator", Password: "s3cret"})
	out := mustRun(t, b, "IPMI Version              : 2.0", "-C", "17", "mc", "info")
	if !strings.Contains(out, "Chassis Device") || !strings.Contains(out, "Device Available          : yes") {
		t.Fatalf("mc info:\n%s", out)
	}
	// Without -C, ipmitool asks Get Channel Cipher Suites and picks one.
	mustRun(t, b, "Chassis Power is on", "chassis", "power", "status")
}

// A wrong password, a wrong user and a privilege above the account's
// limit fail the RAKP exchange with the status the spec names; nothing is
// switched.
func TestIpmitoolRefusals(t *testing.T) {
	b, _ := start(t, ipmisim.Options{Username: "operator", Password: "s3cret", Privilege: ipmisim.Operator})
	cases := []struct {
		name, user, password, priv, want string
		refusals                         int // by the BMC, so far
	}{
		// ipmitool finds RAKP 2's HMAC wrong (the BMC keyed it with the
		// real password) and gives up without a RAKP 3: the BMC sees an
		// abandoned session, not a refusal.
		{"wrong password", "operator", "wrong", "OPERATOR", "RAKP 2 HMAC is invalid", 0},
		{"wrong user", "nobody", "s3cret", "OPERATOR", "RAKP 2 message indicates an error : unauthorized name", 1},
		{"privilege above the limit", "operator", "s3cret", "ADMINISTRATOR", "RAKP 2 message indicates an error : unauthorized role requested", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := ipmitool(t, b, c.user, c.password, "-v", "-C", "17", "-L", c.priv, "chassis", "power", "off")
			if err == nil || !strings.Contains(out, c.want) || !strings.Contains(out, "Unable to establish IPMI v2 / RMCP+ session") {
				t.Fatalf("%v\n%s\nwant %q", err, out, c.want)
			}
			if !b.Power() || len(b.Controls()) != 0 || b.SessionsOpened() != 0 {
				t.Fatalf("a refused session acted: power %v, controls %v, sessions opened %d", b.Power(), b.Controls(), b.SessionsOpened())
			}
			if n := b.AuthFailures(); n != c.refusals {
				t.Fatalf("%d refusals counted, want %d", n, c.refusals)
			}
		})
	}
	// Within the limit it works.
	mustRun(t, b, "Chassis Power Control: Down/Off", "-C", "3", "-L", "OPERATOR", "chassis", "power", "off")
}

// A USER session may read the status but not switch: completion code
// D4h, insufficient privilege.
func TestIpmitoolUserMayNotSwitch(t *testing.T) {
	b, _ := start(t, ipmisim.Options{Username: "operator", Password: "s3cret", Privilege: ipmisim.User})
	mustRun(t, b, "Chassis Power is on", "-C", "3", "-L", "USER", "chassis", "power", "status")
	out, err := ipmitool(t, b, "operator", "s3cret", "-C", "3", "-L", "USER", "chassis", "power", "off")
	if err == nil || !strings.Contains(out, "Set Chassis Power Control to Down/Off failed: Insufficient privilege level") {
		t.Fatalf("power off as USER: %v\n%s", err, out)
	}
	if !b.Power() {
		t.Fatal("a USER session switched power off")
	}
	if c := b.Controls(); len(c) != 1 || c[0].CC != 0xD4 {
		t.Fatalf("controls: %+v", c)
	}
}

// Cipher suite 0 (no authentication, integrity or encryption) is refused
// unless configured.
func TestIpmitoolCipherSuite0(t *testing.T) {
	b, _ := start(t, ipmisim.Options{Username: "operator", Password: "s3cret"})
	out, err := ipmitool(t, b, "operator", "s3cret", "-v", "-C", "0", "chassis", "power", "status")
	if err == nil || !strings.Contains(out, "no matching cipher suite") {
		t.Fatalf("-C 0 against a BMC without suite 0: %v\n%s", err, out)
	}
	open, _ := start(t, ipmisim.Options{Username: "operator", Password: "s3cret", CipherSuites: []int{0, 3}})
	mustRun(t, open, "Chassis Power is on", "-C", "0", "chassis", "power", "status")
}

// Set Power Cycle Interval (ipmitool raw, as ipmitool has no command
// for it) sets how long the next cycle keeps power off; it needs an
// ADMINISTRATOR session.
func TestIpmitoolPowerCycleInterval(t *testing.T) {
	b, clk := start(t, ipmisim.Options{Username: "operator", Password: "s3cret"})
	out, err := ipmitool(t, b, "operator", "s3cret", "-C", "17", "-L", "OPERATOR", "raw", "0x00", "0x0b", "0x0a")
	if err == nil || !strings.Contains(out, "rsp=0xd4): Insufficient privilege level") {
		t.Fatalf("as OPERATOR: %v\n%s", err, out)
	}
	if b.OffTime() != time.Second {
		t.Fatalf("an OPERATOR changed the interval to %s", b.OffTime())
	}
	if out, err := ipmitool(t, b, "operator", "s3cret", "-C", "17", "raw", "0x00", "0x0b", "0x0a"); err != nil {
		t.Fatalf("as ADMINISTRATOR: %v\n%s", err, out)
	}
	if b.OffTime() != 10*time.Second {
		t.Fatalf("interval %s after setting 10 s", b.OffTime())
	}
	mustRun(t, b, "Chassis Power Control: Cycle", "-C", "17", "chassis", "power", "cycle")
	clk.Advance(10*time.Second - time.Millisecond)
	if b.Power() {
		t.Fatal("power back before the 10 s interval")
	}
	clk.Advance(time.Millisecond)
	if !b.Power() {
		t.Fatal("power not back after the 10 s interval")
	}
}

// ipmitool session info active reads Get Session Info about its own
// session.
func TestIpmitoolSessionInfo(t *testing.T) {
	b, _ := start(t, ipmisim.Options{Username: "operator", Password: "s3cret"})
	out := mustRun(t, b, "session type                  : IPMIv2/RMCP+", "-C", "3", "session", "info", "active")
	for _, want := range []string{"active sessions               : 1", "user id                       : 2",
		"privilege level               : ADMINISTRATOR", "channel number                : 0x01", "console ip                    : 127.0.0.1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("session info lacks %q:\n%s", want, out)
		}
	}
}

// A BMC key (Kg) keys the session integrity key: ipmitool -y with it opens
// a session, without it RAKP 4 does not check out.
func TestIpmitoolKg(t *testing.T) {
	kg := []byte("0123456789abcdefghij")
	b, _ := start(t, ipmisim.Options{Username: "operator", Password: "s3cret", Kg: kg})
	mustRun(t, b, "Chassis Power is on", "-C", "17", "-y", hex.EncodeToString(kg), "chassis", "power", "status")
	out, err := ipmitool(t, b, "operator", "s3cret", "-v", "-C", "17", "chassis", "power", "status")
	if err == nil || !strings.Contains(out, "RAKP 4 message has invalid integrity check value") {
		t.Fatalf("without Kg: %v\n%s", err, out)
	}
}

// ipmitool dcmi power reading reads DCMI Get Power Reading: the system's
// draw when on, standby when off.
func TestIpmitoolDCMIPowerReading(t *testing.T) {
	b, _ := start(t, ipmisim.Options{Username: "operator", Password: "s3cret", Watts: 240, StandbyWatts: 6})
	out := mustRun(t, b, "Instantaneous power reading:                   240 Watts", "-C", "17", "dcmi", "power", "reading")
	if !strings.Contains(out, "Power reading state is:                   activated") {
		t.Fatalf("dcmi power reading:\n%s", out)
	}
	b.SetPower(false)
	mustRun(t, b, "Instantaneous power reading:                     6 Watts", "-C", "17", "dcmi", "power", "reading")
}
