package mqtttest

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A port another program took between freePort and mosquitto's bind is
// noticed: the helper must not take that program for the broker.
func TestStartNoticesAPortTakenByAnotherProgram(t *testing.T) {
	b := &Broker{t: t, bin: Need(t), dir: t.TempDir(), reserved: -1}
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	b.port = other.Addr().(*net.TCPAddr).Port
	if err := b.writeConfig(Options{}); err != nil {
		t.Fatal(err)
	}
	err = b.start()
	if err == nil {
		b.cleanup()
		t.Fatal("start succeeded on a port another program listens on")
	}
	if !strings.Contains(err.Error(), "Address already in use") {
		t.Errorf("error does not say why: %v", err)
	}
}

// While stopped, the broker refuses connections as a stopped broker does,
// and keeps its port from other programs; Restart serves on it again.
func TestStopHoldsThePortUntilRestart(t *testing.T) {
	b := Start(t, Options{})
	addr := "127.0.0.1:" + strconv.Itoa(b.Port())
	b.Stop()
	// Only our own probe connected, and it closed first: no connection of
	// the broker's lingers in TIME_WAIT to keep the port from being held.
	if b.reserved < 0 {
		t.Fatal("the stopped broker's port was not reserved")
	}
	if _, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dialling a stopped broker: %v, want connection refused", err)
	}
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		t.Error("another program could listen on the stopped broker's port")
	}
	b.Restart()
	sub := Subscribe(t, b.URL(), "t/#")
	sub.Publish("t/x", "1", false)
	sub.Wait("own message after restart", connectWait, func(ms []Message) bool { p, ok := Last(ms, "t/x"); return ok && p == "1" })
}
