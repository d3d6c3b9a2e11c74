// Package simdevice is a simulated network device for tests and the demo: a
// TCP service on loopback that answers while it is up, and refuses while it
// is hung or its power is off.
package simdevice

import (
	"fmt"
	"net"
	"sync"
)

// Device is a simulated device on a fixed loopback port.
type Device struct {
	addr string

	mu sync.Mutex
	ln net.Listener
	up bool
}

// Start starts an answering device on 127.0.0.1 at a free port.
func Start() (*Device, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &Device{addr: ln.Addr().String()}
	d.serve(ln)
	return d, nil
}

// Addr is host:port.
func (d *Device) Addr() string { return d.addr }

// Port is the TCP port.
func (d *Device) Port() int { return d.ln.Addr().(*net.TCPAddr).Port }

func (d *Device) serve(ln net.Listener) {
	d.ln, d.up = ln, true
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// Up reports whether the device answers.
func (d *Device) Up() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.up
}

// SetUp makes the device answer (true) or refuse connections (false).
func (d *Device) SetUp(up bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if up == d.up {
		return nil
	}
	if !up {
		d.up = false
		return d.ln.Close()
	}
	ln, err := net.Listen("tcp", d.addr)
	if err != nil {
		return fmt.Errorf("simulated device %s: reopening: %w", d.addr, err)
	}
	d.serve(ln)
	return nil
}

// Close stops the device.
func (d *Device) Close() error { return d.SetUp(false) }
