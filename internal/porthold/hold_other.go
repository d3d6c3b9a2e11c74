//go:build !linux

package porthold

import (
	"net"
	"net/netip"
)

func hold(ap netip.AddrPort) (*Port, error) { return fallback(ap) }

// fallback closes a listener on ap: the port is only handed back.
func fallback(ap netip.AddrPort) (*Port, error) {
	if ap.Port() != 0 {
		return &Port{Addr: ap.String()}, nil
	}
	ln, err := net.Listen("tcp", ap.String())
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	return &Port{Addr: addr}, nil
}
