package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/ipmi"
	"github.com/restartinator/restartinator/internal/simdevice"
)

// The real binary killed while a BMC power-cycles a server whose BMC keeps
// power off for 10 minutes: the restarted binary finds the intent in its
// state file and powers the server up itself. The BMC is a separate
// `restartinator simulate --model ipmi-bmc` process, so it outlives the
// supervisor.
func TestSIGKILLMidCycleIPMIServerOnAfterRestart(t *testing.T) {
	const user, pass = "restartinator", "bmc-pass-1234"
	// The BMC is a process of its own that reports its port.
	portN := startSimulatorProcess(t, "--model", "ipmi-bmc", "--username", user, "--password", pass, "--off-time", "10m")
	bmc, err := ipmi.New(ipmi.Config{Host: "127.0.0.1", Port: portN, Username: user, Password: pass, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	powerOn := func() bool {
		st, err := bmc.Status(context.Background())
		if err != nil {
			t.Fatalf("BMC status: %v", err)
		}
		return st.Outlets[0].On
	}
	if !powerOn() {
		t.Fatal("the simulated server starts off")
	}
	dev, err := simdevice.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	dir := t.TempDir()
	passFile := filepath.Join(dir, "bmc.pass")
	os.WriteFile(passFile, []byte(pass+"\n"), 0o600)
	cfgPath := filepath.Join(dir, "r.yml")
	cfg := fmt.Sprintf(`global: {state_file: %s}
plugs: [{name: bmc, type: ipmi, host: 127.0.0.1, port: %d, username: %s, password_file: %s}]
devices:
  - {name: srv, host: 127.0.0.1, port: %d, plug: bmc, mode: alert, cycle_time: 5s, boot_time: 1m}
`, filepath.Join(dir, "state.json"), portN, user, passFile, dev.Port())
	os.WriteFile(cfgPath, []byte(cfg), 0o600)

	cmd, addr, logs := startBinary(t, "--config.file", cfgPath)
	code, body := post(t, "http://"+addr+"/api/v1/devices/srv/cycle", "")
	if code != http.StatusAccepted {
		t.Fatalf("manual cycle: %d %s", code, body)
	}
	waitFor(t, "the BMC to power the server off", func() bool { return !powerOn() })
	waitFor(t, "the power cycle to be logged as the BMC's", func() bool {
		return strings.Contains(logs.String(), "IPMI chassis power cycle sent")
	})
	cmd.Process.Kill()
	cmd.Wait()
	if powerOn() {
		t.Fatal("on right after the kill: the test proves nothing")
	}
	_, _, logs2 := startBinary(t, "--config.file", cfgPath)
	waitFor(t, "the restarted binary to power the server up", powerOn)
	if !strings.Contains(logs2.String(), "previous run stopped mid-cycle") {
		t.Errorf("the reconcile was not logged:\n%s", logs2.String())
	}
}
