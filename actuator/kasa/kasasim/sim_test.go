package kasasim_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/internal/clock"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func start(t *testing.T, opt kasasim.Options) *kasasim.Plug {
	t.Helper()
	p, err := kasasim.Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func client(t *testing.T, p *kasasim.Plug) *kasa.Client {
	t.Helper()
	c, err := kasa.New(kasa.Options{Host: p.Host(), Port: p.Port(), Protocol: p.Protocol(), Timeout: 200 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestStartRejects(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"cnCloud":{}}`), 0o600)
	bulb := filepath.Join(dir, "bulb.json")
	os.WriteFile(bulb, []byte(`{"system":{"get_sysinfo":{"model":"LB100(US)","mic_type":"IOT.SMARTBULB"}}}`), 0o600)
	for _, tc := range []struct {
		name string
		opt  kasasim.Options
		want string
	}{
		{"unknown model", kasasim.Options{Model: "XYZ1"}, "unknown simulated model"},
		{"not loopback", kasasim.Options{Model: "HS100", Listen: "0.0.0.0:0"}, "only loopback"},
		{"SMART over XOR", kasasim.Options{Model: "KP125M", Protocol: "xor"}, "only runs over KLAP"},
		{"not a recording", kasasim.Options{From: bad}, "neither system.get_sysinfo"},
		{"not a plug", kasasim.Options{From: bulb}, "not a plug"},
		{"missing file", kasasim.Options{From: filepath.Join(dir, "none.json")}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := kasasim.Start(tc.opt)
			if err == nil {
				p.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	for _, proto := range []string{"xor", "klap"} {
		model := map[string]string{"xor": "HS100", "klap": "HS100v4"}[proto]
		t.Run(proto, func(t *testing.T) {
			ctx := context.Background()
			p := start(t, kasasim.Options{Model: model})
			c := client(t, p)
			if _, err := c.Status(ctx); err != nil {
				t.Fatal(err)
			}

			p.SetFault(kasasim.Refuse)
			if _, err := net.Dial("tcp", p.Addr()); err == nil {
				t.Fatal("connection accepted while refusing")
			}
			if _, err := c.Status(ctx); err == nil || !strings.Contains(err.Error(), "refused") && !strings.Contains(err.Error(), "closed") {
				t.Fatalf("refuse: %v", err)
			}
			p.SetFault(kasasim.NoFault)
			if _, err := c.Status(ctx); err != nil {
				t.Fatalf("after clearing refuse: %v", err)
			}

			p.SetFault(kasasim.Hang)
			_, err := c.Status(ctx)
			if !strings.Contains(err.Error(), "no answer within") {
				t.Fatalf("hang: %v", err)
			}
			p.SetFault(kasasim.NoFault)

			// Two more answers, then gone; the relay state stays as left.
			p.DropAfter(2)
			n := p.Requests()
			if err := c.Switch(ctx, "", false); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Status(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Status(ctx); err == nil {
				t.Fatal("answered past DropAfter")
			}
			if p.Requests()-n < 3 || p.On(0) {
				t.Fatalf("requests %d, on %v", p.Requests()-n, p.On(0))
			}
			p.SetFault(kasasim.NoFault)
			if _, err := c.Status(ctx); err != nil {
				t.Fatalf("after reconnecting: %v", err)
			}
		})
	}
}

func TestCountdownFiresOnTheFakeClock(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := start(t, kasasim.Options{Model: "HS110", Clock: fake})
	c := client(t, p)
	ctx := context.Background()
	if err := c.ArmFlipBack(ctx, "", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Switch(ctx, "", false); err != nil {
		t.Fatal(err)
	}
	p.SetFault(kasasim.Unreachable) // timers run even when cut off
	fake.Advance(29 * time.Second)
	if p.On(0) {
		t.Fatal("fired early")
	}
	fake.Advance(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for !p.On(0) {
		if time.Now().After(deadline) {
			t.Fatal("countdown did not fire")
		}
		time.Sleep(time.Millisecond)
	}
	if p.Outlets()[0].Countdown {
		t.Fatal("fired rule still armed")
	}
}

func TestEnergyFollowsRelay(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := start(t, kasasim.Options{Model: "HS110v4", Clock: fake})
	c := client(t, p)
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e0 := *st.Outlets[0].Energy
	fake.Advance(time.Hour)
	st, _ = c.Status(ctx)
	if got := st.Outlets[0].Energy.WattHours - e0.WattHours; got < e0.Watts-1 || got > e0.Watts+1 {
		t.Fatalf("an hour at %.1f W added %.1f Wh", e0.Watts, got)
	}
	p.SetOn(0, false)
	st, _ = c.Status(ctx)
	if e := st.Outlets[0].Energy; e.Watts != 0 || e.Amperes != 0 || e.Volts == 0 {
		t.Fatalf("off: %+v", e)
	}
}

func TestModelsListed(t *testing.T) {
	got := strings.Join(kasasim.Models(), ",")
	for _, m := range []string{"HS100", "HS110", "HS110v4", "HS300", "KP125M"} {
		if !strings.Contains(got, m) {
			t.Errorf("Models() = %s lacks %s", got, m)
		}
	}
	_, err := kasasim.Start(kasasim.Options{Model: "nope"})
	if err == nil || errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}
