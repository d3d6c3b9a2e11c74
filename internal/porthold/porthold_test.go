//go:build linux

package porthold_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/restartinator/restartinator/internal/porthold"
)

func dialRefused(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("dialling %s connected, want refused", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dialling %s: %v, want connection refused", addr, err)
	}
}

func dialOK(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dialling %s: %v", addr, err)
	}
	c.Close()
}

// A held port refuses connections, its owner can listen there and stop
// again as often as it likes, and it stays out of the kernel's hands in
// between: a listener asking for any free port never gets it.
func TestClosedRefusesAndLetsItsOwnerListen(t *testing.T) {
	p, err := porthold.Closed()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !p.Held {
		t.Skip("ports are not held on this system")
	}
	dialRefused(t, p.Addr)
	for range 2 {
		ln, err := net.Listen("tcp", p.Addr)
		if err != nil {
			t.Fatalf("listening on the held %s: %v", p.Addr, err)
		}
		dialOK(t, p.Addr)
		ln.Close()
		dialRefused(t, p.Addr)
	}
	// Another process asking for a free port: without SO_REUSEADDR (as a
	// plain bind) the held port is in use; with it (a Go listener) the
	// kernel skips it. A sample of ephemeral ports, none of them ours.
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range 200 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		if ln.Addr().String() == p.Addr {
			t.Fatalf("the kernel handed out the held port %s", p.Addr)
		}
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	ap := netipAddr(t, p.Addr)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: ap.Port, Addr: [4]byte{127, 0, 0, 1}}); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("binding the held %s without SO_REUSEADDR: %v, want address in use", p.Addr, err)
	}
	p.Close()
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: ap.Port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("binding %s after Close: %v", p.Addr, err)
	}
}

// Hold takes over the port of a listener that just closed, and cannot while
// one listens.
func TestHoldAfterTheListenerCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if p, err := porthold.Hold(addr); err == nil {
		p.Close()
		t.Fatalf("held %s while a listener was on it", addr)
	}
	ln.Close()
	p, err := porthold.Hold(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Addr != addr {
		t.Fatalf("held %s, want %s", p.Addr, addr)
	}
	dialRefused(t, addr)
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on the held %s: %v", addr, err)
	}
	defer ln.Close()
	dialOK(t, addr)
	if _, err := porthold.Hold("localhost:80"); err == nil {
		t.Fatal("held a host name; want an error asking for an IP and port")
	}
}

func netipAddr(t *testing.T, addr string) *net.TCPAddr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
