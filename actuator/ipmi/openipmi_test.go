package ipmi_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/ipmi"
	"github.com/restartinator/restartinator/collector/probe"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/testtool"
)

// Accounts of the ipmi_sim BMC.
const (
	simAdmin, simAdminPass = "admin", "s3cret-admin"
	simOper, simOperPass   = "oper", "s3cret-oper"
)

// chassisScript is ipmi_sim's chassis_control hook (lanserv/bmc_chassis.c,
// extcmd.c): ipmi_sim runs `PROG get power` and reads "power:N" back, and
// `PROG set power "N"`, `PROG set shutdown "1"` (ACPI soft off) to act. It
// keeps the power in a file and logs every call, so the tests see what the
// BMC was told. A file ignore-acpi makes the "OS" ignore the soft off.
const chassisScript = `#!/bin/sh
dir=$1; shift
op=$1; shift
echo "$op $*" >> "$dir/log"
case $op in
get)
	for k in "$@"; do
		case $k in power) echo "power:$(cat "$dir/power")";; esac
	done;;
set)
	while [ $# -ge 2 ]; do
		case $1 in
		power) echo "$2" > "$dir/power";;
		shutdown) [ -e "$dir/ignore-acpi" ] || echo 0 > "$dir/power";;
		esac
		shift 2
	done;;
esac
`

// openIPMISim is one ipmi_sim process.
type openIPMISim struct {
	dir  string
	port int
}

// startIPMISim runs Debian's ipmi_sim (openipmi) on loopback as a BMC with
// a LAN channel speaking RMCP+ and a chassis whose power is the script's
// file. Two things it needs that its docs do not say: mc_setbmc in the emu
// file (without it ipmi_sim exits 1 and logs only to syslog), and a guid
// in the LAN section (without it it tells ipmitool it has no IPMI v2.0, and
// segfaults on the RMCP+ Open Session go-ipmi sends regardless). It needs
// -n: with its console on a stdin that is not a terminal it aborts.
func startIPMISim(t *testing.T) *openIPMISim {
	t.Helper()
	bin := testtool.Need(t, "openipmi", "ipmi_sim")
	dir := t.TempDir()
	s := &openIPMISim{dir: dir}
	write := func(name, text string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("chassis.sh", chassisScript, 0o755)
	write("power", "1\n", 0o644)
	write("log", "", 0o644)
	write("sim.emu", "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n", 0o644)
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	var lastErr string
	for range 3 { // a port free a moment ago may be taken by then
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.port = pc.LocalAddr().(*net.UDPAddr).Port
		pc.Close()
		write("lan.conf", fmt.Sprintf(`name "restartinator"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 %d
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "%s %s"
  user 2 true "%s" "%s" admin 10 none md2 md5 straight
  user 3 true "%s" "%s" operator 10 none md2 md5 straight
`, s.port, filepath.Join(dir, "chassis.sh"), dir, simAdmin, simAdminPass, simOper, simOperPass), 0o644)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, bin, "-n", "-c", filepath.Join(dir, "lan.conf"), "-f", filepath.Join(dir, "sim.emu"), "-s", filepath.Join(dir, "state"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() { cancel(); <-exited })
		if s.ready(exited) {
			return s
		}
		lastErr = out.String()
	}
	t.Fatalf("ipmi_sim did not start:\n%s", lastErr)
	return nil
}

// ready waits until the BMC answers a session with the admin account.
func (s *openIPMISim) ready(exited <-chan struct{}) bool {
	c := s.client(nil, ipmi.Config{Timeout: 500 * time.Millisecond})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if _, err := c.Status(context.Background()); err == nil {
			return true
		}
	}
	return false
}

// client is our driver's client of this BMC, as the admin unless cfg says.
func (s *openIPMISim) client(t *testing.T, cfg ipmi.Config) *ipmi.Client {
	cfg.Host, cfg.Port = "127.0.0.1", s.port
	if cfg.Username == "" {
		cfg.Username, cfg.Password = simAdmin, simAdminPass
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	// ipmi_sim has no HMAC-SHA256: suite 3, as the default list falls back to.
	c, err := ipmi.New(cfg)
	if err != nil {
		if t != nil {
			t.Fatal(err)
		}
		panic(err)
	}
	return c
}

// power is the chassis power as the hook script holds it.
func (s *openIPMISim) power(t *testing.T) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "power"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b)) == "1"
}

// sets lists the chassis actions ipmi_sim ran ("power 0", "shutdown 1").
func (s *openIPMISim) sets(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "set "); ok {
			out = append(out, rest)
		}
	}
	return out
}

