package wol_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/restartinator/restartinator/actuator/wol"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
)

// listenUDP is a stand-in for the sleeping PC's network card: a UDP socket
// on loopback that hands over each datagram.
func listenUDP(t *testing.T) (string, <-chan []byte) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	got := make(chan []byte, 4)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			got <- bytes.Clone(buf[:n])
		}
	}()
	return pc.LocalAddr().String(), got
}

func receive(t *testing.T, got <-chan []byte) []byte {
	t.Helper()
	select {
	case p := <-got:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no packet within 10s")
		return nil
	}
}

func TestSendMagicPacket(t *testing.T) {
	addr, got := listenUDP(t)
	mac, _ := net.ParseMAC("00:11:22:aa:bb:cc")
	if err := wol.Send(context.Background(), mac, addr); err != nil {
		t.Fatal(err)
	}
	p := receive(t, got)
	want := append(bytes.Repeat([]byte{0xff}, 6), bytes.Repeat([]byte{0x00, 0x11, 0x22, 0xaa, 0xbb, 0xcc}, 16)...)
	if !bytes.Equal(p, want) || len(p) != 102 {
		t.Fatalf("packet % x\nwant   % x", p, want)
	}
	if _, err := wol.MagicPacket(net.HardwareAddr{1, 2, 3, 4, 5, 6, 7, 8}); err == nil {
		t.Error("a 64-bit address made a packet")
	}
}

// The packet goes out only after the delay, on the clock; a failure to send
// is counted and logged, not fatal.
func TestWakerWaitsThenSends(t *testing.T) {
	addr, got := listenUDP(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var log strings.Builder
	w := wol.NewWaker(clk, slog.New(slog.NewTextHandler(&log, nil)))
	w.Init("nas")
	w.Wake(context.Background(), "nas", config.WakeOnLANConfig{MAC: "00:11:22:aa:bb:cc", Broadcast: addr, Delay: config.Duration(5 * time.Second)})
	clk.WaitForTimers(1)
	select {
	case <-got:
		t.Fatal("sent before the delay")
	default:
	}
	clk.Advance(5 * time.Second)
	if p := receive(t, got); len(p) != 102 {
		t.Fatalf("packet of %d bytes", len(p))
	}
	// No delay: a zero timer fires at once.
	w.Wake(context.Background(), "nas", config.WakeOnLANConfig{MAC: "00:11:22:aa:bb:cc", Broadcast: "127.0.0.1:99999"})
	w.Wait()
	want := `
# HELP restartinator_wake_on_lan_packets_total Wake-on-LAN magic packets sent after power returned, by device and result (sent, failed).
# TYPE restartinator_wake_on_lan_packets_total counter
restartinator_wake_on_lan_packets_total{device="nas",result="failed"} 1
restartinator_wake_on_lan_packets_total{device="nas",result="sent"} 1
`
	if err := testutil.CollectAndCompare(w, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "could not send the Wake-on-LAN packet") {
		t.Errorf("failure not logged:\n%s", log.String())
	}
}
