package probe

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/config"
)

func icmpDevice(target string, privileged bool) *config.DeviceConfig {
	return &config.DeviceConfig{
		Name:     "pinged",
		Host:     target,
		Probe:    &config.ProbeConfig{Type: config.ProbeICMP, Privileged: privileged},
		Settings: config.DeviceSettings{Timeout: config.Duration(2 * time.Second)},
	}
}

const pingGroupFix = `sysctl -w net.ipv4.ping_group_range="0 2147483647"`

func TestICMPPrivileged(t *testing.T) {
	for _, target := range []string{"127.0.0.1", "localhost"} {
		t.Run(target, func(t *testing.T) {
			p, err := New(icmpDevice(target, true), Options{})
			if errors.Is(err, os.ErrPermission) {
				if !strings.Contains(err.Error(), "CAP_NET_RAW") {
					t.Errorf("the error does not say how to fix it: %v", err)
				}
				t.Skipf("raw ICMP sockets are not permitted here: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Type() != "icmp" || p.Target() != target {
				t.Errorf("got %s %s, want icmp %s", p.Type(), p.Target(), target)
			}
			wantSuccess(t, p.Probe(context.Background()))
		})
	}
}

// TestICMPUnprivileged pings over an ICMP datagram socket where the host
// allows it, and otherwise checks that New and Probe both say how to allow it.
func TestICMPUnprivileged(t *testing.T) {
	p, err := New(icmpDevice("127.0.0.1", false), Options{})
	if err == nil {
		wantSuccess(t, p.Probe(context.Background()))
		return
	}
	t.Logf("unprivileged ping is not permitted here (%s); checking the fix-it messages", readFile(t, "/proc/sys/net/ipv4/ping_group_range"))
	for _, s := range []string{`device "pinged": icmp echo to 127.0.0.1: cannot open an unprivileged ICMP socket`, pingGroupFix, "CAP_NET_RAW", "privileged: true"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("New: error %q does not contain %q", err, s)
		}
	}
	if !errors.Is(err, os.ErrPermission) {
		t.Errorf("errors.Is(%v, os.ErrPermission) = false", err)
	}
	// The host may change under a running process: Probe says the same.
	res := NewICMP("127.0.0.1", false, time.Second, nil).Probe(context.Background())
	wantFailure(t, res, "icmp echo to 127.0.0.1: cannot open an unprivileged ICMP socket", pingGroupFix)
	if !errors.Is(res.Err, os.ErrPermission) {
		t.Errorf("errors.Is(%v, os.ErrPermission) = false", res.Err)
	}
}

func TestICMPResolveTimeout(t *testing.T) {
	// A name looked up through a DNS server that never answers: the probe
	// ends at its timeout, with the timeout's message.
	p := NewICMP("hung-device.test", true, 200*time.Millisecond, nil)
	p.resolver = hungDNS(t)
	res := p.Probe(context.Background())
	wantFailure(t, res, "icmp echo to hung-device.test: no answer within 200ms")
	if !errors.Is(res.Err, ErrTimeout) {
		t.Errorf("errors.Is(%v, ErrTimeout) = false", res.Err)
	}
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(b))
}
