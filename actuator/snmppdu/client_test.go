package snmppdu_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/snmppdu"
	"github.com/restartinator/restartinator/actuator/snmppdu/pdusim"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/testlog"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func startSim(t *testing.T, opt pdusim.Options) *pdusim.PDU {
	t.Helper()
	p, err := pdusim.Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func client(t *testing.T, p *pdusim.PDU, cfg snmppdu.Config) *snmppdu.Client {
	t.Helper()
	cfg.Host, cfg.Port = p.Host(), p.Port()
	if cfg.Timeout == 0 {
		cfg.Timeout = 300 * time.Millisecond
	}
	c, err := snmppdu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStatusAndSwitch(t *testing.T) {
	for _, version := range []string{"1", "2c"} {
		t.Run("v"+version, func(t *testing.T) {
			sim := startSim(t, pdusim.Options{Outlets: 4, Clock: clock.NewFake(t0)})
			sim.SetOutlet(3, "db-server", true)
			c := client(t, sim, snmppdu.Config{Version: version})
			ctx := context.Background()
			st, err := c.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Outlets) != 4 || st.Outlets[2].Alias != "db-server" || st.Outlets[2].ID != "3" || !st.Outlets[2].On {
				t.Fatalf("outlets = %+v", st.Outlets)
			}
			if !strings.Contains(st.Protocol, "APC rPDU") || !strings.Contains(st.Model, "AP7920") {
				t.Errorf("model %q protocol %q", st.Model, st.Protocol)
			}
			// By name, then by the PDU's number.
			if err := c.Switch(ctx, "db-server", false); err != nil {
				t.Fatal(err)
			}
			if sim.Outlets()[2].On {
				t.Fatal("outlet 3 still on after switching db-server off")
			}
			if err := c.Switch(ctx, "3", true); err != nil {
				t.Fatal(err)
			}
			if !sim.Outlets()[2].On {
				t.Fatal("outlet 3 still off after switching 3 on")
			}
			if err := c.Switch(ctx, "9", false); !errors.Is(err, actuator.ErrOutletNotFound) || !strings.Contains(err.Error(), "db-server") {
				t.Errorf("unknown outlet: %v", err)
			}
			if err := c.Switch(ctx, "", false); !errors.Is(err, actuator.ErrOutletNotFound) {
				t.Errorf("no outlet on a PDU: %v", err)
			}
		})
	}
}

func TestReadOnlyCommunityRefused(t *testing.T) {
	sim := startSim(t, pdusim.Options{Outlets: 2})
	c := client(t, sim, snmppdu.Config{Community: "public"})
	ctx := context.Background()
	if _, err := c.Status(ctx); err != nil {
		t.Fatalf("public may read: %v", err)
	}
	err := c.Switch(ctx, "1", false)
	if err == nil || !strings.Contains(err.Error(), "NoAccess") || !strings.Contains(err.Error(), "private") {
		t.Fatalf("switching with the read community: %v", err)
	}
	if !sim.Outlets()[0].On || sim.Sets() != 0 {
		t.Fatal("a refused SET changed the outlet")
	}
}

func TestWrongCommunityTimesOutWithAHint(t *testing.T) {
	sim := startSim(t, pdusim.Options{Outlets: 2})
	c := client(t, sim, snmppdu.Config{Community: "secret", Timeout: 100 * time.Millisecond})
	_, err := c.Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "community") || !strings.Contains(err.Error(), sim.Addr()) {
		t.Fatalf("wrong community: %v", err)
	}
}

func TestUnknownSysObjectIDRefused(t *testing.T) {
	sim := startSim(t, pdusim.Options{Outlets: 2, SysObjectID: "1.3.6.1.4.1.8072.3.2.10"})
	c := client(t, sim, snmppdu.Config{})
	_, err := c.Status(context.Background())
	if !errors.Is(err, snmppdu.ErrUnknownPDU) || !strings.Contains(err.Error(), "1.3.6.1.4.1.8072.3.2.10") {
		t.Fatalf("unknown PDU: %v", err)
	}
	if err := c.Switch(context.Background(), "1", false); err == nil || !sim.Outlets()[0].On {
		t.Fatalf("switched an unknown PDU: %v", err)
	}
}

