package notify

import (
	"fmt"
	"time"

	"github.com/restartinator/restartinator/internal/event"
)

// FailingAfter is when a channel counts as failing and the other channels
// are told (event channel_failing): after this many delivery attempts in a
// row have failed. With the pipeline's backoff (5s, 10s) the third failure
// comes at least 15 s and two attempt timeouts after the first, so one lost
// connection or a server restart says nothing, an outage says it once.
// The first delivery after that is channel_recovered.
const FailingAfter = 3

// outage is one channel's health as the other channels hear of it: a pure
// decision, fed each attempt's outcome.
type outage struct {
	failures int  // failed attempts in a row that count
	reported bool // channel_failing was told for this outage
}

// attempt is an attempt's outcome: delivered, or failed; onlyChannelEvents
// says every message it carried was itself a channel_* event.
type attempt struct {
	delivered         bool
	onlyChannelEvents bool
}

// next is the new state and the event kind to tell the other channels, if
// any. A failure to deliver channel_* events alone does not count towards
// an outage, so a failure notification that fails starts no other.
func (o outage) next(a attempt) (outage, event.Kind) {
	switch {
	case a.delivered && o.reported:
		return outage{}, event.ChannelRecovered
	case a.delivered:
		return outage{}, ""
	case a.onlyChannelEvents:
		return o, ""
	}
	o.failures++
	if o.failures >= FailingAfter && !o.reported {
		o.reported = true
		return o, event.ChannelFailing
	}
	return o, ""
}

// channelEvent is the event telling the other channels about one.
func channelEvent(kind event.Kind, channel string, now time.Time, failures int, lastErr error) event.Event {
	e := event.Event{Kind: kind, Time: now, Channel: channel}
	if kind == event.ChannelFailing && lastErr != nil {
		e.Detail = fmt.Sprintf("%v (%d failed %s in a row)", lastErr, failures, Plural(failures, "attempt", "attempts"))
	}
	return e
}

// onlyChannelKinds says whether every message is about a channel.
func onlyChannelKinds(msgs []*Message) bool {
	for _, m := range msgs {
		for _, k := range m.Kinds {
			if k != string(event.ChannelFailing) && k != string(event.ChannelRecovered) {
				return false
			}
		}
	}
	return true
}

// Outage tracks a connection that is not a Pipeline (the MQTT broker) as a
// channel: down for longer than After is channel_failing, once per outage;
// up again after that is channel_recovered. It is not safe for concurrent
// use; its owner's one goroutine feeds it.
type Outage struct {
	Channel string
	After   time.Duration
	since   time.Time // when it went down; zero while up
	told    bool
}

// Down records a failure at now; the event is non-nil once the outage has
// lasted After, and only that once.
func (o *Outage) Down(now time.Time, err error) *event.Event {
	if o.since.IsZero() {
		o.since = now
	}
	if o.told || now.Sub(o.since) < o.After {
		return nil
	}
	o.told = true
	e := event.Event{Kind: event.ChannelFailing, Time: now, Channel: o.Channel,
		Detail: fmt.Sprintf("down since %s", o.since.Format(time.RFC3339))}
	if err != nil {
		e.Detail = fmt.Sprintf("%v (down since %s)", err, o.since.Format(time.RFC3339))
	}
	return &e
}

// Up records that it works at now; the event is non-nil when the outage
// had been told.
func (o *Outage) Up(now time.Time) *event.Event {
	told := o.told
	o.since, o.told = time.Time{}, false
	if !told {
		return nil
	}
	return &event.Event{Kind: event.ChannelRecovered, Time: now, Channel: o.Channel}
}
