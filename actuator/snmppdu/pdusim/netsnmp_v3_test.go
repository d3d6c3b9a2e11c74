package pdusim_test

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/snmppdu/pdusim"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/testlog"
)

const (
	authPass = "auth-pass-1234"
	privPass = "priv-pass-1234"
	// usmStats counters (RFC 3414) and snmpEngineTime.
	notInTimeWindows = "1.3.6.1.6.3.15.1.1.2.0"
	unknownUsers     = "1.3.6.1.6.3.15.1.1.3.0"
	unknownEngineIDs = "1.3.6.1.6.3.15.1.1.4.0"
	wrongDigests     = "1.3.6.1.6.3.15.1.1.5.0"
	unsupportedLevel = "1.3.6.1.6.3.15.1.1.1.0"
	asnParseErrs     = "1.3.6.1.2.1.11.6.0"
	engineTime       = "1.3.6.1.6.3.10.2.1.3.0"
)

// v3Users has one user per auth/priv combination Net-SNMP's tools offer
// that an APC card's v3 profiles have, and the lower security levels.
var v3Users = []pdusim.User{
	{Name: "md5des", AuthProtocol: "MD5", AuthPassword: authPass, PrivProtocol: "DES", PrivPassword: privPass},
	{Name: "md5aes", AuthProtocol: "MD5", AuthPassword: authPass, PrivProtocol: "AES", PrivPassword: privPass},
	{Name: "shades", AuthProtocol: "SHA", AuthPassword: authPass, PrivProtocol: "DES", PrivPassword: privPass},
	{Name: "shaaes", AuthProtocol: "SHA", AuthPassword: authPass, PrivProtocol: "AES", PrivPassword: privPass},
	{Name: "sha256", AuthProtocol: "SHA-256", AuthPassword: authPass},
	{Name: "plain"},
}

// v3Args are Net-SNMP's options for a user, at its own level.
func v3Args(u pdusim.User) []string {
	switch {
	case u.PrivPassword != "":
		return []string{"-v3", "-l", "authPriv", "-u", u.Name, "-a", u.AuthProtocol, "-A", u.AuthPassword, "-x", u.PrivProtocol, "-X", u.PrivPassword}
	case u.AuthPassword != "":
		return []string{"-v3", "-l", "authNoPriv", "-u", u.Name, "-a", u.AuthProtocol, "-A", u.AuthPassword}
	}
	return []string{"-v3", "-l", "noAuthNoPriv", "-u", u.Name}
}

