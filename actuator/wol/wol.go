// Package wol wakes PCs and NAS boxes with a Wake-on-LAN magic packet once
// their outlet has power again: many boards stay off when AC returns unless
// the BIOS says otherwise, so a power cycle alone would leave them off.
package wol

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
)

// MagicPacket is six 0xFF bytes and the MAC address sixteen times.
func MagicPacket(mac net.HardwareAddr) ([]byte, error) {
	if len(mac) != 6 {
		return nil, fmt.Errorf("wake-on-LAN needs a 48-bit MAC address, got %q", mac)
	}
	p := bytes.Repeat([]byte{0xff}, 6)
	for range 16 {
		p = append(p, mac...)
	}
	return p, nil
}

// Send sends one magic packet for mac to addr (host:port, usually a
// broadcast address and port 9), with broadcast allowed on the socket.
func Send(ctx context.Context, mac net.HardwareAddr, addr string) error {
	p, err := MagicPacket(mac)
	if err != nil {
		return err
	}
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = setBroadcast(fd) })
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return fmt.Errorf("wake-on-LAN to %s: %w", addr, err)
	}
	defer conn.Close()
	if _, err := conn.Write(p); err != nil {
		return fmt.Errorf("wake-on-LAN to %s: %w", addr, err)
	}
	return nil
}

// Waker sends each device's magic packet a while after its power returns.
type Waker struct {
	clock  clock.Clock
	logger *slog.Logger
	sent   *prometheus.CounterVec
	wg     sync.WaitGroup
}

// NewWaker returns a Waker; it is a prometheus.Collector of the packets it
// sent.
func NewWaker(clk clock.Clock, logger *slog.Logger) *Waker {
	return &Waker{clock: clk, logger: logger, sent: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "restartinator", Name: "wake_on_lan_packets_total",
		Help: "Wake-on-LAN magic packets sent after power returned, by device and result (sent, failed).",
	}, []string{"device", "result"})}
}

func (w *Waker) Describe(ch chan<- *prometheus.Desc) { w.sent.Describe(ch) }
func (w *Waker) Collect(ch chan<- prometheus.Metric) { w.sent.Collect(ch) }

// Init exports the device's counters at 0.
func (w *Waker) Init(device string) {
	w.sent.WithLabelValues(device, "sent")
	w.sent.WithLabelValues(device, "failed")
}

// Wake sends the device's magic packet after cfg.Delay, in the background.
// A failure is logged and counted: the device may still come up by itself.
func (w *Waker) Wake(ctx context.Context, device string, cfg config.WakeOnLANConfig) {
	mac, err := net.ParseMAC(cfg.MAC)
	if err != nil { // validated by config; kept for callers that build one
		w.logger.Error("wake-on-LAN: bad MAC address", "device", device, "mac", cfg.MAC, "err", err)
		return
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := w.clock.NewTimer(cfg.Delay.D())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := Send(sctx, mac, cfg.Broadcast); err != nil {
			w.sent.WithLabelValues(device, "failed").Inc()
			w.logger.Error("could not send the Wake-on-LAN packet; the device stays off unless its firmware powers on by itself", "device", device, "err", err)
			return
		}
		w.sent.WithLabelValues(device, "sent").Inc()
		w.logger.Info("sent the Wake-on-LAN magic packet", "device", device, "mac", mac.String(), "to", cfg.Broadcast)
	}()
}

// Wait waits for the packets in flight (tests, shutdown).
func (w *Waker) Wait() { w.wg.Wait() }
