package smtptest_test

import (
	"errors"
	"net"
	"net/smtp"
	"syscall"
	"testing"
	"time"

	"github.com/restartinator/restartinator/notify/smtptest"
)

// A stopped server's port stays its own until the test ends: dialling it is
// refused, no other program can bind it (before, one could, and answered
// in its place), and Start listens there again.
func TestStoppedServerKeepsItsPort(t *testing.T) {
	s := smtptest.NewServer(t, smtptest.Options{Mode: smtptest.Plain})
	for range 2 {
		s.Stop()
		if c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second); err == nil {
			c.Close()
			t.Fatalf("dialling the stopped server at %s connected", s.Addr)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dialling the stopped server: %v, want connection refused", err)
		}
		a, err := net.ResolveTCPAddr("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = syscall.Bind(fd, &syscall.SockaddrInet4{Port: a.Port, Addr: [4]byte{127, 0, 0, 1}})
		syscall.Close(fd)
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("another program binding the stopped server's %s: %v, want address in use", s.Addr, err)
		}
		s.Start()
		c, err := smtp.Dial(s.Addr)
		if err != nil {
			t.Fatalf("after Start: %v", err)
		}
		if err := c.Hello("localhost"); err != nil {
			t.Fatalf("after Start: %v", err)
		}
		c.Close()
	}
}
