package ipmi_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/ipmi"
	"github.com/restartinator/restartinator/actuator/ipmi/ipmisim"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/testlog"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// cycleRig is our driver's safe cycle against our BMC simulator; the
// simulator's clock and ours move separately, so a test says when the
// BMC's timers run and when ours do.
type cycleRig struct {
	sim            *ipmisim.BMC
	c              *ipmi.Client
	simClk, ourClk *clock.Fake
	log            *testlog.Buffer
}

const simUser, simPass = "restartinator", "bmc-pass-1234"

func newCycleRig(t *testing.T, opt ipmisim.Options, cfg ipmi.Config) *cycleRig {
	t.Helper()
	r := &cycleRig{simClk: clock.NewFake(t0), ourClk: clock.NewFake(t0), log: &testlog.Buffer{}}
	opt.Clock = r.simClk
	if opt.Username == "" {
		opt.Username, opt.Password = simUser, simPass
	}
	sim, err := ipmisim.Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	r.sim = sim
	cfg.Host, cfg.Port = sim.Host(), sim.Port()
	if cfg.Username == "" {
		cfg.Username, cfg.Password = simUser, simPass
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	cfg.Clock = r.ourClk
	cfg.Logger = slog.New(slog.NewTextHandler(r.log, nil))
	if r.c, err = ipmi.New(cfg); err != nil {
		t.Fatal(err)
	}
	return r
}

type result struct {
	rep actuator.SafeCycleReport
	err error
}

func (r *cycleRig) start(ctx context.Context, off time.Duration, opt actuator.SafeCycleOptions) <-chan result {
	opt.Clock = r.ourClk
	opt.Logger = slog.New(slog.NewTextHandler(r.log, nil))
	opt.RetryDelay = time.Second
	done := make(chan result, 1)
	go func() {
		rep, err := actuator.SafeCycle(ctx, r.c, "", off, opt)
		done <- result{rep, err}
	}()
	return done
}

// actions lists the Chassis Control actions the BMC received.
func (r *cycleRig) actions() []byte {
	var a []byte
	for _, c := range r.sim.Controls() {
		a = append(a, c.Action)
	}
	return a
}

// One power-cycle command; the BMC powers the server back on by itself and
// the safe cycle only reads it back. As administrator the driver sets the
// BMC's power cycle interval to the off time first; as operator (the
// default) the BMC refuses that (D4h, an administrator command) and keeps
// its own.
func TestSimSafeCycleOneCommandTheBMCRestoresPower(t *testing.T) {
	for _, tc := range []struct {
		privilege   string
		bmcOff      time.Duration // the interval the BMC uses
		reportedOff time.Duration // what the driver reports
	}{
		{ipmi.PrivilegeAdministrator, 10 * time.Second, 10 * time.Second},
		{ipmi.PrivilegeOperator, time.Second, 0},
	} {
		t.Run(tc.privilege, func(t *testing.T) {
			r := newCycleRig(t, ipmisim.Options{}, ipmi.Config{Privilege: tc.privilege})
			intentBeforeCycle := false
			done := r.start(context.Background(), 10*time.Second, actuator.SafeCycleOptions{BeforeOff: func() error {
				intentBeforeCycle = r.sim.Power() && len(r.sim.Controls()) == 0
				return nil
			}})
			r.ourClk.WaitForTimers(1)
			if r.sim.Power() || !r.sim.Pending() {
				t.Fatal("after the power cycle command the server should be off with the BMC's power-on pending")
			}
			if got := r.sim.OffTime(); got != tc.bmcOff {
				t.Errorf("the BMC's power cycle interval is %s, want %s", got, tc.bmcOff)
			}
			r.simClk.Advance(tc.bmcOff)
			if !r.sim.Power() {
				t.Fatal("the BMC did not power the server back on after its interval")
			}
			r.ourClk.Advance(12 * time.Second)
			res := <-done
			if res.err != nil {
				t.Fatal(res.err, r.log.String())
			}
			if !intentBeforeCycle {
				t.Error("the intent was not recorded before the power cycle command")
			}
			if !res.rep.DeviceCycled || !res.rep.Verified || res.rep.OnAttempts != 0 || res.rep.DeviceOffTime != tc.reportedOff {
				t.Errorf("report %+v", res.rep)
			}
			if got := r.actions(); len(got) != 1 || got[0] != ipmisim.PowerCycle {
				t.Errorf("chassis controls %x, want the one power cycle (02)", got)
			}
		})
	}
}

// A broken BMC that never powers the server back on: our safe cycle reads
// it off after the off time and powers it up itself.
func TestSimBMCThatNeverRestoresPowerOurCycleSwitchesOn(t *testing.T) {
	r := newCycleRig(t, ipmisim.Options{}, ipmi.Config{})
	r.sim.SetFault(ipmisim.NeverRestore)
	done := r.start(context.Background(), 10*time.Second, actuator.SafeCycleOptions{})
	r.ourClk.WaitForTimers(1)
	r.simClk.Advance(time.Minute)
	r.ourClk.Advance(12 * time.Second)
	res := <-done
	if res.err != nil {
		t.Fatal(res.err, r.log.String())
	}
	if !r.sim.Power() {
		t.Fatal("the server was left off")
	}
	if !res.rep.DeviceCycled || !res.rep.SwitchedOn || res.rep.OnAttempts != 1 {
		t.Errorf("report %+v: want the BMC's cycle, then our own power up", res.rep)
	}
	if got := r.actions(); len(got) != 2 || got[0] != ipmisim.PowerCycle || got[1] != ipmisim.PowerUp {
		t.Errorf("chassis controls %x, want power cycle (02) then our power up (01)", got)
	}
	if !strings.Contains(r.log.String(), "still off after the device's power cycle") {
		t.Errorf("the log does not say why we powered up:\n%s", r.log.String())
	}
}

// A BMC whose power-on failed reports a power control fault: the bmc
// probe's view says Warning (not down), and Status still reads the power.
func TestSimPowerControlFaultIsAWarning(t *testing.T) {
	r := newCycleRig(t, ipmisim.Options{}, ipmi.Config{})
	r.sim.SetFault(ipmisim.NeverRestore)
	if _, err := r.c.DeviceCycle(context.Background(), "", time.Second); err != nil {
		t.Fatal(err)
	}
	r.simClk.Advance(time.Minute)
	b, err := r.c.BMCStatus(context.Background())
	if err != nil || b.PowerOn || b.Health != "Warning" {
		t.Errorf("BMCStatus %+v, %v: want off, Warning (power control fault)", b, err)
	}
}

// An unreachable BMC: the cycle fails before anything is switched, with
// the reason the Cycler counts in power_cycle_failures_total, and the
// error says what to check.
func TestSimUnreachableBMCSwitchesNothing(t *testing.T) {
	r := newCycleRig(t, ipmisim.Options{}, ipmi.Config{Timeout: 300 * time.Millisecond})
	r.sim.SetFault(ipmisim.Unreachable)
	called := false
	res := <-r.start(context.Background(), 10*time.Second, actuator.SafeCycleOptions{BeforeOff: func() error { called = true; return nil }})
	if res.err == nil || res.rep.SwitchedOff || called || res.rep.Reason != actuator.ReasonFlipBack {
		t.Fatalf("err %v report %+v intent recorded %v", res.err, res.rep, called)
	}
	if !errors.Is(res.err, ipmi.ErrUnreachable) || !strings.Contains(res.err.Error(), "UDP port 623") {
		t.Errorf("error %v: want ErrUnreachable with a hint", res.err)
	}
	r.sim.SetFault(ipmisim.NoFault)
	if len(r.sim.Controls()) != 0 || !r.sim.Power() {
		t.Fatal("something was switched")
	}
}

// The controller killed mid-cycle with the network gone: only the power
// cycle command was sent, and the BMC brings power back by itself.
func TestSimKilledMidCycleTheBMCPowersOnByItself(t *testing.T) {
	r := newCycleRig(t, ipmisim.Options{OffTime: 5 * time.Second}, ipmi.Config{Timeout: 300 * time.Millisecond})
	ctx, kill := context.WithCancel(context.Background())
	done := r.start(ctx, 10*time.Second, actuator.SafeCycleOptions{})
	r.ourClk.WaitForTimers(1)
	r.sim.SetFault(ipmisim.Unreachable)
	kill()
	for range 4 { // our restore's retry waits
		r.ourClk.WaitForTimers(1)
		r.ourClk.Advance(time.Minute)
	}
	res := <-done
	if res.err == nil || !strings.Contains(res.err.Error(), "the device was told to switch it on by itself") || res.rep.Reason != actuator.ReasonSwitchOn {
		t.Fatalf("err %v, report %+v", res.err, res.rep)
	}
	r.sim.SetFault(ipmisim.NoFault)
	if r.sim.Power() {
		t.Fatal("on before the BMC's interval")
	}
	r.simClk.Advance(5 * time.Second)
	if !r.sim.Power() {
		t.Fatal("the BMC did not power the server back on by itself")
	}
	if got := r.actions(); len(got) != 1 || got[0] != ipmisim.PowerCycle {
		t.Errorf("chassis controls %x, want only the power cycle", got)
	}
}

// The BMC refuses the power cycle command: nothing is off for long, the
// error names the completion code.
func TestSimRefusedPowerCycleLeavesItOn(t *testing.T) {
	r := newCycleRig(t, ipmisim.Options{}, ipmi.Config{})
	r.sim.FailNext(0x00, 0x02, 0xC0, 1) // Chassis Control: node busy
	res := <-r.start(context.Background(), 10*time.Second, actuator.SafeCycleOptions{})
	if res.err == nil || res.rep.Reason != actuator.ReasonSwitchOff || !strings.Contains(res.err.Error(), "0xc0: node busy") {
		t.Fatalf("err %v report %+v", res.err, res.rep)
	}
	var ce *ipmi.CompletionError
	if !errors.As(res.err, &ce) || ce.Code != 0xC0 {
		t.Errorf("error %v: want a CompletionError C0h", res.err)
	}
	if !r.sim.Power() {
		t.Fatal("the server was left off")
	}
}

func TestSimLoginErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  ipmisim.Options
		cfg  ipmi.Config
		want error
		msg  string
	}{
		{"wrong password", ipmisim.Options{}, ipmi.Config{Username: simUser, Password: "wrong"}, ipmi.ErrAuth, "check the password"},
		{"unknown user", ipmisim.Options{}, ipmi.Config{Username: "nobody", Password: "x"}, ipmi.ErrAuth, `no user "nobody"`},
		{"administrator asked of an operator account", ipmisim.Options{Privilege: ipmisim.Operator},
			ipmi.Config{Privilege: ipmi.PrivilegeAdministrator}, ipmi.ErrPrivilege, "privilege administrator"},
		{"cipher suite the BMC lacks", ipmisim.Options{CipherSuites: []int{3}}, ipmi.Config{CipherSuites: []int{17}}, ipmi.ErrCipherSuite, "cipher_suite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newCycleRig(t, tc.opt, tc.cfg)
			_, err := r.c.Status(context.Background())
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v saying %q", err, tc.want, tc.msg)
			}
		})
	}
	// The default suites fall back to 3 on a BMC without 17.
	r := newCycleRig(t, ipmisim.Options{CipherSuites: []int{3}}, ipmi.Config{})
	if _, err := r.c.Status(context.Background()); err != nil {
		t.Fatalf("suite 3 after 17: %v", err)
	}
}

