package probe

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/restartinator/restartinator/config"
)

func TestTCPSuccess(t *testing.T) {
	addr := acceptAndClose(t)
	p := NewTCP(addr, time.Second)
	wantSuccess(t, p.Probe(context.Background()))
	if p.Type() != "tcp" || p.Target() != addr {
		t.Errorf("Type, Target = %q, %q; want tcp, %q", p.Type(), p.Target(), addr)
	}
}

func TestTCPRefused(t *testing.T) {
	addr := closedPort(t)
	res := NewTCP(addr, time.Second).Probe(context.Background())
	wantFailure(t, res, "tcp connect to "+addr+": connect: connection refused — nothing listens on that port")
	if !errors.Is(res.Err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(%v, ECONNREFUSED) = false", res.Err)
	}
	if errors.Is(res.Err, ErrTimeout) {
		t.Errorf("a refused connection is reported as a timeout: %v", res.Err)
	}
}

func TestTCPTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	p := NewTCP("hung-device.test:80", timeout)
	p.dialer.Resolver = hungDNS(t)
	res := p.Probe(context.Background())
	wantFailure(t, res, "tcp connect to hung-device.test:80: no answer within 200ms — is the device hung")
	if !errors.Is(res.Err, ErrTimeout) {
		t.Errorf("errors.Is(%v, ErrTimeout) = false", res.Err)
	}
	wantDuration(t, res.Duration, timeout)
}

func TestTCPCallerDeadlineShorterThanTimeout(t *testing.T) {
	p := NewTCP("hung-device.test:80", time.Minute)
	p.dialer.Resolver = hungDNS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res := p.Probe(ctx)
	wantFailure(t, res, "no answer within")
	if !errors.Is(res.Err, ErrTimeout) {
		t.Errorf("errors.Is(%v, ErrTimeout) = false", res.Err)
	}
	if res.Duration > 5*time.Second {
		t.Errorf("the probe outlived the caller's deadline: %v", res.Duration)
	}
}

func TestTCPCancelled(t *testing.T) {
	p := NewTCP("hung-device.test:80", time.Minute)
	p.dialer.Resolver = hungDNS(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	res := p.Probe(ctx)
	wantFailure(t, res, "probe cancelled")
	if !errors.Is(res.Err, context.Canceled) || errors.Is(res.Err, ErrTimeout) {
		t.Errorf("a cancelled probe reads %v, want context.Canceled and not a timeout", res.Err)
	}
}

func TestNewTCPTargets(t *testing.T) {
	for _, tc := range []struct {
		name string
		dev  config.DeviceConfig
		want string
	}{
		{"host and port without a probe", config.DeviceConfig{Name: "d", Host: "camera1", Port: 80}, "camera1:80"},
		{"ipv6 host", config.DeviceConfig{Name: "d", Host: "fe80::1", Port: 80, Probe: &config.ProbeConfig{Type: "tcp"}}, "[fe80::1]:80"},
		{"target wins", config.DeviceConfig{Name: "d", Host: "camera1", Port: 80, Probe: &config.ProbeConfig{Type: "tcp", Target: "camera1:554"}}, "camera1:554"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(&tc.dev, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Type() != "tcp" || p.Target() != tc.want {
				t.Errorf("got %s %s, want tcp %s", p.Type(), p.Target(), tc.want)
			}
		})
	}
}

func TestNewUsesDeviceTimeout(t *testing.T) {
	d := config.DeviceConfig{Name: "d", Host: "h", Port: 1, Settings: config.DeviceSettings{Timeout: config.Duration(3 * time.Second)}}
	p, err := New(&d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.(*TCP).timeout; got != 3*time.Second {
		t.Errorf("timeout %v, want the device's 3s", got)
	}
	d.Settings.Timeout = 0
	p, _ = New(&d, Options{})
	if got := p.(*TCP).timeout; got != config.DefaultDeviceSettings.Timeout.D() {
		t.Errorf("timeout %v with none configured, want the default %v", got, config.DefaultDeviceSettings.Timeout)
	}
}

// BenchmarkTCPProbe and BenchmarkBareDial dial the same kind of listener, so
// their ratio is the prober's overhead over a plain dial.
func BenchmarkTCPProbe(b *testing.B) {
	p := NewTCP(acceptAndClose(b), 5*time.Second)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := p.Probe(ctx); !res.Success {
			b.Fatal(res.Err)
		}
	}
}

func BenchmarkBareDial(b *testing.B) {
	addr := acceptAndClose(b)
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
