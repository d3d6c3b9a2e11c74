// Package porthold keeps a loopback TCP port that nothing listens on from
// being taken by another program. A port merely closed goes back to the
// kernel: on a busy machine another process can bind it, or use it as the
// local port of an outgoing connection, and a client meant to find it
// refused meets a stranger instead (an EOF, a wrong answer, a test that
// passes for the wrong reason), while a server meant to listen there again
// finds the address in use.
//
// On Linux a held port is a socket bound to it with SO_REUSEADDR and not
// listening: connections to it are refused, the kernel hands it to no one
// who asks for any free port, and a listener with SO_REUSEADDR (every Go
// listener has it) may still listen on that very address, so the owner can
// stop and start listening there as often as it likes while holding it.
// Elsewhere Hold holds nothing and says so in Held.
package porthold

import (
	"fmt"
	"io"
	"net/netip"
)

// Port is a held port; Close releases it.
type Port struct {
	// Addr is host:port, e.g. 127.0.0.1:40123.
	Addr string
	// Held says whether the port is really held (Linux), rather than only
	// closed and handed back.
	Held   bool
	closer io.Closer
}

// Close releases the port.
func (p *Port) Close() error {
	if p == nil || p.closer == nil {
		return nil
	}
	return p.closer.Close()
}

// Hold holds addr's port (an IP literal and a port, as a listener's Addr
// gives it) while nothing listens there. Bind it once the listener on addr
// is closed: while one listens, the bind fails with "address already in
// use".
func Hold(addr string) (*Port, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("holding port of %q: %w", addr, err)
	}
	return hold(ap)
}

// Closed is a loopback port (127.0.0.1) on which connections are refused,
// held until Close.
func Closed() (*Port, error) {
	return hold(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0))
}