// A user-privilege session reads the chassis but is refused a power down
// (D4h), and the server stays on.
func TestSimUserPrivilegeReadsButCannotSwitch(t *testing.T) {
	r := newCycleRig(t, ipmisim.Options{}, ipmi.Config{Privilege: ipmi.PrivilegeUser})
	st, err := r.c.Status(context.Background())
	if err != nil || !st.Outlets[0].On {
		t.Fatalf("status %+v, %v", st, err)
	}
	err = r.c.Switch(context.Background(), "", false)
	var ce *ipmi.CompletionError
	if !errors.Is(err, ipmi.ErrPrivilege) || !errors.As(err, &ce) || ce.Code != 0xD4 || !strings.Contains(err.Error(), "raise privilege") {
		t.Fatalf("power down as user: %v", err)
	}
	if !r.sim.Power() {
		t.Fatal("a refused power down switched the server off")
	}
}

// A BMC slower than the plug's timeout: the call gives up in time, and a
// session is not left behind on the BMC once it answers again.
func TestSimSlowBMCGivesUpInTime(t *testing.T) {
	r := newCycleRig(t, ipmisim.Options{}, ipmi.Config{Timeout: 400 * time.Millisecond})
	r.sim.SetDelay(2 * time.Second)
	done := make(chan error, 1)
	go func() { _, err := r.c.Status(context.Background()); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ipmi.ErrUnreachable) {
			t.Fatalf("got %v, want ErrUnreachable", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the call did not give up")
	}
	r.sim.SetDelay(0)
	if _, err := r.c.Status(context.Background()); err != nil {
		t.Fatalf("after the BMC is fast again: %v", err)
	}
}

// Every call closes its session: a BMC with few session slots is not
// filled by probes.
func TestSimSessionsClosed(t *testing.T) {
	r := newCycleRig(t, ipmisim.Options{}, ipmi.Config{})
	for range 20 {
		if _, err := r.c.Status(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	r.c.Close() // waits for the last session's Close Session
	if n := r.sim.Sessions(); n != 0 {
		t.Errorf("%d sessions left open on the BMC", n)
	}
	if n := r.sim.SessionsOpened(); n != 20 {
		t.Errorf("%d sessions opened for 20 calls", n)
	}
}

// power_off: soft against the simulator: the ACPI request, the simulated
// OS shutting down after its delay, and the hard power down when it
// ignores the request.
func TestSimSoftOff(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  ipmisim.Fault
		simAdv time.Duration
		want   []byte
	}{
		{"OS shuts down", ipmisim.NoFault, 5 * time.Second, []byte{ipmisim.SoftShutdown}},
		{"OS ignores ACPI", ipmisim.IgnoreACPI, time.Hour, []byte{ipmisim.SoftShutdown, ipmisim.PowerDown}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newCycleRig(t, ipmisim.Options{ShutdownDelay: 5 * time.Second}, ipmi.Config{PowerOff: ipmi.PowerOffSoft, SoftOffTimeout: time.Minute})
			r.sim.SetFault(tc.fault)
			done := make(chan error, 1)
			go func() { done <- r.c.Switch(context.Background(), "", false) }()
			r.ourClk.WaitForTimers(2) // the soft-off deadline and the first poll
			r.simClk.Advance(tc.simAdv)
			// Advance 2 s whenever the driver waits on its deadline and its
			// next poll, until the soft off returns.
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
					if r.sim.Power() {
						t.Fatal("on after the soft off returned")
					}
					if got := r.actions(); string(got) != string(tc.want) {
						t.Errorf("chassis controls %x, want %x", got, tc.want)
					}
					return
				case <-time.After(2 * time.Millisecond):
				}
				if r.ourClk.Pending() >= 2 {
					r.ourClk.Advance(2 * time.Second)
				}
			}
			t.Fatal("the soft off did not return")
		})
	}
}

// BenchmarkStatus is one chassis status read as a probe does it: a whole
// session (Get Channel Authentication Capabilities, Open Session, RAKP
// 1-4, Set Session Privilege Level), Get Chassis Status, Get Device ID and
// Close Session, against the simulator on loopback.
func BenchmarkStatus(b *testing.B) {
	for _, suite := range []int{3, 17} {
		b.Run("suite"+strconv.Itoa(suite), func(b *testing.B) {
			sim, err := ipmisim.Start(ipmisim.Options{Username: simUser, Password: simPass})
			if err != nil {
				b.Fatal(err)
			}
			defer sim.Close()
			c, err := ipmi.New(ipmi.Config{Host: sim.Host(), Port: sim.Port(), Username: simUser, Password: simPass, CipherSuites: []int{suite}})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Status(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
