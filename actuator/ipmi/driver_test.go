package ipmi_test

import (
	"strings"
	"testing"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/ipmi"
	"github.com/restartinator/restartinator/config"
)

func register() {
	if _, ok := actuator.LookupDriver(ipmi.Driver.Name); !ok {
		actuator.Register(ipmi.Driver)
	}
}

const device = "\ndevices:\n  - {name: d, host: x, port: 22, probe: {type: tcp}, plug: p}\n"

func TestConfigErrorsNameFileAndKey(t *testing.T) {
	register()
	for _, tc := range []struct{ plug, want string }{
		{"{name: p, type: ipmi, host: h, username: u, privilege: admin}", `privilege "admin": write user, operator or administrator in lower case`},
		{"{name: p, type: ipmi, host: h, username: u, cipher_suite: 0}", ""}, // 0 is "unset": the default list
		{"{name: p, type: ipmi, host: h, username: u, cipher_suite: 1}", "cipher_suite 1"},
		{"{name: p, type: ipmi, host: h, username: u, power_off: acpi}", `power_off "acpi"`},
		{"{name: p, type: ipmi, host: h, username: u, soft_off_timeout: 1m}", "soft_off_timeout is for power_off: soft"},
		{"{name: p, type: ipmi, host: h, username: u, chiper_suite: 3}", "chiper_suite"},
	} {
		_, err := config.Load([]byte("plugs:\n  - "+tc.plug+device), "bmc.yml")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.plug, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bmc.yml")):
			t.Errorf("%s: %v, want %q with the file", tc.plug, err, tc.want)
		}
	}
}

func TestConfigBuildsClient(t *testing.T) {
	register()
	c, err := config.Load([]byte("plugs:\n  - {name: p, type: ipmi, host: h, username: u, password: pw, privilege: administrator, cipher_suite: 3, power_off: soft, soft_off_timeout: 5m}"+device), "bmc.yml")
	if err != nil {
		t.Fatal(err)
	}
	s, ok := c.Plugs[0].Settings.(*ipmi.Settings)
	if !ok || s.Privilege != "administrator" || s.CipherSuite != 3 || s.PowerOff != "soft" {
		t.Fatalf("settings %+v", c.Plugs[0].Settings)
	}
	p, err := actuator.NewPlug(c.Plugs[0], actuator.DriverEnv{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(actuator.DeviceCycler); !ok {
		t.Error("an ipmi plug must be a DeviceCycler")
	}
	if _, ok := p.(actuator.BMCStatusReader); !ok {
		t.Error("an ipmi plug must be a BMCStatusReader")
	}
	// Without a username the plug is refused when built, naming it.
	c, err = config.Load([]byte("plugs:\n  - {name: p, type: ipmi, host: h}"+device), "bmc.yml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := actuator.NewPlug(c.Plugs[0], actuator.DriverEnv{}); err == nil || !strings.Contains(err.Error(), `plug "p"`) || !strings.Contains(err.Error(), "username") {
		t.Errorf("no username: %v", err)
	}
}