// ipmitool runs Debian's ipmitool against the BMC.
func (s *openIPMISim) ipmitool(t *testing.T, args ...string) string {
	t.Helper()
	bin := testtool.Need(t, "ipmitool", "ipmitool")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// -C 3: without it ipmitool first asks Get Channel Cipher Suites, which
	// ipmi_sim does not answer (10 s lost).
	full := append([]string{"-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", simAdmin, "-P", simAdminPass}, args...)
	out, err := exec.CommandContext(ctx, bin, full...).CombinedOutput()
	if err != nil {
		t.Fatalf("ipmitool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestOpenIPMISimStatusOnOff(t *testing.T) {
	sim := startIPMISim(t)
	c := sim.client(t, ipmi.Config{})
	ctx := context.Background()

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Outlets) != 1 || !st.Outlets[0].On {
		t.Fatalf("status %+v: want one outlet, on", st)
	}
	if !strings.Contains(st.Model, "manufacturer 4753") {
		t.Errorf("model %q: want the emu file's manufacturer 4753 (Get Device ID)", st.Model)
	}
	if got := sim.ipmitool(t, "chassis", "power", "status"); got != "Chassis Power is on" {
		t.Errorf("ipmitool says %q", got)
	}

	if err := c.Switch(ctx, "", false); err != nil {
		t.Fatal(err)
	}
	if sim.power(t) {
		t.Fatal("the chassis is still on after Switch off")
	}
	if st, err = c.Status(ctx); err != nil || st.Outlets[0].On {
		t.Fatalf("status after off: %+v, %v", st, err)
	}
	if got := sim.ipmitool(t, "chassis", "power", "status"); got != "Chassis Power is off" {
		t.Errorf("ipmitool says %q after our power down", got)
	}
	b, err := c.BMCStatus(ctx)
	if err != nil || b.PowerOn || b.Health != "OK" {
		t.Errorf("BMCStatus = %+v, %v; want off, OK", b, err)
	}
	// probe: {type: bmc} on this plug sees the server off.
	bmcProbe := probe.NewBMC(c.BMCStatus, 5*time.Second, `BMC "srv"`)
	if r := bmcProbe.Probe(ctx); r.Success || r.Err == nil || !strings.Contains(r.Err.Error(), "powered off") {
		t.Errorf("bmc probe of a server that is off: %+v", r)
	}

	if err := c.Switch(ctx, "", true); err != nil {
		t.Fatal(err)
	}
	if !sim.power(t) {
		t.Fatal("the chassis is off after Switch on")
	}
	if r := bmcProbe.Probe(ctx); !r.Success {
		t.Errorf("bmc probe of a server that is on: %v", r.Err)
	}
	if got, want := sim.sets(t), []string{"power 0", "power 1"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("chassis actions %q, want %q", got, want)
	}
	if err := c.Switch(ctx, "2", true); !errors.Is(err, actuator.ErrOutletNotFound) {
		t.Errorf("outlet 2 of a BMC: %v, want ErrOutletNotFound", err)
	}
}

// The BMC cycles power by itself: one power-cycle command, ipmi_sim's
// timer powers the chassis up a second later, and the safe cycle only
// verifies it.
func TestOpenIPMISimSafeCycleDoneByBMC(t *testing.T) {
	sim := startIPMISim(t)
	clk := clock.NewFake(time.Unix(0, 0))
	c := sim.client(t, ipmi.Config{Clock: clk})
	off := 10 * time.Second

	type result struct {
		rep actuator.SafeCycleReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := actuator.SafeCycle(context.Background(), c, "", off, actuator.SafeCycleOptions{Clock: clk})
		done <- result{rep, err}
	}()
	// SafeCycle waits on the fake clock; ipmi_sim powers up on its own
	// (real) one-second timer meanwhile.
	clk.WaitForTimers(1)
	waitFor(t, func() bool { return len(sim.sets(t)) >= 2 }, "ipmi_sim to power the chassis up after its cycle")
	clk.Advance(off + 3*time.Second)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !r.rep.DeviceCycled || !r.rep.Verified {
		t.Errorf("report %+v: want the BMC's own cycle, verified on", r.rep)
	}
	// ipmi_sim has no Set Power Cycle Interval (C1h): the off time is the BMC's own.
	if r.rep.DeviceOffTime != 0 {
		t.Errorf("device off time %s; ipmi_sim cannot set one", r.rep.DeviceOffTime)
	}
	// Exactly the BMC's power off and its own power on: no power up of ours.
	if got := strings.Join(sim.sets(t), ","); got != "power 0,power 1" {
		t.Errorf("chassis actions %q, want the BMC's cycle only (power 0,power 1)", got)
	}
	if !sim.power(t) {
		t.Error("the chassis is off after the cycle")
	}
}

// A server that is off cannot be power-cycled by the BMC (D5h): the safe
// cycle powers it up itself.
func TestOpenIPMISimSafeCycleOfServerThatIsOff(t *testing.T) {
	sim := startIPMISim(t)
	c := sim.client(t, ipmi.Config{})
	if err := c.Switch(context.Background(), "", false); err != nil {
		t.Fatal(err)
	}
	err := c.CanDeviceCycle(context.Background(), "")
	if !errors.Is(err, actuator.ErrDeviceCycleUnsupported) {
		t.Fatalf("CanDeviceCycle of a server that is off: %v", err)
	}
	clk := clock.NewFake(time.Unix(0, 0))
	done := make(chan error, 1)
	go func() {
		_, err := actuator.SafeCycle(context.Background(), sim.client(t, ipmi.Config{Clock: clk}), "", time.Second, actuator.SafeCycleOptions{Clock: clk})
		done <- err
	}()
	clk.WaitForTimers(1)
	clk.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !sim.power(t) {
		t.Error("the server is still off after the safe cycle")
	}
}

// power_off: soft sends the ACPI request and waits for the OS; an OS that
// ignores it is powered down hard once soft_off_timeout has passed.
func TestOpenIPMISimSoftOff(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ignoreACPI bool
		want       string
	}{
		{"OS shuts down", false, "shutdown 1"},
		{"OS ignores ACPI", true, "shutdown 1,power 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := startIPMISim(t)
			if tc.ignoreACPI {
				if err := os.WriteFile(filepath.Join(sim.dir, "ignore-acpi"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			clk := clock.NewFake(time.Unix(0, 0))
			c := sim.client(t, ipmi.Config{Clock: clk, PowerOff: ipmi.PowerOffSoft, SoftOffTimeout: time.Minute})
			if err := c.CanDeviceCycle(context.Background(), ""); !errors.Is(err, actuator.ErrDeviceCycleUnsupported) {
				t.Errorf("power_off: soft must not use the BMC's hard power cycle: %v", err)
			}
			done := make(chan error, 1)
			go func() { done <- c.Switch(context.Background(), "", false) }()
			// Advance 2 s whenever the driver waits on its deadline and its
			// next poll, until the soft off returns.
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
					if sim.power(t) {
						t.Fatal("the chassis is on after the soft off returned")
					}
					if got := strings.Join(sim.sets(t), ","); got != tc.want {
						t.Errorf("chassis actions %q, want %q", got, tc.want)
					}
					return
				case <-time.After(2 * time.Millisecond):
				}
				if clk.Pending() >= 2 {
					clk.Advance(2 * time.Second)
				}
			}
			t.Fatal("the soft off did not return")
		})
	}
}

