package ipmi_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/ipmi"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
)

// A BMC that never answers, and a closed port: the error says so, and the
// call ends within the plug's timeout instead of hanging (go-ipmi's
// Connect was seen hanging in an earlier session).
func TestUnreachableBMCNeverHangs(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	closed, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.LocalAddr().(*net.UDPAddr).Port
	closed.Close()

	for _, tc := range []struct {
		name, want string
		port       int
	}{
		{"silent", "is IPMI over LAN enabled", silent.LocalAddr().(*net.UDPAddr).Port},
		{"closed port", "the port is closed", closedPort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const timeout = 700 * time.Millisecond
			c, err := ipmi.New(ipmi.Config{Host: "127.0.0.1", Port: tc.port, Username: "u", Password: "p", Timeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			for name, call := range map[string]func(context.Context) error{
				"status":           func(ctx context.Context) error { _, err := c.Status(ctx); return err },
				"switch on":        func(ctx context.Context) error { return c.Switch(ctx, "", true) },
				"can device cycle": func(ctx context.Context) error { return c.CanDeviceCycle(ctx, "") },
				"device cycle":     func(ctx context.Context) error { _, err := c.DeviceCycle(ctx, "", time.Second); return err },
			} {
				done := make(chan error, 1)
				go func() { done <- call(context.Background()) }()
				select {
				case err := <-done:
					if !errors.Is(err, ipmi.ErrUnreachable) || !strings.Contains(err.Error(), tc.want) {
						t.Errorf("%s: %v, want ErrUnreachable saying %q", name, err, tc.want)
					}
					if errors.Is(err, actuator.ErrDeviceCycleUnsupported) {
						t.Errorf("%s: an unreachable BMC must not read as 'cannot cycle' (SafeCycle would switch off)", name)
					}
				case <-time.After(10 * timeout):
					t.Fatalf("%s: no answer after %s: the call hangs", name, 10*timeout)
				}
			}
		})
	}
}

// The caller's own deadline ends a call too, even one waiting for the BMC.
func TestCallerDeadlineEndsCall(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	c, err := ipmi.New(ipmi.Config{Host: "127.0.0.1", Port: silent.LocalAddr().(*net.UDPAddr).Port, Username: "u", Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Status(ctx); done <- err }()
	// Wait until the request is on the wire, then cancel.
	buf := make([]byte, 512)
	if _, _, err := silent.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cancelling the caller's context did not end the call")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ipmi.Config
		want string
	}{
		{"no host", ipmi.Config{Username: "u"}, "host is empty"},
		{"no user", ipmi.Config{Host: "h"}, "username is empty"},
		{"long user", ipmi.Config{Host: "h", Username: strings.Repeat("u", 17)}, "16 bytes"},
		{"long password", ipmi.Config{Host: "h", Username: "u", Password: strings.Repeat("p", 21)}, "20 bytes"},
		{"privilege", ipmi.Config{Host: "h", Username: "u", Privilege: "root"}, `privilege "root"`},
		{"cipher suite 0", ipmi.Config{Host: "h", Username: "u", CipherSuites: []int{0}}, "cipher_suite 0"},
		{"cipher suite 1", ipmi.Config{Host: "h", Username: "u", CipherSuites: []int{1}}, "in the clear"},
		{"power_off", ipmi.Config{Host: "h", Username: "u", PowerOff: "acpi"}, `power_off "acpi"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ipmi.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestSettingsCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    ipmi.Settings
		want string // "" = valid
	}{
		{"defaults", ipmi.Settings{}, ""},
		{"soft", ipmi.Settings{PowerOff: "soft", SoftOffTimeout: config.Duration(5 * time.Minute)}, ""},
		{"upper-case privilege", ipmi.Settings{Privilege: "ADMINISTRATOR"}, "lower case"},
		{"unknown privilege", ipmi.Settings{Privilege: "callback"}, "use user, operator or administrator"},
		{"cipher suite 2", ipmi.Settings{CipherSuite: 2}, "cipher_suite 2"},
		{"power_off", ipmi.Settings{PowerOff: "graceful"}, "use hard"},
		{"timeout without soft", ipmi.Settings{SoftOffTimeout: config.Duration(time.Minute)}, "for power_off: soft"},
		{"short timeout", ipmi.Settings{PowerOff: "soft", SoftOffTimeout: config.Duration(time.Second)}, "at least 5s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Check()
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	s := ipmi.Settings{}
	if err := s.Check(); err != nil || s.Privilege != "operator" || s.PowerOff != "hard" {
		t.Errorf("defaults after Check: %+v, %v; want operator, hard", s, err)
	}
}

// An IPMI BMC has no flip-back timer: flip_back: required must refuse it,
// and the error must be the one SafeCycle treats as "plain cycle".
func TestArmFlipBackUnsupported(t *testing.T) {
	c, err := ipmi.New(ipmi.Config{Host: "127.0.0.1", Username: "u", Clock: clock.NewFake(time.Unix(0, 0))})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ArmFlipBack(context.Background(), "", time.Second); !errors.Is(err, actuator.ErrFlipBackUnsupported) {
		t.Fatalf("ArmFlipBack: %v", err)
	}
}
