package simserve

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// bindPlain binds a socket without SO_REUSEADDR to addr's port, as a
// program asking for that port would, and releases it.
func bindPlain(t *testing.T, addr string) error {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	return syscall.Bind(fd, &syscall.SockaddrInet4{Port: a.Port, Addr: [4]byte{127, 0, 0, 1}})
}

// While refusing, the device's port stays its own: connections are
// refused, no other program can bind it, and listening again works.
func TestRefuseHoldsThePort(t *testing.T) {
	s := New(Options{Name: "test simulator", HTTP: hello})
	ln := listen(t)
	addr := ln.Addr().String()
	s.Start(ln)
	for range 2 {
		if err := s.SetFault(Refuse); err != nil {
			t.Fatal(err)
		}
		refused(t, addr)
		if err := bindPlain(t, addr); !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("binding the refusing device's %s: %v, want address in use", addr, err)
		}
		if err := s.SetFault(NoFault); err != nil {
			t.Fatal(err)
		}
		if got, err := get(addr); err != nil || got != "hello" {
			t.Fatalf("after the refusal: %q %v", got, err)
		}
	}
	s.Close()
	refused(t, addr)
}
