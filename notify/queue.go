package notify

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/restartinator/restartinator/internal/event"
)

// Store keeps the mail queue across restarts. The blob is opaque JSON owned
// by this package (see queueState); the state file keeps it as it is.
type Store interface {
	// LoadQueue returns what SaveQueue last stored, or nil when there is
	// nothing.
	LoadQueue() ([]byte, error)
	SaveQueue([]byte) error
}

// message is one composed mail waiting for delivery.
type message struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	// Kinds are the event kinds the mail reports, each once, for metrics.
	Kinds    []string `json:"kinds"`
	Subject  string   `json:"subject"`
	Body     string   `json:"body"`
	Attempts int      `json:"attempts,omitempty"`
	// Rejections counts permanent refusals of this very message (5xx after
	// DATA); after maxRejections it is dropped.
	Rejections int `json:"rejections,omitempty"`

	sending bool // in an attempt right now: not dropped, not sent twice
}

// queueState is the persisted form: the queued mail and the events of a
// burst still being gathered.
type queueState struct {
	Version  int           `json:"version"`
	Messages []*message    `json:"messages"`
	Pending  []event.Event `json:"pending,omitempty"`
	Seq      uint64        `json:"seq"`
}

const queueStateVersion = 1

func decodeQueue(b []byte) (*queueState, error) {
	var st queueState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("the saved mail queue is not valid JSON: %w", err)
	}
	if st.Version != queueStateVersion {
		return nil, fmt.Errorf("the saved mail queue has version %d, this restartinator reads version %d", st.Version, queueStateVersion)
	}
	return &st, nil
}

func kindsOf(events []event.Event) []string {
	var out []string
	seen := map[event.Kind]bool{}
	for _, e := range events {
		if !seen[e.Kind] {
			seen[e.Kind] = true
			out = append(out, string(e.Kind))
		}
	}
	return out
}
