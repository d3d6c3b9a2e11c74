package notify

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/restartinator/restartinator/internal/event"
)

// Store keeps each channel's queue across restarts. The blob is opaque JSON
// owned by this package (see queueState); the state file keeps it as it is,
// under the channel's name.
type Store interface {
	// LoadQueue returns what SaveQueue last stored for channel, or nil when
	// there is nothing.
	LoadQueue(channel string) ([]byte, error)
	SaveQueue(channel string, b []byte) error
}

// Message is one composed notification waiting for delivery. The JSON names
// are those of the first version's mail queue (a title is "subject"), so a
// state file it wrote is delivered by this one.
type Message struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	// Kinds are the event kinds the message reports, each once, for metrics
	// and for a channel's priority.
	Kinds []string `json:"kinds"`
	Title string   `json:"subject"`
	Body  string   `json:"body"`
	// Test marks the message of "restartinator notify test".
	Test     bool `json:"test,omitempty"`
	Attempts int  `json:"attempts,omitempty"`
	// Rejections counts refusals of this very message (retry false); after
	// the channel's MaxRejections it is dropped.
	Rejections int `json:"rejections,omitempty"`

	sending bool // in an attempt right now: not dropped, not sent twice
}

// queueState is the persisted form: the queued messages and the events of a
// burst still being gathered.
type queueState struct {
	Version  int           `json:"version"`
	Messages []*Message    `json:"messages"`
	Pending  []event.Event `json:"pending,omitempty"`
	Seq      uint64        `json:"seq"`
}

const queueStateVersion = 1

// DecodeQueue reads a saved queue; tests use it to look into a Store.
func DecodeQueue(b []byte) (messages []*Message, pending []event.Event, err error) {
	st, err := decodeQueue(b)
	if err != nil {
		return nil, nil, err
	}
	return st.Messages, st.Pending, nil
}

func decodeQueue(b []byte) (*queueState, error) {
	var st queueState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("the saved queue is not valid JSON: %w", err)
	}
	if st.Version != queueStateVersion {
		return nil, fmt.Errorf("the saved queue has version %d, this restartinator reads version %d", st.Version, queueStateVersion)
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