func TestOpenIPMISimErrors(t *testing.T) {
	sim := startIPMISim(t)
	for _, tc := range []struct {
		name    string
		cfg     ipmi.Config
		want    error
		wantMsg string
	}{
		{"wrong password", ipmi.Config{Username: simAdmin, Password: "wrong"}, ipmi.ErrAuth, "check the password"},
		{"unknown user", ipmi.Config{Username: "nobody", Password: "x"}, ipmi.ErrAuth, `no user "nobody"`},
		{"cipher suite 17 (ipmi_sim has no SHA-256)", ipmi.Config{CipherSuites: []int{17}}, ipmi.ErrCipherSuite, "cipher_suite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sim.client(t, tc.cfg).Status(context.Background())
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.want, tc.wantMsg)
			}
		})
	}
	// A user-level session reads but may not switch: D4h, power unchanged.
	c := sim.client(t, ipmi.Config{Username: simOper, Password: simOperPass, Privilege: ipmi.PrivilegeUser})
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatalf("status in a user session: %v", err)
	}
	err := c.Switch(context.Background(), "", false)
	var ce *ipmi.CompletionError
	if !errors.Is(err, ipmi.ErrPrivilege) || !errors.As(err, &ce) || ce.Code != 0xD4 {
		t.Fatalf("power down in a user session: %v, want completion code D4h", err)
	}
	if !sim.power(t) {
		t.Error("a refused power down switched the chassis off")
	}
	if got := sim.sets(t); len(got) != 0 {
		t.Errorf("refused commands reached the chassis: %q", got)
	}
}

// waitFor polls cond, for what an outside process does on its own clock.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
