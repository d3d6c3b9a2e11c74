package kasa_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/internal/clock"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func startSim(t testing.TB, opt kasasim.Options) *kasasim.Plug {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = quiet
	}
	p, err := kasasim.Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func newClient(t testing.TB, sim *kasasim.Plug, opt kasa.Options) *kasa.Client {
	t.Helper()
	opt.Host, opt.Port = sim.Host(), sim.Port()
	if opt.Timeout == 0 {
		opt.Timeout = 2 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = quiet
	}
	c, err := kasa.New(opt)
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

func TestModels(t *testing.T) {
	for _, tc := range []struct {
		model    string
		protocol string // what auto detection must find
		api      string
		outlets  int
		energy   bool
		volts    float64 // expected reading while on (0: don't check)
	}{
		{"HS100", "xor", "iot", 1, false, 0},
		{"HS100v4", "klap", "iot", 1, false, 0},
		{"HS110", "xor", "iot", 1, true, 231.1},
		{"HS110v4", "xor", "iot", 1, true, 231.1},
		{"HS300", "xor", "iot", 6, true, 120.1},
		{"KP303", "xor", "iot", 3, false, 0},
		{"KP125M", "klap", "smart", 1, true, 121.215},
	} {
		t.Run(tc.model, func(t *testing.T) {
			ctx := ctxT(t)
			sim := startSim(t, kasasim.Options{Model: tc.model})
			c := newClient(t, sim, kasa.Options{Protocol: "auto"})
			st, err := c.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Protocol != tc.protocol || c.API() != tc.api {
				t.Fatalf("protocol %s/%s, want %s/%s", st.Protocol, c.API(), tc.protocol, tc.api)
			}
			if !strings.HasPrefix(st.Model, sim.Model()[:5]) || st.HWVersion == "" || st.SWVersion == "" || st.MAC == "" || st.Alias == "" {
				t.Fatalf("identity incomplete: %+v", st)
			}
			if len(st.Outlets) != tc.outlets || st.Strip != (tc.outlets > 1) {
				t.Fatalf("outlets = %+v", st.Outlets)
			}
			for _, o := range st.Outlets {
				if !o.On || o.OnTime <= 0 {
					t.Fatalf("outlet %d not on at start: %+v", o.Index, o)
				}
				if (o.Energy != nil) != tc.energy {
					t.Fatalf("outlet %d energy = %+v, want present=%v", o.Index, o.Energy, tc.energy)
				}
				if tc.energy && (o.Energy.Watts <= 0 || (tc.volts != 0 && abs(o.Energy.Volts-tc.volts) > 0.01) || o.Energy.WattHours <= 0) {
					t.Fatalf("outlet %d energy while on: %+v", o.Index, o.Energy)
				}
			}

			// Switch the last outlet off by index, read it back, and on again.
			last := len(st.Outlets) - 1
			sel := ""
			if st.Strip {
				sel = string(rune('0' + last))
			}
			if err := c.Switch(ctx, sel, false); err != nil {
				t.Fatal(err)
			}
			if sim.On(last) {
				t.Fatal("simulated relay still on after switching off")
			}
			st, err = c.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			o := st.Outlets[last]
			if o.On {
				t.Fatal("status says on after switching off")
			}
			if tc.energy && (o.Energy.Watts != 0 || o.Energy.Amperes != 0) {
				t.Fatalf("energy does not follow the relay: %+v", o.Energy)
			}
			if st.Strip && !st.Outlets[0].On {
				t.Fatal("switching one outlet switched another")
			}
			if err := c.Switch(ctx, sel, true); err != nil {
				t.Fatal(err)
			}
			if !sim.On(last) {
				t.Fatal("simulated relay off after switching on")
			}
		})
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func TestStripOutletSelection(t *testing.T) {
	ctx := ctxT(t)
	sim := startSim(t, kasasim.Options{Model: "HS300"})
	c := newClient(t, sim, kasa.Options{Protocol: "xor"})
	outs := sim.Outlets()
	for _, tc := range []struct {
		name  string
		sel   string
		index int
	}{
		{"by alias", "Outlet 3", 2},
		{"by alias any case", "outlet 4", 3},
		{"by index", "4", 4},
		{"by id", outs[5].ID, 5},
		{"by id suffix-free index 0", "0", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Switch(ctx, tc.sel, false); err != nil {
				t.Fatal(err)
			}
			for i, o := range sim.Outlets() {
				if o.On == (i == tc.index) {
					t.Fatalf("after switching %q off, outlet %d on=%v", tc.sel, i, o.On)
				}
			}
			if err := c.Switch(ctx, tc.sel, true); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, tc := range []struct {
		name, sel, want string
	}{
		{"empty on a strip lists outlets", "", `0 "Outlet 1"`},
		{"unknown alias", "Fridge", `no such outlet "Fridge"`},
		{"index out of range", "6", `no such outlet "6"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Switch(ctx, tc.sel, false)
			if !errors.Is(err, actuator.ErrOutletNotFound) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrOutletNotFound containing %q", err, tc.want)
			}
		})
	}
}

func TestKLAPCredentialsAndSessions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		model    string
		simUser  string
		simPass  string
		creds    *kasa.Credentials
		wantAuth bool // expect ErrAuth
	}{
		{"default account, v2", "KP125M", "", "", nil, false},
		{"default account, v1", "HS100v4", "", "", nil, false},
		{"user account, v2", "KP125M", "me@example.com", "s3cret", &kasa.Credentials{Username: "me@example.com", Password: "s3cret"}, false},
		{"user account, v1", "HS100v4", "me@example.com", "s3cret", &kasa.Credentials{Username: "me@example.com", Password: "s3cret"}, false},
		{"wrong password", "KP125M", "me@example.com", "s3cret", &kasa.Credentials{Username: "me@example.com", Password: "nope"}, true},
		{"no credentials for a bound plug", "KP125M", "me@example.com", "s3cret", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			sim := startSim(t, kasasim.Options{Model: tc.model, Username: tc.simUser, Password: tc.simPass})
			c := newClient(t, sim, kasa.Options{Protocol: "klap", Credentials: tc.creds})
			_, err := c.Status(ctx)
			if tc.wantAuth {
				if !errors.Is(err, kasa.ErrAuth) || !strings.Contains(err.Error(), "--password-file") {
					t.Fatalf("err = %v, want ErrAuth with a hint", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The session is reused...
			hs := sim.Handshakes()
			for range 3 {
				if _, err := c.Status(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if sim.Handshakes() != hs {
				t.Fatalf("handshakes %d -> %d: session not reused", hs, sim.Handshakes())
			}
			// ...and renewed when the device drops it.
			sim.ExpireSessions()
			if err := c.Switch(ctx, "", false); err != nil {
				t.Fatal(err)
			}
			if sim.Handshakes() != hs+1 || sim.On(0) {
				t.Fatalf("after session loss: handshakes %d, on %v", sim.Handshakes(), sim.On(0))
			}
		})
	}
}

func TestKLAPSessionExpiresByClock(t *testing.T) {
	ctx := ctxT(t)
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sim := startSim(t, kasasim.Options{Model: "KP125M"})
	c := newClient(t, sim, kasa.Options{Protocol: "klap", Clock: fake})
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	fake.Advance(23*time.Hour + 50*time.Minute) // past 24h minus the safety margin
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if sim.Handshakes() != 2 {
		t.Fatalf("handshakes = %d, want a new one after the session's lifetime", sim.Handshakes())
	}
}

func TestXORReconnectsWhenDeviceClosesConnections(t *testing.T) {
	ctx := ctxT(t)
	sim := startSim(t, kasasim.Options{Model: "HS110", CloseAfterResponse: true})
	c := newClient(t, sim, kasa.Options{Protocol: "xor"})
	for i := range 4 {
		if err := c.Switch(ctx, "", i%2 == 1); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if !sim.On(0) {
		t.Fatal("relay off after the last switch on")
	}
}

func TestErrorsSayWhatToCheck(t *testing.T) {
	ctx := ctxT(t)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) (*kasasim.Plug, kasa.Options)
		want  []string
		is    error
	}{
		{
			name: "connection refused",
			setup: func(t *testing.T) (*kasasim.Plug, kasa.Options) {
				sim := startSim(t, kasasim.Options{Model: "HS100"})
				sim.SetFault(kasasim.Refuse)
				return sim, kasa.Options{Protocol: "xor"}
			},
			want: []string{"plug 127.0.0.1:", "connection refused — is the plug on the network"},
		},
		{
			name: "hanging plug",
			setup: func(t *testing.T) (*kasasim.Plug, kasa.Options) {
				sim := startSim(t, kasasim.Options{Model: "HS100"})
				sim.SetFault(kasasim.Hang)
				return sim, kasa.Options{Protocol: "xor", Timeout: 200 * time.Millisecond}
			},
			want: []string{"no answer within 200ms", "is the plug powered and on the network"},
		},
		{
			name: "auto finds nothing",
			setup: func(t *testing.T) (*kasasim.Plug, kasa.Options) {
				sim := startSim(t, kasasim.Options{Model: "HS100"})
				sim.SetFault(kasasim.Refuse)
				return sim, kasa.Options{Protocol: "auto", Name: "rack-strip"}
			},
			want: []string{`plug "rack-strip" (127.0.0.1:`, "no answer over XOR on port", "nor over KLAP on port", "connection refused"},
		},
		{
			name: "xor against a KLAP plug",
			setup: func(t *testing.T) (*kasasim.Plug, kasa.Options) {
				return startSim(t, kasasim.Options{Model: "KP125M"}), kasa.Options{Protocol: "xor", Timeout: 200 * time.Millisecond}
			},
			want: []string{"the plug closed the connection — is the plug on the network"},
		},
		{
			name: "klap against an XOR plug",
			setup: func(t *testing.T) (*kasasim.Plug, kasa.Options) {
				return startSim(t, kasasim.Options{Model: "HS100"}), kasa.Options{Protocol: "klap"}
			},
			// EOF or RST, depending on timing.
			want: []string{"the connection — is the plug on the network"},
		},
		{
			name: "device error code",
			setup: func(t *testing.T) (*kasasim.Plug, kasa.Options) {
				sim := startSim(t, kasasim.Options{Model: "HS100"})
				sim.RefuseMethod("system.get_sysinfo")
				return sim, kasa.Options{Protocol: "xor"}
			},
			want: []string{"device refused system.get_sysinfo: member not support (error code -2)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim, opt := tc.setup(t)
			c := newClient(t, sim, opt)
			_, err := c.Status(ctx)
			if err == nil {
				t.Fatal("no error")
			}
			var ke *actuator.PlugError
			if !errors.As(err, &ke) {
				t.Fatalf("err %T is not a *actuator.PlugError: %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestDeviceErrorIsTyped(t *testing.T) {
	ctx := ctxT(t)
	sim := startSim(t, kasasim.Options{Model: "KP125M"})
	sim.RefuseMethod("set_device_info")
	c := newClient(t, sim, kasa.Options{Protocol: "klap"})
	err := c.Switch(ctx, "", false)
	var de *kasa.DeviceError
	if !errors.As(err, &de) || de.Code != -1002 || de.Method != "set_device_info" || de.Message != "unknown method" {
		t.Fatalf("err = %v (%+v)", err, de)
	}
}

func TestFlipBack(t *testing.T) {
	for _, tc := range []struct {
		model, refuse string
	}{
		{"HS100", "count_down.add_rule"},
		{"HS300", "count_down.add_rule"},
		{"KP125M", "add_countdown_rule"},
	} {
		t.Run(tc.model, func(t *testing.T) {
			ctx := ctxT(t)
			fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			sim := startSim(t, kasasim.Options{Model: tc.model, Clock: fake})
			c := newClient(t, sim, kasa.Options{})
			sel, idx := "", 0
			if sim.Strip() {
				sel, idx = "Outlet 2", 1
			}
			// Armed, off, and the plug turns itself back on after the delay.
			if err := c.ArmFlipBack(ctx, sel, 5500*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if !sim.Outlets()[idx].Countdown {
				t.Fatal("no countdown armed on the outlet")
			}
			if err := c.Switch(ctx, sel, false); err != nil {
				t.Fatal(err)
			}
			fake.Advance(5 * time.Second)
			if sim.On(idx) {
				t.Fatal("flip-back fired early")
			}
			fake.Advance(time.Second) // 5.5s rounds up to 6s
			waitFor(t, func() bool { return sim.On(idx) })

			// Disarmed, it does not fire.
			if err := c.ArmFlipBack(ctx, sel, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := c.DisarmFlipBack(ctx, sel); err != nil {
				t.Fatal(err)
			}
			if sim.Outlets()[idx].Countdown {
				t.Fatal("countdown still armed after disarm")
			}

			// Refused, it says so with ErrFlipBackUnsupported.
			sim.RefuseMethod(tc.refuse)
			err := c.ArmFlipBack(ctx, sel, 10*time.Second)
			var de *kasa.DeviceError
			if !errors.Is(err, actuator.ErrFlipBackUnsupported) || !errors.As(err, &de) {
				t.Fatalf("err = %v, want ErrFlipBackUnsupported wrapping a DeviceError", err)
			}
		})
	}
}

// waitFor polls a condition another goroutine (a simulator timer) makes true.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestProtocolAutoRemembers(t *testing.T) {
	ctx := ctxT(t)
	sim := startSim(t, kasasim.Options{Model: "KP125M"})
	c := newClient(t, sim, kasa.Options{Protocol: "auto"})
	if c.Protocol() != "" {
		t.Fatalf("protocol before contact = %q", c.Protocol())
	}
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Protocol() != "klap" {
		t.Fatalf("protocol = %q", c.Protocol())
	}
	n := sim.Requests()
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	// The second status goes straight to KLAP: get_device_info and the two
	// energy reads, no detection.
	if got := sim.Requests() - n; got != 3 {
		t.Fatalf("second status took %d requests", got)
	}
}
