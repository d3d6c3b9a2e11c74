package ipmisim_test

import (
	"net"
	"testing"

	"github.com/restartinator/restartinator/actuator/ipmi/ipmisim"
)

// The simulator listens on IPv6 loopback too, and ipmitool reaches it there.
func TestIpmitoolIPv6Loopback(t *testing.T) {
	c, err := net.ListenPacket("udp", "[::1]:0")
	if err != nil {
		t.Skipf("this host has no IPv6 loopback: %v", err)
	}
	_ = c.Close()
	b, _ := start(t, ipmisim.Options{Listen: "[::1]:0", Username: "operator", Password: "s3cret"})
	if b.Host() != "::1" {
		t.Fatalf("host %q", b.Host())
	}
	mustRun(t, b, "Chassis Power is on", "-C", "17", "chassis", "power", "status")
}
