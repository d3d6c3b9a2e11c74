package notify

import (
	"maps"
	"slices"
	"time"

	"github.com/restartinator/restartinator/internal/event"
)

// Status is a channel's delivery state at one moment, for the status page
// and for tests.
type Status struct {
	Channel string
	// Pending are the events of the burst being gathered.
	Pending []event.Event
	// Queue are the messages waiting, oldest first (copies).
	Queue []Message
	// Failures counts failed attempts in a row; NextAttempt is when the
	// next one is due (zero: now).
	Failures    int
	NextAttempt time.Time
	// LastDelivery and LastFailure are when a message last went out and an
	// attempt last failed; LastError is why, empty once delivery works again.
	LastDelivery, LastFailure time.Time
	LastError                 string
	// Dropped counts messages given up on, by event kind.
	Dropped map[string]float64
}

// Observe returns the channel's status and a channel closed after the next
// pass of Run's loop, taken together so a waiter misses no pass.
func (p *Pipeline) Observe() (Status, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Status{
		Channel:      p.name,
		Pending:      slices.Clone(p.pending),
		Failures:     p.failures,
		NextAttempt:  p.nextAttempt,
		LastDelivery: p.lastDelivery,
		LastFailure:  p.lastFailure,
		Dropped:      maps.Clone(p.metrics.dropped),
	}
	if p.lastErr != nil {
		st.LastError = p.lastErr.Error()
	}
	for _, m := range p.queue {
		st.Queue = append(st.Queue, *m)
	}
	return st, p.stepped
}

// Status is the channel's delivery state now.
func (p *Pipeline) Status() Status {
	st, _ := p.Observe()
	return st
}
