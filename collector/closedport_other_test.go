//go:build !linux

package collector_test

import (
	"net"
	"testing"
)

// closedPort returns a loopback address nothing listens on, and a function
// that starts listening there. Elsewhere than Linux the port is only closed
// and handed back, so another process may take it in between.
func closedPort(t *testing.T) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, func() {
		t.Helper()
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listening again on %s: %v", addr, err)
		}
		t.Cleanup(func() { ln.Close() })
	}
}
