package mqtttest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Message is one message a Subscriber saw.
type Message struct {
	Topic    string
	Payload  string
	Retained bool
}

func (m Message) String() string {
	r := ""
	if m.Retained {
		r = " (retained)"
	}
	return fmt.Sprintf("%s = %q%s", m.Topic, m.Payload, r)
}

// Subscriber is another MQTT client, as Home Assistant would be: it
// subscribes to a filter and records what arrives, in order.
type Subscriber struct {
	t      testing.TB
	client paho.Client

	mu     sync.Mutex
	msgs   []Message
	notify chan struct{}
}

// connectWait bounds connecting and subscribing; a loaded CI machine may
// take a while, a broken broker never answers.
const connectWait = 60 * time.Second

// Subscribe connects to broker (mqtt://…) and subscribes to filter; it
// returns once the broker has acknowledged the subscription (SUBACK), so
// every message published after it returns reaches the subscriber. It
// reconnects and subscribes again by itself if the broker restarts.
func Subscribe(t testing.TB, broker, filter string) *Subscriber {
	t.Helper()
	s := &Subscriber{t: t, notify: make(chan struct{}, 1)}
	handler := func(_ paho.Client, m paho.Message) {
		s.mu.Lock()
		s.msgs = append(s.msgs, Message{Topic: m.Topic(), Payload: string(m.Payload()), Retained: m.Retained()})
		s.mu.Unlock()
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
	// paho calls the on-connect handler in a goroutine of its own, after
	// Connect's token completes: the first subscription's answer comes
	// back here. Later ones (after a broker restart) are not waited for.
	subscribed := make(chan error, 1)
	onConnect := func(c paho.Client) {
		tok := c.Subscribe(filter, 1, handler)
		var err error
		switch {
		case !tok.WaitTimeout(connectWait):
			err = fmt.Errorf("no SUBACK within %s", connectWait)
		case tok.Error() != nil:
			err = tok.Error()
		case tok.(*paho.SubscribeToken).Result()[filter] == 0x80:
			err = fmt.Errorf("the broker refused the subscription to %q", filter)
		}
		select {
		case subscribed <- err:
		default:
		}
	}
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("test-subscriber-%d", time.Now().UnixNano())).
		SetProtocolVersion(4).SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(200 * time.Millisecond).SetOrderMatters(true).SetConnectTimeout(10 * time.Second).
		SetOnConnectHandler(onConnect)
	s.client = paho.NewClient(o)
	tok := s.client.Connect()
	t.Cleanup(func() { s.client.Disconnect(0) }) // also ends connect retries
	if !tok.WaitTimeout(connectWait) || tok.Error() != nil {
		t.Fatalf("test subscriber: connecting to %s: %v (nil: no connection within %s)", broker, tok.Error(), connectWait)
	}
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("test subscriber: subscribing to %q on %s: %v", filter, broker, err)
		}
	case <-time.After(2 * connectWait):
		t.Fatalf("test subscriber: subscribing to %q on %s: no answer", filter, broker)
	}
	return s
}

// Publish sends a message as another client would (a Home Assistant button).
func (s *Subscriber) Publish(topic, payload string, retain bool) {
	s.t.Helper()
	if tok := s.client.Publish(topic, 1, retain, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		s.t.Fatalf("publishing %s: %v", topic, tok.Error())
	}
}

// Messages is everything seen so far.
func (s *Subscriber) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Reset forgets what was seen.
func (s *Subscriber) Reset() {
	s.mu.Lock()
	s.msgs = nil
	s.mu.Unlock()
}

// Wait waits until cond holds over the messages seen, or fails the test
// after timeout saying what it waited for.
func (s *Subscriber) Wait(what string, timeout time.Duration, cond func([]Message) bool) []Message {
	s.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		msgs := s.Messages()
		if cond(msgs) {
			return msgs
		}
		select {
		case <-s.notify:
		case <-deadline.C:
			var b strings.Builder
			for _, m := range msgs {
				fmt.Fprintln(&b, " ", m)
			}
			s.t.Fatalf("waited %s for %s; saw:\n%s", timeout, what, b.String())
		}
	}
}

// Last is the last payload seen on topic, and whether there was one.
func Last(msgs []Message, topic string) (string, bool) {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Topic == topic {
			return msgs[i].Payload, true
		}
	}
	return "", false
}

// Payloads lists the payloads seen on topic, in order.
func Payloads(msgs []Message, topic string) []string {
	var out []string
	for _, m := range msgs {
		if m.Topic == topic {
			out = append(out, m.Payload)
		}
	}
	return out
}
