package notify

import (
	"errors"
	"testing"
	"time"

	"github.com/restartinator/restartinator/internal/event"
)

// The decision, attempt by attempt: told once after FailingAfter failures
// in a row, once more at the first delivery after that; failures to send
// channel_* events alone do not count; a success before the threshold
// resets the count silently.
func TestOutageDecision(t *testing.T) {
	fail, ok, failChannelOnly := attempt{}, attempt{delivered: true}, attempt{onlyChannelEvents: true}
	for _, tc := range []struct {
		name     string
		attempts []attempt
		want     []event.Kind // one per attempt, "" for nothing
	}{
		{"outage then recovery", []attempt{fail, fail, fail, fail, fail, ok},
			[]event.Kind{"", "", event.ChannelFailing, "", "", event.ChannelRecovered}},
		{"a blip says nothing", []attempt{fail, fail, ok, fail, fail, ok},
			[]event.Kind{"", "", "", "", "", ""}},
		{"failing to tell about another channel does not count", []attempt{failChannelOnly, failChannelOnly, failChannelOnly, failChannelOnly, fail, fail},
			[]event.Kind{"", "", "", "", "", ""}},
		{"two outages, told twice", []attempt{fail, fail, fail, ok, fail, fail, fail, ok},
			[]event.Kind{"", "", event.ChannelFailing, event.ChannelRecovered, "", "", event.ChannelFailing, event.ChannelRecovered}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o outage
			for i, a := range tc.attempts {
				var k event.Kind
				o, k = o.next(a)
				if k != tc.want[i] {
					t.Fatalf("attempt %d: told %q, want %q", i+1, k, tc.want[i])
				}
			}
		})
	}
}

// The MQTT connection's outage: told once it has lasted After, once, and
// recovery only after that.
func TestOutageOfAConnection(t *testing.T) {
	o := &Outage{Channel: "mqtt", After: 2 * time.Minute}
	refused := errors.New("connection refused")
	if e := o.Down(t0, refused); e != nil {
		t.Fatalf("told at once: %+v", e)
	}
	if e := o.Down(t0.Add(119*time.Second), refused); e != nil {
		t.Fatalf("told before two minutes: %+v", e)
	}
	e := o.Down(t0.Add(2*time.Minute), refused)
	if e == nil || e.Kind != event.ChannelFailing || e.Channel != "mqtt" || e.Detail != "connection refused (down since 2026-03-01T14:05:09Z)" {
		t.Fatalf("after two minutes: %+v", e)
	}
	if e := o.Down(t0.Add(time.Hour), refused); e != nil {
		t.Fatalf("told twice: %+v", e)
	}
	if e := o.Up(t0.Add(time.Hour)); e == nil || e.Kind != event.ChannelRecovered {
		t.Fatalf("recovery: %+v", e)
	}
	// A short outage: nothing either way.
	o.Down(t0.Add(2*time.Hour), refused)
	if e := o.Up(t0.Add(2*time.Hour + time.Minute)); e != nil {
		t.Fatalf("recovery of an outage never told: %+v", e)
	}
}
