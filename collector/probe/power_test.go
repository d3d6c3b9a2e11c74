package probe

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/config"
)

func watt(w float64) *float64 { return &w }

func powerDevice(min, max *float64) *config.DeviceConfig {
	return &config.DeviceConfig{
		Name:     "pc",
		Plug:     "rack-strip",
		Outlet:   "PC",
		Probe:    &config.ProbeConfig{Type: config.ProbePower, MinWatts: min, MaxWatts: max},
		Settings: config.DeviceSettings{Timeout: config.Duration(time.Second)},
	}
}

func reads(w float64) PowerReader {
	return func(context.Context) (actuator.Energy, error) {
		return actuator.Energy{Watts: w, Volts: 230, Amperes: w / 230}, nil
	}
}

func TestPowerBounds(t *testing.T) {
	errRefused := errors.New(`plug "rack-strip" (192.168.1.50:9999): connection refused`)
	for _, tc := range []struct {
		name     string
		min, max *float64
		read     PowerReader
		wantErr  string // empty: success
	}{
		{name: "inside", min: watt(10), max: watt(200), read: reads(55.2)},
		{name: "at min", min: watt(10), max: watt(200), read: reads(10)},
		{name: "at max", min: watt(10), max: watt(200), read: reads(200)},
		{name: "only min", min: watt(10), read: reads(1000)},
		{name: "only max", max: watt(200), read: reads(0)},
		{name: "below min", min: watt(10), max: watt(200), read: reads(3.14),
			wantErr: "drawing 3.1 W, below min_watts 10 W — a hung device often draws only idle power"},
		{name: "above max", min: watt(10), max: watt(200), read: reads(250.04),
			wantErr: "drawing 250 W, above max_watts 200 W — a device stuck in a loop often draws full power"},
		{name: "no valid reading", min: watt(10), read: reads(math.NaN()),
			wantErr: `plug "rack-strip" outlet "PC" reports no valid power reading — does the outlet have a meter?`},
		{name: "plug does not answer", min: watt(10), read: func(context.Context) (actuator.Energy, error) { return actuator.Energy{}, errRefused },
			wantErr: `reading plug "rack-strip" outlet "PC": the plug's power meter could not be read: plug "rack-strip" (192.168.1.50:9999): connection refused — is the plug powered and on the network?`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(powerDevice(tc.min, tc.max), Options{PowerReader: tc.read})
			if err != nil {
				t.Fatal(err)
			}
			res := p.Probe(context.Background())
			if tc.wantErr == "" {
				wantSuccess(t, res)
				return
			}
			if res.Success || res.Err == nil || res.Err.Error() != tc.wantErr {
				t.Fatalf("got success=%v err=%v\nwant err=%s", res.Success, res.Err, tc.wantErr)
			}
		})
	}
}

func TestPowerPlugErrorIsDistinguishable(t *testing.T) {
	errRefused := errors.New("connection refused")
	p := NewPower(func(context.Context) (actuator.Energy, error) { return actuator.Energy{}, errRefused }, watt(1), nil, time.Second, "plug")
	res := p.Probe(context.Background())
	if !errors.Is(res.Err, ErrPlugUnreadable) || !errors.Is(res.Err, errRefused) {
		t.Errorf("errors.Is(%v, ErrPlugUnreadable / the plug's error) = false", res.Err)
	}
	out := NewPower(reads(0), watt(1), nil, time.Second, "plug").Probe(context.Background())
	if errors.Is(out.Err, ErrPlugUnreadable) {
		t.Errorf("a reading out of bounds wraps ErrPlugUnreadable: %v", out.Err)
	}
}

func TestPowerTimeout(t *testing.T) {
	// A plug that never answers: the reader is held to the device's timeout.
	hang := func(ctx context.Context) (actuator.Energy, error) {
		if _, ok := ctx.Deadline(); !ok {
			return actuator.Energy{}, errors.New("no deadline given to the reader")
		}
		<-ctx.Done()
		return actuator.Energy{}, ctx.Err()
	}
	const timeout = 100 * time.Millisecond
	res := NewPower(hang, watt(1), nil, timeout, `plug "p"`).Probe(context.Background())
	wantFailure(t, res, `reading plug "p": the plug's power meter could not be read: context deadline exceeded`)
	wantDuration(t, res.Duration, timeout)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = NewPower(hang, watt(1), nil, timeout, `plug "p"`).Probe(ctx)
	wantFailure(t, res, "probe cancelled")
	if errors.Is(res.Err, ErrPlugUnreadable) {
		t.Errorf("a cancelled probe blames the plug: %v", res.Err)
	}
}

func TestPowerTarget(t *testing.T) {
	p, err := New(powerDevice(watt(1), nil), Options{PowerReader: reads(5)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Type() != "power" || p.Target() != `plug "rack-strip" outlet "PC"` {
		t.Errorf("got %s %s", p.Type(), p.Target())
	}
	d := powerDevice(watt(1), nil)
	d.Outlet = ""
	p, _ = New(d, Options{PowerReader: reads(5)})
	if !strings.HasSuffix(p.Target(), `"rack-strip"`) {
		t.Errorf("target %q for a single plug", p.Target())
	}
}
