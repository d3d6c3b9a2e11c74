// Package simdevice is a simulated network device for tests and the demo: a
// TCP service on loopback that answers while it is up, and refuses while it
// is hung or its power is off.
package simdevice

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Device is a simulated device on a fixed loopback port.
type Device struct {
	addr string

	mu       sync.Mutex
	ln       net.Listener
	up       bool
	reserved int // while down: a bound, non-listening socket holding the port
	conns    map[net.Conn]bool
}

// Start starts an answering device on 127.0.0.1 at a free port.
func Start() (*Device, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &Device{addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
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
			// Let the client close first, so no TIME_WAIT stays on the
			// device's port and the port can be held while it is down.
			d.mu.Lock()
			d.conns[c] = true
			d.mu.Unlock()
			go func() {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.Copy(io.Discard, c)
				d.mu.Lock()
				delete(d.conns, c)
				d.mu.Unlock()
				c.Close()
			}()
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
		err := d.ln.Close()
		for c := range d.conns { // a powered-off device drops its connections
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			c.Close()
			delete(d.conns, c)
		}
		// Hold the port (best effort) so no other process takes it while the
		// device is down: connections to a bound socket that does not listen
		// are refused. If a closing connection still names the port, the
		// hold has to share it, and another listener could then take it.
		if fd, rerr := reservePort(d.ln.Addr().(*net.TCPAddr).Port); rerr == nil {
			d.reserved = fd
		}
		return err
	}
	if d.reserved != 0 {
		closeReserved(d.reserved)
		d.reserved = 0
	}
	ln, err := net.Listen("tcp", d.addr)
	if err != nil {
		return fmt.Errorf("simulated device %s: reopening: %w", d.addr, err)
	}
	d.serve(ln)
	return nil
}

// Close stops the device and frees its port.
func (d *Device) Close() error {
	err := d.SetUp(false)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.reserved != 0 {
		closeReserved(d.reserved)
		d.reserved = 0
	}
	return err
}