func TestFamiliesBySysObjectID(t *testing.T) {
	for id, want := range map[string]string{
		".1.3.6.1.4.1.318.1.3.4.5": "APC rPDU (",
		"1.3.6.1.4.1.318.1.3.4.8":  "APC rPDU2g",
		"1.3.6.1.4.1.318.1.3.4.2":  "APC MasterSwitch",
	} {
		f, err := snmppdu.FamilyOf(id)
		if err != nil || !strings.HasPrefix(f.Name, want) {
			t.Errorf("%s: %q %v, want %q", id, f.Name, err, want)
		}
	}
}

// cycleRig runs SafeCycle against the simulator, the PDU's timers on one
// fake clock and ours on another.
type cycleRig struct {
	sim            *pdusim.PDU
	c              *snmppdu.Client
	simClk, ourClk *clock.Fake
	log            *testlog.Buffer
}

func newCycleRig(t *testing.T, cfg snmppdu.Config) *cycleRig {
	return newCycleRigWith(t, pdusim.Options{Outlets: 4}, cfg)
}

// newCycleRigWith is newCycleRig with the simulator's options (its
// clock is the rig's).
func newCycleRigWith(t *testing.T, opt pdusim.Options, cfg snmppdu.Config) *cycleRig {
	r := &cycleRig{simClk: clock.NewFake(t0), ourClk: clock.NewFake(t0), log: &testlog.Buffer{}}
	opt.Clock = r.simClk
	r.sim = startSim(t, opt)
	cfg.Logger = slog.New(slog.NewTextHandler(r.log, nil))
	r.c = client(t, r.sim, cfg)
	return r
}

type result struct {
	rep actuator.SafeCycleReport
	err error
}

func (r *cycleRig) start(ctx context.Context, outlet string, opt actuator.SafeCycleOptions) <-chan result {
	opt.Clock = r.ourClk
	opt.Logger = slog.New(slog.NewTextHandler(r.log, nil))
	opt.RetryDelay = time.Second
	done := make(chan result, 1)
	go func() {
		rep, err := actuator.SafeCycle(ctx, r.c, outlet, 30*time.Second, opt)
		done <- result{rep, err}
	}()
	return done
}

func TestSafeCycleUsesThePDUsReboot(t *testing.T) {
	r := newCycleRig(t, snmppdu.Config{})
	intentBeforeReboot := false
	done := r.start(context.Background(), "2", actuator.SafeCycleOptions{BeforeOff: func() error {
		intentBeforeReboot = r.sim.Outlets()[1].On && r.sim.Sets() == 0
		return nil
	}})
	// The PDU reboots with its own 5 s duration, not our 30 s off time.
	r.ourClk.WaitForTimers(1)
	if o := r.sim.Outlets()[1]; o.On || !r.sim.Pending(2) {
		t.Fatalf("after the reboot command outlet 2 is %+v, want off with the PDU's timer pending", o)
	}
	r.simClk.Advance(5 * time.Second)
	if !r.sim.Outlets()[1].On {
		t.Fatal("the PDU did not switch outlet 2 back on after its reboot duration")
	}
	r.ourClk.Advance(7 * time.Second)
	res := <-done
	if res.err != nil {
		t.Fatal(res.err, r.log.String())
	}
	if !intentBeforeReboot {
		t.Error("the intent was not recorded before the reboot command")
	}
	if !res.rep.DeviceCycled || !res.rep.Verified || res.rep.DeviceOffTime != 5*time.Second || res.rep.OnAttempts != 0 {
		t.Errorf("report %+v", res.rep)
	}
	if r.sim.Sets() != 1 {
		t.Errorf("%d SETs, want the one reboot command", r.sim.Sets())
	}
	if !strings.Contains(r.log.String(), "reboot_duration=5s") {
		t.Errorf("the reboot duration was not reported:\n%s", r.log.String())
	}
}

func TestSafeCycleSetsTheRebootDurationWhenAsked(t *testing.T) {
	r := newCycleRig(t, snmppdu.Config{RebootDuration: 20 * time.Second})
	done := r.start(context.Background(), "1", actuator.SafeCycleOptions{})
	r.ourClk.WaitForTimers(1)
	if d := r.sim.Outlets()[0].RebootDuration; d != 20*time.Second {
		t.Fatalf("reboot duration on the PDU %s, want 20s", d)
	}
	r.simClk.Advance(19 * time.Second)
	if r.sim.Outlets()[0].On {
		t.Fatal("on before the reboot duration we set")
	}
	r.simClk.Advance(time.Second)
	r.ourClk.Advance(22 * time.Second)
	if res := <-done; res.err != nil || res.rep.DeviceOffTime != 20*time.Second {
		t.Fatalf("%+v %v", res.rep, res.err)
	}
}

