package porthold

import (
	"fmt"
	"net/netip"
	"os"
	"syscall"
)

func hold(ap netip.AddrPort) (*Port, error) {
	family := syscall.AF_INET
	var sa syscall.Sockaddr
	if a := ap.Addr().Unmap(); a.Is4() {
		sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	} else {
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("holding %s: %w", ap, err)
	}
	f := os.NewFile(uintptr(fd), "held-port")
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		f.Close()
		return nil, fmt.Errorf("holding %s: %w", ap, err)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		f.Close()
		return nil, fmt.Errorf("holding %s: %w", ap, err)
	}
	got, err := syscall.Getsockname(fd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("holding %s: %w", ap, err)
	}
	port := 0
	switch s := got.(type) {
	case *syscall.SockaddrInet4:
		port = s.Port
	case *syscall.SockaddrInet6:
		port = s.Port
	}
	addr := netip.AddrPortFrom(ap.Addr(), uint16(port)).String()
	return &Port{Addr: addr, Held: true, closer: f}, nil
}
