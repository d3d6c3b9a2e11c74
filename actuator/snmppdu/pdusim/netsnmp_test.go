package pdusim_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/snmppdu/pdusim"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/testtool"
)

// net-snmp runs one of Net-SNMP's tools against the simulator, numeric
// OIDs and enum numbers, with a short timeout and one retry.
func netsnmp(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	bin := testtool.Need(t, "snmp", tool)
	args = append([]string{"-On", "-Oe", "-t", "1", "-r", "1", "-M", "/nonexistent", "-m", ""}, args...)
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

const (
	ctl    = "1.3.6.1.4.1.318.1.1.12.3.3.1.1.4."
	state  = "1.3.6.1.4.1.318.1.1.12.3.5.1.1.4."
	reboot = "1.3.6.1.4.1.318.1.1.12.3.4.1.1.6."
)

// Net-SNMP's snmpget, snmpset, snmpwalk and snmpbulkwalk drive the
// simulator as an operator's scripts drive an APC PDU.
func TestNetSNMPTools(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sim, err := pdusim.Start(pdusim.Options{Outlets: 4, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	addr := sim.Addr()

	out, err := netsnmp(t, "snmpget", "-v2c", "-c", "public", addr, "1.3.6.1.2.1.1.2.0", state+"2")
	if err != nil || !strings.Contains(out, "= OID: .1.3.6.1.4.1.318.1.3.4.5") || !strings.Contains(out, state+"2 = INTEGER: 1") {
		t.Fatalf("snmpget: %v\n%s", err, out)
	}
	out, err = netsnmp(t, "snmpwalk", "-v1", "-c", "public", addr, "1.3.6.1.4.1.318.1.1.12.3.3.1.1.2")
	if err != nil || strings.Count(out, "STRING: \"Outlet ") != 4 {
		t.Fatalf("snmpwalk v1 of the outlet names: %v\n%s", err, out)
	}
	out, err = netsnmp(t, "snmpbulkwalk", "-v2c", "-c", "public", addr, "1.3.6.1.4.1.318.1.1.12.3")
	if err != nil || strings.Count(out, "= INTEGER:")+strings.Count(out, "= STRING:") != 4*(4+6+5) {
		t.Fatalf("snmpbulkwalk of the outlet tables: %v\n%s", err, out)
	}

	// The read community may not write.
	out, err = netsnmp(t, "snmpset", "-v2c", "-c", "public", addr, ctl+"2", "i", "2")
	if err == nil || !strings.Contains(out, "noAccess") || !sim.Outlets()[1].On {
		t.Fatalf("snmpset with public: %v\n%s", err, out)
	}
	// A command the MIB does not define.
	out, err = netsnmp(t, "snmpset", "-v2c", "-c", "private", addr, ctl+"2", "i", "9")
	if err == nil || !strings.Contains(out, "wrongValue") {
		t.Fatalf("snmpset of command 9: %v\n%s", err, out)
	}
	// A reboot duration outside 5..60 s.
	out, err = netsnmp(t, "snmpset", "-v2c", "-c", "private", addr, reboot+"2", "i", "2")
	if err == nil || !strings.Contains(out, "wrongValue") {
		t.Fatalf("snmpset of reboot duration 2: %v\n%s", err, out)
	}

	// immediateOff, then immediateReboot with a 10 s reboot duration.
	if out, err := netsnmp(t, "snmpset", "-v2c", "-c", "private", addr, ctl+"2", "i", "2"); err != nil {
		t.Fatalf("immediateOff: %v\n%s", err, out)
	}
	if out, _ := netsnmp(t, "snmpget", "-v2c", "-c", "public", addr, state+"2"); !strings.Contains(out, "INTEGER: 2") {
		t.Fatalf("state after immediateOff:\n%s", out)
	}
	if out, err := netsnmp(t, "snmpset", "-v2c", "-c", "private", addr, reboot+"3", "i", "10", ctl+"3", "i", "3"); err != nil {
		t.Fatalf("reboot: %v\n%s", err, out)
	}
	clk.Advance(9 * time.Second)
	if out, _ := netsnmp(t, "snmpget", "-v2c", "-c", "public", addr, state+"3", "1.3.6.1.4.1.318.1.1.12.3.5.1.1.5.3"); !strings.Contains(out, state+"3 = INTEGER: 2") || !strings.Contains(out, ".5.3 = INTEGER: 1") {
		t.Fatalf("outlet 3 during its reboot should be off with a command pending:\n%s", out)
	}
	clk.Advance(time.Second)
	if out, _ := netsnmp(t, "snmpget", "-v2c", "-c", "public", addr, state+"3"); !strings.Contains(out, "INTEGER: 1") {
		t.Fatalf("outlet 3 after its reboot duration:\n%s", out)
	}
	// A wrong community gets no answer at all, as from a real agent.
	if out, err := netsnmp(t, "snmpget", "-v2c", "-c", "nope", addr, state+"1"); err == nil || !strings.Contains(out, "Timeout") {
		t.Fatalf("wrong community: %v\n%s", err, out)
	}
}
