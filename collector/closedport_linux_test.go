package collector_test

import (
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
)

// closedPort returns a loopback address nothing listens on, and a function
// that starts listening there. The port stays bound (without SO_REUSEADDR,
// not listening) until the test ends: connections to it are refused, and no
// other process on a busy machine can take it in between, as it could when
// an ephemeral port was merely closed and handed back.
func closedPort(t *testing.T) (string, func()) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "closed-port")
	t.Cleanup(func() { f.Close() })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	return addr, func() {
		t.Helper()
		if err := syscall.Listen(fd, syscall.SOMAXCONN); err != nil {
			t.Fatalf("listening on %s: %v", addr, err)
		}
		ln, err := net.FileListener(f) // dups the socket
		if err != nil {
			t.Fatalf("listening on %s: %v", addr, err)
		}
		t.Cleanup(func() { ln.Close() })
	}
}
