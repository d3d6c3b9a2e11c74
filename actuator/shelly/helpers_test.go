package shelly_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/shelly"
	"github.com/restartinator/restartinator/actuator/shelly/shellysim"
	"github.com/restartinator/restartinator/internal/clock"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// startSim serves a simulated device on a loopback port until the test ends.
type simDev struct {
	*shellysim.Device
	addr string
}

func (s simDev) Addr() string { return s.addr }

func startSim(t testing.TB, opt shellysim.Options) simDev {
	t.Helper()
	d, err := shellysim.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Serve(ln) }()
	t.Cleanup(func() {
		d.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return simDev{d, ln.Addr().String()}
}

func newClient(t testing.TB, addr string, cfg shelly.Config) *shelly.Client {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	cfg.Host = host
	cfg.Port = atoi(port)
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	c, err := shelly.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func fakeClock() *clock.Fake { return clock.NewFake(epoch) }

// waitFor polls a condition a simulator goroutine (a fired timer) makes true.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var quiet = slog.New(slog.DiscardHandler)
