package notify

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
)

var t0 = time.Date(2026, 3, 1, 14, 5, 9, 0, time.UTC)

// gateSender is a Sender whose attempts wait until the test lets them go,
// then answer with what the test says.
type gateSender struct {
	mu       sync.Mutex
	answer   func(*Message) Result
	gate     chan struct{} // nil: answer at once
	started  chan struct{}
	received []string
}

func (g *gateSender) Compose(d *Data) (string, string) { return d.Summary, d.Summary }

func (g *gateSender) Notify(ctx context.Context, msgs []*Message) []Result {
	g.mu.Lock()
	gate, started := g.gate, g.started
	g.mu.Unlock()
	if started != nil {
		select {
		case started <- struct{}{}:
		default:
		}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return Failed(len(msgs), true, ctx.Err())
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Result, len(msgs))
	for i, m := range msgs {
		r := Result{}
		if g.answer != nil {
			r = g.answer(m)
		}
		if r.Err == nil {
			g.received = append(g.received, m.Title)
		}
		out[i] = r
	}
	return out
}

func runPipeline(t *testing.T, p *Pipeline) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitFor(t *testing.T, p *Pipeline, what string, cond func(Status) bool) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		st, ch := p.Observe()
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

// Notify returns at once however long an attempt takes: it only appends.
func TestNotifyDoesNotBlock(t *testing.T) {
	g := &gateSender{gate: make(chan struct{}), started: make(chan struct{}, 1)}
	defer close(g.gate)
	p := NewPipeline("slow", g, Settings{QueueSize: 10, Timeout: time.Hour}, Options{Clock: clock.NewFake(t0)})
	runPipeline(t, p)
	p.Notify(event.Event{Kind: event.Offline, Device: "first"})
	<-g.started // an attempt is in progress and hangs
	done := make(chan struct{})
	go func() {
		for i := range 1000 {
			p.Notify(event.Event{Kind: event.Offline, Device: "D" + string(rune('A'+i%26))})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Notify blocked while a delivery was in progress")
	}
}

// A message refused for good (Retry false) is dropped after MaxRejections
// and counted; one that may be retried stays.
func TestRefusedForGoodIsDropped(t *testing.T) {
	clk := clock.NewFake(t0)
	g := &gateSender{answer: func(m *Message) Result {
		if m.Title == "Bad is OFFLINE" {
			return Result{Retry: false, Err: errors.New("400 Bad Request")}
		}
		return Result{}
	}}
	p := NewPipeline("hook", g, Settings{QueueSize: 10}, Options{Clock: clk})
	runPipeline(t, p)
	p.Notify(event.Event{Kind: event.Offline, Device: "Bad"})
	waitFor(t, p, "Bad is dropped", func(s Status) bool { return len(s.Queue) == 0 && s.Dropped["offline"] == 1 })
	p.Notify(event.Event{Kind: event.Recovered, Device: "Good"})
	waitFor(t, p, "Good is delivered", func(s Status) bool { return len(s.Pending)+len(s.Queue) == 0 && !s.LastDelivery.IsZero() })
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.received) != 1 || g.received[0] != "Good is ONLINE" {
		t.Errorf("received %q", g.received)
	}
}

// A flush on SIGTERM gives up on a channel whose attempt hangs when its
// context ends, keeps the messages and says so.
func TestFlushDoesNotWaitForAHangingAttempt(t *testing.T) {
	g := &gateSender{gate: make(chan struct{}), started: make(chan struct{}, 1)}
	defer close(g.gate)
	p := NewPipeline("slow", g, Settings{QueueSize: 10, Timeout: time.Hour}, Options{Clock: clock.NewFake(t0), Store: &memStore{}})
	runPipeline(t, p)
	p.Notify(event.Event{Kind: event.Offline, Device: "A"})
	<-g.started
	p.Notify(event.Event{Kind: event.Offline, Device: "B"})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := p.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "2 messages not delivered before shutdown, kept for the next start") {
		t.Errorf("Flush: %v", err)
	}
}

type memStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memStore) LoadQueue(ch string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[ch], nil
}

func (s *memStore) SaveQueue(ch string, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[ch] = b
	return nil
}
