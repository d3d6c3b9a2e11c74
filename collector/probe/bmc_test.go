package probe_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/redfish"
	"github.com/restartinator/restartinator/actuator/redfish/redfishsim"
	"github.com/restartinator/restartinator/collector/probe"
	"github.com/restartinator/restartinator/config"
)

// The bmc probe against the simulated Redfish BMC through the real client.
func TestBMCProbeAgainstRedfish(t *testing.T) {
	b, err := redfishsim.Start(redfishsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := redfish.New(redfish.Config{Host: b.Host(), Port: b.Port(), Username: "admin", Password: "password",
		FingerprintSHA256: b.Fingerprint(), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := &config.DeviceConfig{Name: "db1", Plug: "db1-bmc", Probe: &config.ProbeConfig{Type: config.ProbeBMC}}
	d.Settings.Timeout = config.Duration(2 * time.Second)
	pr, err := probe.New(d, probe.Options{BMCReader: c.BMCStatus})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Type() != "bmc" || pr.Target() != `BMC "db1-bmc"` {
		t.Errorf("type %q target %q", pr.Type(), pr.Target())
	}
	ctx := context.Background()
	if r := pr.Probe(ctx); !r.Success {
		t.Fatalf("on and OK: %v", r.Err)
	}
	b.SetHealth("Warning")
	if r := pr.Probe(ctx); !r.Success {
		t.Fatalf("Warning still counts as up: %v", r.Err)
	}
	b.SetHealth("Critical")
	if r := pr.Probe(ctx); r.Success || !strings.Contains(r.Err.Error(), "Critical") {
		t.Fatalf("Critical: %+v", r)
	}
	b.SetHealth("OK")
	b.SetPowerState("Off")
	if r := pr.Probe(ctx); r.Success || !strings.Contains(r.Err.Error(), "powered off") {
		t.Fatalf("off: %+v", r)
	}
	b.Close()
	if r := pr.Probe(ctx); r.Success || !errors.Is(r.Err, probe.ErrBMCUnreadable) {
		t.Fatalf("BMC gone: %+v", r)
	}
	if _, err := probe.New(d, probe.Options{}); err == nil {
		t.Fatal("a bmc probe without a reader was built")
	}
}
