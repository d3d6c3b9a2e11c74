package tasmota_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/tasmota"
	"github.com/restartinator/restartinator/actuator/tasmota/tasmotasim"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
)

var (
	epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	quiet = slog.New(slog.DiscardHandler)
)

type simDev struct {
	*tasmotasim.Device
	addr string
}

func startSim(t testing.TB, opt tasmotasim.Options) simDev {
	t.Helper()
	d, err := tasmotasim.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Serve(ln) }()
	t.Cleanup(func() {
		d.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return simDev{d, ln.Addr().String()}
}

func newClient(t testing.TB, addr string, cfg tasmota.Config) *tasmota.Client {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	cfg.Host = host
	cfg.Port, _ = strconv.Atoi(port)
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	c, err := tasmota.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStatusSwitchEnergy(t *testing.T) {
	for _, tc := range []struct {
		outlets int
		metered bool
	}{{1, true}, {1, false}, {3, false}, {4, true}} {
		t.Run(strconv.Itoa(tc.outlets)+"-metered="+strconv.FormatBool(tc.metered), func(t *testing.T) {
			ctx := ctxT(t)
			fake := clock.NewFake(epoch)
			sim := startSim(t, tasmotasim.Options{Outlets: tc.outlets, Metered: tc.metered, Clock: fake})
			c := newClient(t, sim.addr, tasmota.Config{})
			st, err := c.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Outlets) != tc.outlets || st.Strip != (tc.outlets > 1) || !strings.HasPrefix(st.Model, "Tasmota") || st.SWVersion == "" {
				t.Fatalf("status %+v", st)
			}
			for _, o := range st.Outlets {
				if !o.On || (o.Energy != nil) != tc.metered {
					t.Fatalf("outlet %+v at start", o)
				}
			}
			for i := range tc.outlets {
				sel := ""
				if tc.outlets > 1 {
					sel = strconv.Itoa(i)
				}
				if err := c.Switch(ctx, sel, false); err != nil {
					t.Fatal(err)
				}
				for j, o := range sim.Outlets() {
					if o.On != (j > i) {
						t.Fatalf("after switching outlet %d off, relay %d on=%v", i, j, o.On)
					}
				}
			}
			// By Tasmota's own name, and by friendly name.
			last := "POWER" + strconv.Itoa(tc.outlets)
			if err := c.Switch(ctx, last, true); err != nil || !sim.On(tc.outlets-1) {
				t.Fatalf("switching %s on: %v", last, err)
			}
			if tc.outlets > 1 {
				if err := c.Switch(ctx, "Tasmota2", true); err != nil || !sim.On(1) {
					t.Fatalf("switching Tasmota2 on: %v", err)
				}
			}
			if err := c.Switch(ctx, "9", true); !errors.Is(err, actuator.ErrOutletNotFound) {
				t.Fatalf("outlet 9: %v", err)
			}
			fake.Advance(time.Hour)
			st, err = c.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			o := st.Outlets[tc.outlets-1]
			if tc.metered && (o.Energy.WattHours != 40 || o.Energy.Watts != 40 || o.Energy.Volts != 230) {
				t.Errorf("energy after 1h at 40 W: %+v", *o.Energy)
			}
			if tc.metered && st.Outlets[0].Energy.WattHours != 0 && tc.outlets > 1 {
				t.Errorf("outlet 0 was off all hour but counted %v Wh", st.Outlets[0].Energy.WattHours)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	sim := startSim(t, tasmotasim.Options{Password: "joker"})
	for _, tc := range []struct {
		name, user, pass string
		want             error
		hint             string
	}{
		{"right", "", "joker", nil, ""},
		{"wrong", "", "guess", tasmota.ErrAuthRejected, `"password"`},
		{"wrong user", "bob", "joker", tasmota.ErrAuthRejected, `"username"`},
		{"missing", "", "", tasmota.ErrAuthRequired, `"password"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			c := newClient(t, sim.addr, tasmota.Config{Username: tc.user, Password: tc.pass})
			_, err := c.Status(ctx)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.hint) {
					t.Errorf("error %q does not name the key to fix (%s)", err, tc.hint)
				}
				if strings.Contains(err.Error(), tc.pass) && tc.pass != "" {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err := c.Switch(ctx, "", false); err != nil || sim.On(0) {
				t.Fatalf("authenticated switch-off: %v", err)
			}
			c.Switch(ctx, "", true)
		})
	}
}

func TestFlipBackCommand(t *testing.T) {
	for _, tc := range []struct {
		off  time.Duration
		want string
	}{
		{50 * time.Millisecond, "Backlog Power1 OFF; Delay 2; Power1 ON"},
		{30 * time.Second, "Backlog Power1 OFF; Delay 300; Power1 ON"},
		{1234 * time.Millisecond, "Backlog Power1 OFF; Delay 13; Power1 ON"},
		{360 * time.Second, "Backlog Power1 OFF; Delay 3600; Power1 ON"},
		{360*time.Second + 100*time.Millisecond, "Backlog Power1 OFF; Delay 3599; Delay 2; Power1 ON"},
		{15 * time.Minute, "Backlog Power1 OFF; Delay 3600; Delay 3600; Delay 1800; Power1 ON"},
	} {
		got, err := tasmota.FlipBackCommand(1, tc.off)
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.off, got, err, tc.want)
		}
	}
	got, err := tasmota.FlipBackCommand(2, tasmota.MaxFlipBack)
	if err != nil || strings.Count(got, ";")+1 != 30 {
		t.Errorf("the longest off time: %d commands (%v), want 30, the Backlog limit", strings.Count(got, ";")+1, err)
	}
	if _, err := tasmota.FlipBackCommand(1, tasmota.MaxFlipBack+time.Second); !errors.Is(err, actuator.ErrFlipBackUnsupported) {
		t.Errorf("too long: %v, want ErrFlipBackUnsupported", err)
	}
}

// freezeAfterOff is a controller that dies right after switching off.
type freezeAfterOff struct {
	actuator.Plug
	off  chan struct{}
	dead atomic.Bool
}

func (f *freezeAfterOff) Switch(ctx context.Context, outlet string, on bool) error {
	if f.dead.Load() {
		return errors.New("controller is dead")
	}
	err := f.Plug.Switch(ctx, outlet, on)
	if !on && err == nil {
		f.dead.Store(true)
		close(f.off)
	}
	return err
}

// TestSafeCycleControllerKilled: after the switch-off the controller never
// acts again; the Backlog on the device brings power back after the off
// time (plus Tasmota's 200 ms between commands), not before.
func TestSafeCycleControllerKilled(t *testing.T) {
	for _, outlets := range []int{1, 3} {
		t.Run(strconv.Itoa(outlets), func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			dev, ctl := clock.NewFake(epoch), clock.NewFake(epoch)
			sim := startSim(t, tasmotasim.Options{Outlets: outlets, Metered: true, Clock: dev})
			c := newClient(t, sim.addr, tasmota.Config{})
			sel, idx := "", 0
			if outlets > 1 {
				sel, idx = "2", 2
			}
			frozen := &freezeAfterOff{Plug: c, off: make(chan struct{})}
			done := make(chan actuator.SafeCycleReport, 1)
			go func() {
				rep, _ := actuator.SafeCycle(ctx, frozen, sel, 30*time.Second, actuator.SafeCycleOptions{Clock: ctl, Logger: quiet})
				done <- rep
			}()
			<-frozen.off
			if sim.On(idx) {
				t.Fatal("on after the switch-off was read back")
			}
			dev.WaitForTimers(1) // SetOption34's wait after Power OFF
			dev.Advance(200 * time.Millisecond)
			dev.WaitForTimers(1) // Delay 300
			dev.Advance(29900 * time.Millisecond)
			if sim.On(idx) {
				t.Fatal("the device switched on before the off time")
			}
			dev.Advance(100 * time.Millisecond)
			waitFor(t, "power back by the device's Backlog", func() bool { return sim.On(idx) })
			for i, o := range sim.Outlets() {
				if !o.On {
					t.Errorf("relay %d off; only %d was cycled", i, idx)
				}
			}
			frozen.dead.Store(false)
			cancel()
			if rep := <-done; !rep.FlipBackArmed || !rep.Verified {
				t.Errorf("report %+v", rep)
			}
		})
	}
}

func TestSafeCycleWhole(t *testing.T) {
	ctx := ctxT(t)
	dev, ctl := clock.NewFake(epoch), clock.NewFake(epoch)
	sim := startSim(t, tasmotasim.Options{Outlets: 2, Clock: dev})
	c := newClient(t, sim.addr, tasmota.Config{})
	errc := make(chan error, 1)
	go func() {
		_, err := actuator.SafeCycle(ctx, c, "1", 10*time.Second, actuator.SafeCycleOptions{Clock: ctl, Logger: quiet})
		errc <- err
	}()
	ctl.WaitForTimers(1)
	if sim.On(1) || !sim.On(0) || len(sim.Backlog()) == 0 {
		t.Fatalf("during the off time: %+v, backlog %q", sim.Outlets(), sim.Backlog())
	}
	ctl.Advance(10 * time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !sim.On(1) {
		t.Fatal("off after the cycle")
	}
	// The rest of the device's Backlog only switches on what is on.
	dev.WaitForTimers(1)
	dev.Advance(200 * time.Millisecond)
	dev.WaitForTimers(1)
	dev.Advance(10 * time.Second)
	waitFor(t, "the Backlog to run out", func() bool { return len(sim.Backlog()) == 0 })
	if !sim.On(1) || !sim.On(0) {
		t.Fatalf("after the device's Backlog ran out: %+v", sim.Outlets())
	}
}

func TestArmTooLongIsUnsupported(t *testing.T) {
	sim := startSim(t, tasmotasim.Options{})
	c := newClient(t, sim.addr, tasmota.Config{})
	rep, err := actuator.SafeCycle(ctxT(t), c, "", tasmota.MaxFlipBack+time.Minute, actuator.SafeCycleOptions{
		Clock: instant{clock.NewFake(epoch)}, Logger: quiet})
	if err != nil || !rep.FlipBackUnsupported || !rep.Verified || !sim.On(0) {
		t.Fatalf("rep %+v err %v", rep, err)
	}
	if len(sim.Backlog()) != 0 {
		t.Fatalf("a Backlog was queued: %q", sim.Backlog())
	}
}

// instant is a clock whose timers fire at once: the off time passes immediately.
type instant struct{ *clock.Fake }

func (i instant) NewTimer(time.Duration) clock.Timer { return i.Fake.NewTimer(0) }

func TestFaults(t *testing.T) {
	sim := startSim(t, tasmotasim.Options{})
	c := newClient(t, sim.addr, tasmota.Config{Timeout: 300 * time.Millisecond})
	ctx := ctxT(t)
	for _, f := range []tasmotasim.Fault{tasmotasim.Refuse, tasmotasim.Hang, tasmotasim.Unreachable} {
		sim.SetFault(f)
		_, err := c.Status(ctx)
		var te *actuator.PlugError
		if !errors.As(err, &te) || te.Hint == "" {
			t.Errorf("%v: %v, want a *actuator.PlugError with a hint", f, err)
		}
		sim.SetFault(tasmotasim.NoFault)
	}
	waitFor(t, "answers again", func() bool { _, err := c.Status(ctx); return err == nil })
	sim.RefuseMethod("Backlog")
	c.ArmFlipBack(ctx, "", time.Second)
	if err := c.Switch(ctx, "", false); !errors.Is(err, tasmota.ErrUnknownCommand) || !sim.On(0) {
		t.Fatalf("Backlog refused: %v, on=%v", err, sim.On(0))
	}
}

// With flip_back: required, an off time longer than one Backlog can wait
// refuses the cycle before anything is switched.
func TestFlipBackRequiredRefusesTooLong(t *testing.T) {
	sim := startSim(t, tasmotasim.Options{})
	c := newClient(t, sim.addr, tasmota.Config{})
	before := sim.Requests()
	rep, err := actuator.SafeCycle(ctxT(t), c, "", tasmota.MaxFlipBack+time.Minute, actuator.SafeCycleOptions{
		Clock: clock.NewFake(epoch), Logger: quiet, FlipBack: config.FlipBackRequired})
	if !errors.Is(err, actuator.ErrFlipBackRequired) || rep.SwitchedOff || !sim.On(0) {
		t.Fatalf("err %v, report %+v, on=%v", err, rep, sim.On(0))
	}
	if n := sim.Requests() - before; n != 1 {
		t.Errorf("%d requests; want only the Status read of arming", n)
	}
}
