package examples

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/ipmi"
	"github.com/restartinator/restartinator/actuator/redfish"
	"github.com/restartinator/restartinator/actuator/redfish/redfishsim"
	"github.com/restartinator/restartinator/actuator/snmppdu"
	"github.com/restartinator/restartinator/config"
)

// TestRackExamplesLoad checks the PDU and BMC examples with their drivers
// registered, as the program registers them.
func TestRackExamplesLoad(t *testing.T) {
	for _, d := range []actuator.Driver{snmppdu.Driver, redfish.Driver, ipmi.Driver} {
		if _, ok := actuator.LookupDriver(d.Name); !ok {
			actuator.Register(d)
		}
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A CA file must hold a certificate: the simulated BMC's will do.
	bmc, err := redfishsim.Start(redfishsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bmc.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, bmc.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"snmp-pdu.yml", "redfish.yml", "ipmi.yml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		for _, f := range []string{"/etc/restartinator/pdu.community", "/etc/restartinator/pdu.auth", "/etc/restartinator/pdu.priv", "/etc/restartinator/bmc.pass", "/etc/restartinator/ipmi.pass", "/etc/restartinator/ipmi-monitor.pass"} {
			text = strings.ReplaceAll(text, f, secret)
		}
		text = strings.ReplaceAll(text, "/etc/restartinator/bmc-ca.pem", ca)
		c, err := config.Load([]byte(text), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(c.Devices) == 0 || len(c.Plugs) == 0 {
			t.Fatalf("%s: no devices or plugs", name)
		}
		for _, p := range c.Plugs {
			if _, err := actuator.NewPlug(p, actuator.DriverEnv{}); err != nil {
				t.Errorf("%s: plug %s: %v", name, p.Name, err)
			}
		}
	}
}
