package actuator_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/internal/porthold"
)

var errDevice = errors.New("device refused set_relay_state with error code -1")

func TestPlugErrorText(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *actuator.PlugError
		want string
	}{
		{"all parts", &actuator.PlugError{Kind: "plug", Plug: "192.0.2.50:9999", Op: "switch outlet 2 on", Err: errDevice, Hint: "check the outlet"},
			"plug 192.0.2.50:9999: switch outlet 2 on: device refused set_relay_state with error code -1 — check the outlet"},
		{"no op", &actuator.PlugError{Kind: "shelly", Plug: "192.0.2.7:80", Err: errDevice, Hint: "check the outlet"},
			"shelly 192.0.2.7:80: device refused set_relay_state with error code -1 — check the outlet"},
		{"no hint", &actuator.PlugError{Kind: "tasmota", Plug: "192.0.2.8:80", Op: "status", Err: context.Canceled},
			"tasmota 192.0.2.8:80: status: context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestWrapPlugError(t *testing.T) {
	hint := func(err error) string { return "hint for " + err.Error() }
	if err := actuator.WrapPlugError("plug", "p", "op", nil, hint); err != nil {
		t.Errorf("nil wrapped to %v", err)
	}
	// A caller wrapping a driver's error further still finds the plug, the
	// hint and the cause.
	err := fmt.Errorf("cycle: %w", actuator.WrapPlugError("shelly", "192.0.2.7:80", "switch off", errDevice, hint))
	var pe *actuator.PlugError
	if !errors.As(err, &pe) || pe.Plug != "192.0.2.7:80" || pe.Hint != "hint for "+errDevice.Error() {
		t.Fatalf("errors.As found %+v in %v", pe, err)
	}
	if !errors.Is(err, errDevice) {
		t.Errorf("%v does not wrap the cause", err)
	}
	// The innermost operation names the step; wrapping again adds nothing.
	again := actuator.WrapPlugError("shelly", "192.0.2.7:80", "cycle outlet 1", err, hint)
	if again != err {
		t.Errorf("wrapped twice: %v", again)
	}
}

func TestNetworkHint(t *testing.T) {
	// A port nothing listens on, kept from other processes while the test
	// runs: a real refused connection.
	p, err := porthold.Closed()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, refused := net.DialTimeout("tcp", p.Addr, 5*time.Second)
	if refused == nil {
		if !p.Held { // elsewhere than Linux the port is only closed
			t.Skip("something else took the port just closed")
		}
		t.Fatalf("dialling the closed %s connected", p.Addr)
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"name does not resolve", &net.DNSError{Err: "no such host", Name: "plug.invalid", IsNotFound: true}, "check the host name"},
		{"refused", refused, "is the device on the network, and is the port right?"},
		{"context deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), "is the device powered and on the network?"},
		{"read deadline", os.ErrDeadlineExceeded, "is the device powered and on the network?"},
		{"anything else", errors.New("EOF"), "is the device on the network?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := actuator.NetworkHint(tc.err); got != tc.want {
				t.Errorf("NetworkHint(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}
