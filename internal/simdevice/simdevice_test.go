package simdevice

import (
	"net"
	"testing"
	"time"
)

func TestDownRefusesAndHoldsThePort(t *testing.T) {
	d, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dial := func() error {
		c, err := net.DialTimeout("tcp", d.Addr(), 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(); err != nil {
		t.Fatalf("up device refused: %v", err)
	}
	d.SetUp(false)
	if err := dial(); err == nil {
		t.Fatal("down device answered")
	}
	if l, err := net.Listen("tcp", d.Addr()); err == nil {
		l.Close()
		t.Fatal("another listener could take the port of a down device")
	}
	if err := d.SetUp(true); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err != nil {
		t.Fatalf("device back up refused: %v", err)
	}
}
