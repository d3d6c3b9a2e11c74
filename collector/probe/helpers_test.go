package probe

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/internal/porthold"
)

// acceptAndClose listens on loopback and closes every connection it accepts.
func acceptAndClose(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// closedPort returns a loopback address nothing listens on for the whole
// test: the port stays bound, not listening (internal/porthold), so no other
// process on a busy machine can take it and answer the probe.
func closedPort(t *testing.T) string {
	t.Helper()
	p, err := porthold.Closed()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p.Addr
}

// hungDNS is a resolver whose only server, on loopback, reads queries and
// never answers: a name lookup through it lasts until the context ends, which
// is how a dial that does not complete looks from the prober.
func hungDNS(t *testing.T) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	server := pc.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", server)
		},
	}
}

func wantFailure(t *testing.T, res Result, contains ...string) {
	t.Helper()
	if res.Success || res.Err == nil {
		t.Fatalf("probe succeeded (err %v), want a failure", res.Err)
	}
	for _, s := range contains {
		if !strings.Contains(res.Err.Error(), s) {
			t.Errorf("error %q does not contain %q", res.Err, s)
		}
	}
}

func wantSuccess(t *testing.T, res Result) {
	t.Helper()
	if !res.Success || res.Err != nil {
		t.Fatalf("probe failed: %v", res.Err)
	}
	if res.Duration <= 0 {
		t.Errorf("duration %v, want > 0", res.Duration)
	}
}

// wantDuration checks a timed-out probe gave up at its timeout, not before
// and not long after.
func wantDuration(t *testing.T, got, timeout time.Duration) {
	t.Helper()
	if got < timeout || got > timeout+2*time.Second {
		t.Errorf("duration %v, want about %v", got, timeout)
	}
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return host, n
}
