package simdevice

import (
	"net"
	"testing"
	"time"
)

func TestDownRefusesAndComesBackOnItsPort(t *testing.T) {
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
	if err := d.SetUp(true); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err != nil {
		t.Fatalf("device back up refused: %v", err)
	}
}
