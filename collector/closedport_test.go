package collector_test

import (
	"net"
	"testing"

	"github.com/restartinator/restartinator/internal/porthold"
)

// closedPort returns a loopback address nothing listens on, and a function
// that starts listening there. The port is held (bound, not listening) for
// the whole test, so no other process on a busy machine can take it in
// between (see internal/porthold).
func closedPort(t *testing.T) (string, func()) {
	t.Helper()
	p, err := porthold.Closed()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p.Addr, func() {
		t.Helper()
		ln, err := net.Listen("tcp", p.Addr)
		if err != nil {
			t.Fatalf("listening on %s: %v", p.Addr, err)
		}
		t.Cleanup(func() { ln.Close() })
	}
}
