package email

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/notify"
	"github.com/restartinator/restartinator/notify/smtptest"
)

// testPassword must never show up in a log line or an error.
const testPassword = "hunter2-s3cret-XYZ"

func emailConfig(addr string) *config.EmailConfig {
	c := config.DefaultEmail
	c.SMTPHost = addr
	c.EmailFrom = "Restartinator <no-reply@example.com>"
	c.EmailTo = config.StringList{"ops@example.com", "oncall@example.com"}
	c.Timeout = config.Duration(10 * time.Second)
	c.CoalesceWindow = 0
	return &c
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func captureLogs() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// memStore is a Store in memory.
type memStore struct {
	mu    sync.Mutex
	data  []byte
	saves int
}

func (s *memStore) LoadQueue(string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.data), nil
}

func (s *memStore) SaveQueue(_ string, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data = bytes.Clone(b)
	s.saves++
	return nil
}

func (s *memStore) get() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.data)
}

// run starts m's delivery loop and stops it when the test ends.
func run(t *testing.T, m *Mailer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

// waitUntil waits, one pass of the delivery loop at a time, until cond
// is true of the mailer's status.
func waitUntil(t *testing.T, m *Mailer, what string, cond func(notify.Status) bool) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		st, ch := m.Observe()
		if cond(st) {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func offline(dev string, at time.Time) event.Event {
	return event.Event{Kind: event.Offline, Time: at, Device: dev, State: "failing", ConsecutiveFailures: 3, Plug: "rack-strip", Outlet: dev}
}

// devicesIn lists the devices whose events a received mail reports, from
// its summary lines.
func devicesIn(m *smtptest.Message, names ...string) []string {
	var out []string
	for _, n := range names {
		if strings.Contains(m.Body, n+" is ") {
			out = append(out, n)
		}
	}
	return out
}

func newFake() *clock.Fake { return clock.NewFake(t0) }

func assertNoSecret(t *testing.T, where, s string) {
	t.Helper()
	if strings.Contains(s, testPassword) {
		t.Errorf("the password appears in %s:\n%s", where, s)
	}
}
