package main

import (
	"context"
	"log/slog"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"go.yaml.in/yaml/v2"

	"github.com/restartinator/restartinator/internal/testtool"
)

// lineWriter hands each write to a channel, so the test waits for the
// simulator's "simulating … on ADDR" line without polling.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) { w <- string(p); return len(p), nil }

// restartinator simulate --model ipmi-bmc serves a BMC that Debian's
// ipmitool switches with the account given on the command line.
func TestSimulateIPMIBMC(t *testing.T) {
	bin := testtool.Need(t, "ipmitool", "ipmitool")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	app := kingpin.New("restartinator", "")
	cmds := plugCommands(app)
	chosen, err := app.Parse([]string{"simulate", "--model", "ipmi-bmc", "--username", "ops", "--password", "pw0rd", "--off-time", "7s"})
	if err != nil {
		t.Fatal(err)
	}
	out := make(lineWriter, 4)
	code := make(chan int, 1)
	for _, c := range cmds {
		if c.clause.FullCommand() == chosen {
			go func() { code <- c.run(ctx, slog.New(slog.DiscardHandler), out) }()
		}
	}
	var line string
	select {
	case line = <-out:
	case c := <-code:
		t.Fatalf("simulate exited %d before serving", c)
	case <-ctx.Done():
		t.Fatal("simulate printed nothing")
	}
	m := regexp.MustCompile(`^simulating ipmi-bmc \(udp, IPMI v2.0 RMCP\+ lanplus, cipher suites \[3 17\], user ops at ADMINISTRATOR, power cycle off 7s\) on 127\.0\.0\.1:(\d+)\n$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("simulate said %q", line)
	}
	ipmi := func(args ...string) string {
		a := append([]string{"-I", "lanplus", "-H", "127.0.0.1", "-p", m[1], "-U", "ops", "-P", "pw0rd", "-N", "3", "-R", "1", "-C", "17"}, args...)
		b, err := exec.CommandContext(ctx, bin, a...).CombinedOutput()
		if err != nil {
			t.Fatalf("ipmitool %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return string(b)
	}
	if got := ipmi("chassis", "power", "off"); !strings.Contains(got, "Chassis Power Control: Down/Off") {
		t.Fatalf("power off: %s", got)
	}
	if got := ipmi("chassis", "power", "status"); !strings.Contains(got, "Chassis Power is off") {
		t.Fatalf("status after power off: %s", got)
	}
	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("simulate exit %d", c)
	}
}

// The BMC simulator refuses what a BMC does not have.
func TestSimulateIPMIBMCRefusesOutlets(t *testing.T) {
	_, err := startSimulator(simPlug{Model: "ipmi-bmc", Outlets: 2}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "leave out --from, --protocol and --outlets") {
		t.Fatalf("err = %v", err)
	}
	_, err = startSimulator(simPlug{Model: "ipmi-bmc", Listen: "0.0.0.0:0"}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "loopback only") {
		t.Fatalf("err = %v", err)
	}
	_, err = startSimulator(simPlug{Model: "tasmota", OffTime: time.Second}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "--off-time (off_time) is for the ipmi-bmc model") {
		t.Fatalf("--off-time for tasmota: err = %v", err)
	}
	_, err = startSimulator(simPlug{Model: "ipmi-bmc", OffTime: time.Millisecond}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "at least 1s") {
		t.Fatalf("--off-time 1ms: err = %v", err)
	}
	var c simConfig
	if err := yaml.UnmarshalStrict([]byte("plugs:\n  - {model: ipmi-bmc, off_time: 12s}\n"), &c); err != nil || c.Plugs[0].OffTime != 12*time.Second {
		t.Fatalf("off_time in a simulator config: %+v, %v", c, err)
	}
}
