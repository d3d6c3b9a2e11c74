package examples

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/snmppdu"
	"github.com/restartinator/restartinator/config"
)

// TestRackExamplesLoad checks the PDU and BMC examples with their drivers
// registered, as the program registers them.
func TestRackExamplesLoad(t *testing.T) {
	for _, d := range []actuator.Driver{snmppdu.Driver} {
		if _, ok := actuator.LookupDriver(d.Name); !ok {
			actuator.Register(d)
		}
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"snmp-pdu.yml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		for _, f := range []string{"/etc/restartinator/pdu.community", "/etc/restartinator/pdu.auth", "/etc/restartinator/pdu.priv"} {
			text = strings.ReplaceAll(text, f, secret)
		}
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