// The controller killed mid-cycle: only the reboot command was sent, and
// the PDU brings power back by itself.
func TestKilledMidCycleThePDUSwitchesOnByItself(t *testing.T) {
	r := newCycleRig(t, snmppdu.Config{})
	ctx, kill := context.WithCancel(context.Background())
	done := r.start(ctx, "4", actuator.SafeCycleOptions{})
	r.ourClk.WaitForTimers(1)
	// The network goes too: our restore cannot reach the PDU.
	r.sim.SetFault(pdusim.Unreachable)
	kill()
	r.ourClk.Advance(time.Minute) // our restore's retry waits
	for range 3 {
		r.ourClk.WaitForTimers(1)
		r.ourClk.Advance(time.Minute)
	}
	res := <-done
	if res.err == nil || !strings.Contains(res.err.Error(), "the device was told to switch it on by itself") || res.rep.Reason != actuator.ReasonSwitchOn {
		t.Fatalf("err %v, report %+v", res.err, res.rep)
	}
	if r.sim.Outlets()[3].On {
		t.Fatal("on before its reboot duration")
	}
	r.simClk.Advance(5 * time.Second)
	if !r.sim.Outlets()[3].On {
		t.Fatal("the PDU did not switch the outlet back on by itself")
	}
}

func TestSafeCycleUnreachablePDUSwitchesNothing(t *testing.T) {
	r := newCycleRig(t, snmppdu.Config{Timeout: 50 * time.Millisecond})
	r.sim.SetFault(pdusim.Unreachable)
	called := false
	res := <-r.start(context.Background(), "1", actuator.SafeCycleOptions{BeforeOff: func() error { called = true; return nil }})
	if res.err == nil || res.rep.SwitchedOff || called || res.rep.Reason != actuator.ReasonFlipBack {
		t.Fatalf("err %v report %+v intent recorded %v", res.err, res.rep, called)
	}
	if r.sim.Sets() != 0 {
		t.Fatal("something was switched")
	}
}

func TestSafeCycleRefusedRebootLeavesItOn(t *testing.T) {
	r := newCycleRig(t, snmppdu.Config{})
	r.sim.SetFault(pdusim.RefuseSet)
	done := r.start(context.Background(), "1", actuator.SafeCycleOptions{})
	for range 3 {
		r.ourClk.WaitForTimers(1)
		r.ourClk.Advance(time.Minute)
	}
	res := <-done
	if res.err == nil || !strings.Contains(res.err.Error(), "GenErr") || res.rep.Reason != actuator.ReasonSwitchOff {
		t.Fatalf("err %v report %+v", res.err, res.rep)
	}
	if !r.sim.Outlets()[0].On {
		t.Fatal("outlet left off")
	}
}

func TestFlipBackOffSwitchesItself(t *testing.T) {
	r := newCycleRig(t, snmppdu.Config{})
	done := r.start(context.Background(), "1", actuator.SafeCycleOptions{FlipBack: "off"})
	r.ourClk.WaitForTimers(1)
	if r.sim.Outlets()[0].On || r.sim.Pending(1) {
		t.Fatal("flip_back off should switch off plainly, without the PDU's reboot")
	}
	r.ourClk.Advance(30 * time.Second)
	res := <-done
	if res.err != nil || res.rep.DeviceCycled || !r.sim.Outlets()[0].On {
		t.Fatalf("%+v %v", res.rep, res.err)
	}
}

func TestLoad(t *testing.T) {
	sim := startSim(t, pdusim.Options{Outlets: 4, Amperes: 0.5})
	sim.SetOutlet(1, "a", false)
	c := client(t, sim, snmppdu.Config{})
	l, err := c.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Amperes) != 1 || l.Amperes[0] != 1.5 || l.Watts != 345 {
		t.Fatalf("load %+v, want 1.5 A on phase 1 and 345 W", l)
	}
}
