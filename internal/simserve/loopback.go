package simserve

import (
	"fmt"
	"net"
)

// Loopback refuses a listen address that is not on loopback (127.0.0.0/8,
// ::1 or localhost): simulators are for tests and demos and never answer
// on a real network.
func Loopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("listen %q: simulators listen on loopback only (127.0.0.1 or ::1)", addr)
	}
	return nil
}