func startV3(t *testing.T, clk clock.Clock) *pdusim.PDU {
	t.Helper()
	log := &testlog.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("simulator log:\n%s", log.String())
		}
	})
	sim, err := pdusim.Start(pdusim.Options{Outlets: 8, Users: v3Users, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

// Net-SNMP's snmpget, snmpset and snmpbulkwalk over SNMPv3, one user per
// security level and protocol pair: engine discovery, reads and an outlet
// switched off, as an operator's script would.
func TestNetSNMPv3Users(t *testing.T) {
	sim := startV3(t, clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	addr := sim.Addr()
	for i, u := range v3Users {
		t.Run(u.Name, func(t *testing.T) {
			args := append(v3Args(u), addr)
			outlet := fmt.Sprint(i + 1)
			out, err := netsnmp(t, "snmpget", append(args, "1.3.6.1.2.1.1.2.0", state+outlet)...)
			if err != nil || !strings.Contains(out, "= OID: .1.3.6.1.4.1.318.1.3.4.5") || !strings.Contains(out, state+outlet+" = INTEGER: 1") {
				t.Fatalf("snmpget: %v\n%s", err, out)
			}
			if out, err := netsnmp(t, "snmpset", append(args, ctl+outlet, "i", "2")...); err != nil {
				t.Fatalf("snmpset immediateOff: %v\n%s", err, out)
			}
			if sim.Outlets()[i].On {
				t.Fatalf("outlet %s still on after %s's immediateOff", outlet, u.Name)
			}
			out, err = netsnmp(t, "snmpbulkwalk", append(args, "1.3.6.1.4.1.318.1.1.12.3.5.1.1.4")...)
			if err != nil || strings.Count(out, "= INTEGER:") != 8 || !strings.Contains(out, state+outlet+" = INTEGER: 2") {
				t.Fatalf("snmpbulkwalk of the outlet states: %v\n%s", err, out)
			}
		})
	}
	// Every tool run began with engine discovery, answered by a Report.
	if sim.Counter(unknownEngineIDs) < len(v3Users)*3 {
		t.Errorf("usmStatsUnknownEngineIDs = %d, want a discovery per run", sim.Counter(unknownEngineIDs))
	}
}

// Wrong credentials get the Report RFC 3414 prescribes, shown as Net-SNMP
// shows it, and change nothing.
func TestNetSNMPv3Refusals(t *testing.T) {
	sim := startV3(t, clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	addr := sim.Addr()
	shaaes := v3Users[3]
	for _, tc := range []struct {
		name    string
		args    []string
		want    string
		counter string
	}{
		{"wrong auth password", []string{"-v3", "-l", "authPriv", "-u", "shaaes", "-a", "SHA", "-A", "wrong-pass-1", "-x", "AES", "-X", privPass},
			"Authentication failure", wrongDigests},
		{"wrong auth protocol", []string{"-v3", "-l", "authPriv", "-u", "md5des", "-a", "SHA", "-A", authPass, "-x", "DES", "-X", privPass},
			"Authentication failure", wrongDigests},
		// A wrong privacy key decrypts to garbage: dropped as a parse
		// error, as Net-SNMP's agent and snmpsim do.
		{"wrong priv password", []string{"-v3", "-l", "authPriv", "-u", "shaaes", "-a", "SHA", "-A", authPass, "-x", "AES", "-X", "wrong-pass-1"},
			"Timeout", asnParseErrs},
		{"unknown user", []string{"-v3", "-l", "authPriv", "-u", "nobody", "-a", "SHA", "-A", authPass, "-x", "AES", "-X", privPass},
			"Unknown user name", unknownUsers},
		{"priv for a user without it", []string{"-v3", "-l", "authPriv", "-u", "sha256", "-a", "SHA-256", "-A", authPass, "-x", "AES", "-X", privPass},
			"Unsupported security level", unsupportedLevel},
		// USM lets it through; the user's access needs authPriv (RFC
		// 3413 3.2 step 4).
		{"below the user's level", []string{"-v3", "-l", "noAuthNoPriv", "-u", "shaaes"},
			"authorizationError", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := sim.Counter(tc.counter)
			out, err := netsnmp(t, "snmpset", append(tc.args, addr, ctl+"4", "i", "2")...)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("want %q: %v\n%s", tc.want, err, out)
			}
			if tc.counter != "" && sim.Counter(tc.counter) <= before {
				t.Errorf("counter %s did not grow", tc.counter)
			}
			if !sim.Outlets()[3].On || sim.Sets() != 0 {
				t.Fatal("a refused request switched the outlet")
			}
		})
	}
	// The right user still works afterwards.
	if out, err := netsnmp(t, "snmpget", append(v3Args(shaaes), addr, state+"4")...); err != nil || !strings.Contains(out, "INTEGER: 1") {
		t.Fatalf("snmpget: %v\n%s", err, out)
	}
}

// RFC 3414 3.2 step 7 and 4: Net-SNMP told the engine ID (-e) skips
// discovery and learns the agent's boots and time from an authenticated
// request with boots and time 0, which is outside the time window: the
// agent's usmStatsNotInTimeWindows Report must be authenticated with the
// user's key for Net-SNMP to believe its clock and resend.
func TestNetSNMPv3TimeWindow(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sim := startV3(t, clk)
	clk.Advance(1000 * time.Second)
	engineID := "0x" + hex.EncodeToString(sim.EngineID())
	for i, u := range v3Users[:5] { // the users that authenticate
		out, err := netsnmp(t, "snmpget", append(v3Args(u), "-e", engineID, sim.Addr(), engineTime)...)
		if err != nil || !strings.Contains(out, engineTime+" = INTEGER: 1000") {
			t.Fatalf("%s: %v\n%s", u.Name, err, out)
		}
		if n := sim.Counter(notInTimeWindows); n != i+1 {
			t.Fatalf("%s: usmStatsNotInTimeWindows = %d, want %d", u.Name, n, i+1)
		}
	}
	if n := sim.Counter(unknownEngineIDs); n != 0 {
		t.Errorf("%d discoveries, want none with -e", n)
	}
}

// v1 and v2c keep working beside the v3 users.
func TestCommunitiesBesideV3(t *testing.T) {
	sim := startV3(t, clock.Real{})
	for _, v := range []string{"-v1", "-v2c"} {
		if out, err := netsnmp(t, "snmpget", v, "-c", "public", sim.Addr(), state+"1"); err != nil || !strings.Contains(out, "INTEGER: 1") {
			t.Fatalf("%s: %v\n%s", v, err, out)
		}
	}
}
