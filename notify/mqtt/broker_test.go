package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/internal/testlog"
	"github.com/restartinator/restartinator/notify/mqtt/mqtttest"
)

// waitLong bounds every wait; a loaded CI machine is slow, a broken one never gets there.
const waitLong = 60 * time.Second

// source is a supervisor stand-in whose devices a test changes.
type source struct {
	mu      sync.Mutex
	devices []collector.DeviceStatus
}

func (s *source) Snapshot() []collector.DeviceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]collector.DeviceStatus(nil), s.devices...)
}
func (s *source) Holding() string { return "" }
func (s *source) DryRun() bool    { return false }

func (s *source) set(ds []collector.DeviceStatus) {
	s.mu.Lock()
	s.devices = ds
	s.mu.Unlock()
}

type rig struct {
	src  *source
	pub  *Publisher
	logs *testlog.Buffer
	m    *Metrics
}

// startPublisher runs a Publisher against broker for the test's lifetime.
func startPublisher(t *testing.T, broker string, edit func(*Options, *config.MQTTConfig)) *rig {
	t.Helper()
	r := &rig{src: &source{devices: sampleView().devices}, logs: &testlog.Buffer{}, m: NewMetrics()}
	cfg := testConfig()
	cfg.Broker = broker
	cfg.StateInterval = config.Duration(100 * time.Millisecond) // the tests wait on what arrives, never on this
	opt := Options{Source: r.src, Metrics: r.m, Version: "test",
		Logger: slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if edit != nil {
		edit(&opt, &cfg)
	}
	pub, err := New(&cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	r.pub = pub
	ctx, cancel := context.WithCancel(context.Background())
	pub.Start(ctx)
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := pub.Stop(sctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		cancel()
	})
	return r
}

func has(topic, payload string) func([]mqtttest.Message) bool {
	return func(ms []mqtttest.Message) bool {
		last, ok := mqtttest.Last(ms, topic)
		return ok && last == payload
	}
}

func hasTopic(topic string) func([]mqtttest.Message) bool {
	return func(ms []mqtttest.Message) bool {
		last, ok := mqtttest.Last(ms, topic)
		return ok && last != ""
	}
}

func TestPublishesStateAndDiscoveryAndClearsARemovedDevice(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b.URL(), "#")
	r := startPublisher(t, b.URL(), nil)

	msgs := sub.Wait("state and discovery", waitLong, func(ms []mqtttest.Message) bool {
		return has("restartinator/status", "online")(ms) && has("restartinator/router/state", "up")(ms) &&
			hasTopic("homeassistant/sensor/restartinator/weather_station_state/config")(ms) &&
			has("restartinator/router/power", "7.5")(ms)
	})
	// Discovery before state, so Home Assistant knows an entity before its
	// value arrives.
	first := map[string]int{}
	for i, m := range msgs {
		if _, seen := first[m.Topic]; !seen {
			first[m.Topic] = i
		}
	}
	if first["homeassistant/sensor/restartinator/router_state/config"] > first["restartinator/router/state"] {
		t.Error("router state published before its discovery config")
	}
	if got := testutil.ToFloat64(r.m.Connected); got != 1 {
		t.Errorf("restartinator_mqtt_connected = %g", got)
	}
	// The counter counts acknowledged publishes: the subscriber can see a
	// message before the publisher has read its PUBACK (a full publish
	// sends a batch before awaiting the acks), so it catches up.
	waitFor(t, fmt.Sprintf("restartinator_mqtt_messages_published_total to count the %d messages", len(msgs)), func() bool {
		return testutil.ToFloat64(r.m.Published) >= float64(len(msgs))/2
	})

	// The weather station leaves the config: its entities and retained
	// state go (empty retained payloads), the others stay.
	ds := sampleView().devices
	r.src.set(ds[:2])
	sub.Wait("the removed device's topics cleared", waitLong, func(ms []mqtttest.Message) bool {
		return has("homeassistant/sensor/restartinator/weather_station_state/config", "")(ms) &&
			has("homeassistant/binary_sensor/restartinator/weather_station_connectivity/config", "")(ms) &&
			has("restartinator/weather_station/state", "")(ms) && has("restartinator/weather_station/attributes", "")(ms)
	})
	for _, m := range sub.Messages() {
		if m.Payload == "" && strings.Contains(m.Topic, "router") {
			t.Errorf("cleared %s of a device still configured", m.Topic)
		}
	}
	// A late subscriber (Home Assistant starting) finds the configs retained.
	late := mqtttest.Subscribe(t, b.URL(), "homeassistant/#")
	late.Wait("retained discovery", waitLong, func(ms []mqtttest.Message) bool {
		for _, m := range ms {
			if m.Topic == "homeassistant/sensor/restartinator/router_state/config" && m.Retained {
				return true
			}
		}
		return false
	})
	for _, m := range late.Messages() {
		if strings.Contains(m.Topic, "weather_station") {
			t.Errorf("removed device still retained: %s", m)
		}
	}
}

func TestEventsAndOrderOfStates(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b.URL(), "restartinator/router/#")
	r := startPublisher(t, b.URL(), nil)
	sub.Wait("router up", waitLong, has("restartinator/router/state", "up"))

	// Each state the supervisor reports, with the event that goes with it;
	// the subscriber must see them in this order.
	steps := []struct {
		state string
		kind  event.Kind
	}{{"failing", event.Offline}, {"cycling", event.CycleStarted}, {"booting", ""}, {"up", event.Recovered}}
	notified := 0
	for _, s := range steps {
		ds := sampleView().devices
		ds[0].State = s.state
		r.src.set(ds)
		if s.kind != "" {
			r.pub.Notify(event.Event{Kind: s.kind, Device: "Router", State: s.state, Time: time.Now()})
			notified++
		}
		// The state may arrive before its event (the periodic sync can
		// publish it first): wait for both, or the last event may come
		// after the messages are read.
		sub.Wait("state "+s.state, waitLong, func(ms []mqtttest.Message) bool {
			return has("restartinator/router/state", s.state)(ms) && len(eventKinds(t, ms)) >= notified
		})
	}
	msgs := sub.Messages()
	states := dedupe(mqtttest.Payloads(msgs, "restartinator/router/state"))
	if strings.Join(states, ",") != "up,failing,cycling,booting,up" {
		t.Errorf("states in order %v", states)
	}
	for _, m := range msgs {
		if m.Topic == "restartinator/router/event" && m.Retained {
			t.Errorf("event retained: %s", m)
		}
	}
	if kinds := eventKinds(t, msgs); strings.Join(kinds, ",") != "offline,cycle_started,recovered" {
		t.Errorf("events %v", kinds)
	}
}

// eventKinds lists the kinds of the router's events, in order.
func eventKinds(t *testing.T, msgs []mqtttest.Message) []string {
	t.Helper()
	var kinds []string
	for _, m := range msgs {
		if m.Topic == "restartinator/router/event" {
			var e event.Event
			if err := json.Unmarshal([]byte(m.Payload), &e); err != nil {
				t.Fatalf("event payload: %v", err)
			}
			kinds = append(kinds, string(e.Kind))
		}
	}
	return kinds
}

func dedupe(ss []string) []string {
	var out []string
	for _, s := range ss {
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

func TestBrokerRestartRepublishesDiscoveryAndState(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b.URL(), "#")
	r := startPublisher(t, b.URL(), nil)
	sub.Wait("first publish", waitLong, has("restartinator/router/state", "up"))

	b.Stop()
	waitFor(t, "restartinator_mqtt_connected to drop to 0", func() bool { return testutil.ToFloat64(r.m.Connected) == 0 })
	sub.Reset()
	b.Restart() // empty: persistence is off, nothing retained survives

	sub.Wait("discovery and state again after the restart", waitLong, func(ms []mqtttest.Message) bool {
		return has("restartinator/status", "online")(ms) && has("restartinator/router/state", "up")(ms) &&
			hasTopic("homeassistant/sensor/restartinator/router_state/config")(ms) &&
			hasTopic("homeassistant/binary_sensor/restartinator/guard/config")(ms)
	})
	if !strings.Contains(r.logs.String(), "MQTT connection lost; reconnecting") {
		t.Errorf("the loss was not logged:\n%s", r.logs)
	}
	if testutil.ToFloat64(r.m.ConnectionAttempt.WithLabelValues("ok")) < 2 {
		t.Error("no second successful connection counted")
	}
}

func TestBrokerDownAtStartConnectsLater(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	b.Stop()
	r := startPublisher(t, b.URL(), nil)
	waitFor(t, "a failed attempt", func() bool {
		return testutil.ToFloat64(r.m.ConnectionAttempt.WithLabelValues("unreachable")) >= 1
	})
	if !strings.Contains(r.logs.String(), "cannot reach the broker — is it running") {
		t.Errorf("no clear log line for the unreachable broker:\n%s", r.logs)
	}
	// Notify never blocks, connected or not.
	done := make(chan struct{})
	go func() {
		for i := 0; i < 2*queueSize; i++ {
			r.pub.Notify(event.Event{Kind: event.Offline, Device: "Router"})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify blocked while the broker was down")
	}
	// Every event of the outage is counted as not published: those beyond
	// the queue by Notify at once, those queued as the backoff drains
	// them. The drain takes an event off the queue before it counts it, so
	// reading the counter right after the last Notify may miss the one in
	// between (it once read 255 of the 256 beyond the queue): wait for the
	// count rather than sample it.
	const sent = 2 * queueSize
	waitFor(t, fmt.Sprintf("all %d events of the outage counted as not published", sent), func() bool {
		return testutil.ToFloat64(r.m.PublishFailures) >= sent
	})
	if got := testutil.ToFloat64(r.m.PublishFailures); got != sent {
		t.Errorf("%g events counted as not published, want the %d sent", got, sent)
	}
	b.Restart()
	sub := mqtttest.Subscribe(t, b.URL(), "restartinator/#")
	sub.Wait("state once the broker is up", waitLong, has("restartinator/router/state", "up"))
	// Events from the outage are not replayed: no automation fires on an
	// hour-old "offline".
	sub.Publish("restartinator/marker", "x", false)
	sub.Wait("the marker", waitLong, has("restartinator/marker", "x"))
	for _, m := range sub.Messages() {
		if m.Topic == "restartinator/router/event" {
			t.Fatalf("an event from while the broker was down was published late: %s", m)
		}
	}
}

func TestHomeAssistantBirthRepublishesDiscovery(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b.URL(), "homeassistant/#")
	startPublisher(t, b.URL(), nil)
	const cfg = "homeassistant/sensor/restartinator/router_state/config"
	sub.Wait("discovery", waitLong, hasTopic(cfg))
	sub.Reset()
	// Home Assistant's birth message, sent when it (re)starts: a broker
	// without persistence may have lost the retained configs.
	sub.Publish("homeassistant/status", "online", false)
	sub.Wait("discovery again", waitLong, func(ms []mqtttest.Message) bool {
		for _, m := range ms {
			if m.Topic == cfg && !m.Retained && m.Payload != "" {
				return true // a live publish, not the broker's retained copy
			}
		}
		return false
	})
}

func TestRefusedCredentials(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{Users: map[string]string{"ha": "right"}})
	r := startPublisher(t, b.URL(), func(o *Options, c *config.MQTTConfig) { c.Username, c.Password = "ha", "wrong" })
	waitFor(t, "a refused attempt", func() bool {
		return testutil.ToFloat64(r.m.ConnectionAttempt.WithLabelValues("refused")) >= 1
	})
	if !strings.Contains(r.logs.String(), "the broker refused the login — check mqtt.username and mqtt.password") {
		t.Errorf("the refusal is not said plainly:\n%s", r.logs)
	}
	if got := testutil.ToFloat64(r.m.Connected); got != 0 {
		t.Errorf("connected = %g with a wrong password", got)
	}

	good := startPublisher(t, b.URL(), func(o *Options, c *config.MQTTConfig) {
		c.Username, c.Password, c.TopicPrefix, c.ClientID = "ha", "right", "good", "good-client"
	})
	sub := mqtttest.Subscribe(t, "mqtt://ha:right@"+strings.TrimPrefix(b.URL(), "mqtt://"), "good/#")
	sub.Wait("the right password connects", waitLong, has("good/router/state", "up"))
	_ = good
}

func TestStaleRetainedTopicsOfAnEarlierRunAreCleared(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b.URL(), "#")
	// What a previous run left for a device since removed, and a config of
	// another program under the same discovery prefix.
	sub.Publish("homeassistant/sensor/restartinator/ghost_state/config", `{"state_topic":"restartinator/ghost/state","json_attributes_topic":"restartinator/ghost/attributes","unique_id":"restartinator_ghost_state"}`, true)
	sub.Publish("restartinator/ghost/state", "up", true)
	sub.Publish("restartinator/ghost/attributes", "{}", true)
	sub.Publish("homeassistant/sensor/zigbee2mqtt/lamp/config", `{"state_topic":"zigbee2mqtt/lamp"}`, true)
	sub.Wait("the stale messages on the broker", waitLong, has("homeassistant/sensor/zigbee2mqtt/lamp/config", `{"state_topic":"zigbee2mqtt/lamp"}`))

	startPublisher(t, b.URL(), nil)
	sub.Wait("the ghost cleared", waitLong, func(ms []mqtttest.Message) bool {
		return has("homeassistant/sensor/restartinator/ghost_state/config", "")(ms) &&
			has("restartinator/ghost/state", "")(ms) && has("restartinator/ghost/attributes", "")(ms) &&
			has("restartinator/router/state", "up")(ms)
	})
	for _, m := range sub.Messages() {
		if strings.Contains(m.Topic, "zigbee2mqtt") && m.Payload == "" {
			t.Errorf("cleared another program's config: %s", m)
		}
	}
}

func TestCommands(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b.URL(), "restartinator/#")
	// A retained press left on the broker would cycle the device at every
	// reconnect: it arrives as a retained delivery and is refused.
	sub.Publish("restartinator/router/cycle/set", "PRESS", true)
	var mu sync.Mutex
	var calls []string
	startPublisher(t, b.URL(), func(o *Options, c *config.MQTTConfig) {
		o.Cycle = func(device string) CycleAnswer {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, device)
			if len(calls) == 1 {
				return CycleAnswer{Status: "started", Device: device}
			}
			return CycleAnswer{Status: "already_cycling", Device: device, Error: "already cycling"}
		}
	})
	answers := func(ms []mqtttest.Message) []mqtttest.Message {
		var out []mqtttest.Message
		for _, m := range ms {
			if strings.HasSuffix(m.Topic, "/cycle/result") {
				out = append(out, m)
			}
		}
		return out
	}
	result := func(n int) CycleAnswer {
		ms := answers(sub.Wait(fmt.Sprintf("answer %d", n), waitLong, func(ms []mqtttest.Message) bool { return len(answers(ms)) >= n }))
		var a CycleAnswer
		if err := json.Unmarshal([]byte(ms[n-1].Payload), &a); err != nil {
			t.Fatal(err)
		}
		if ms[n-1].Retained {
			t.Errorf("answer retained: %s", ms[n-1])
		}
		return a
	}
	if a := result(1); a.Status != "rejected" || !strings.Contains(a.Error, "retained") {
		t.Errorf("retained press: %+v", a)
	}
	sub.Publish("restartinator/router/cycle/set", "", true) // clear it
	press := func(topic string) { sub.Publish(topic, "PRESS", false) }
	press("restartinator/router/cycle/set")
	if a := result(2); a.Status != "started" || a.Device != "Router" {
		t.Errorf("first press: %+v", a)
	}
	press("restartinator/router/cycle/set")
	if a := result(3); a.Status != "already_cycling" {
		t.Errorf("second press: %+v", a)
	}
	press("restartinator/ghost/cycle/set")
	if a := result(4); a.Status != "unknown_device" {
		t.Errorf("unknown device: %+v", a)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 {
		t.Errorf("cycle called %d times (%v), want 2: unknown and retained presses must not act", len(calls), calls)
	}
}

func TestNoCommandsUnlessEnabled(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b.URL(), "#")
	called := make(chan string, 1)
	startPublisher(t, b.URL(), func(o *Options, c *config.MQTTConfig) {
		c.Commands = false
		o.Cycle = func(device string) CycleAnswer { called <- device; return CycleAnswer{Status: "started"} }
	})
	sub.Wait("the publisher up", waitLong, has("restartinator/router/state", "up"))
	sub.Publish("restartinator/router/cycle/set", "PRESS", false)
	// A marker published after the press: once it is back, the press has
	// been delivered to every subscriber it would reach.
	sub.Publish("restartinator/marker", "x", false)
	sub.Wait("the marker", waitLong, has("restartinator/marker", "x"))
	select {
	case d := <-called:
		t.Fatalf("commands off, yet %q was cycled", d)
	default:
	}
	for _, m := range sub.Messages() {
		if strings.HasSuffix(m.Topic, "/cycle/result") {
			t.Errorf("answered with commands off: %s", m)
		}
	}
}

func TestStopSaysOffline(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b.URL(), "restartinator/status")
	r := startPublisher(t, b.URL(), nil)
	sub.Wait("online", waitLong, has("restartinator/status", "online"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.pub.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	sub.Wait("offline", waitLong, has("restartinator/status", "offline"))
}

// waitFor polls a condition that no channel announces (a gauge).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// The state an event reports reaches the broker even when the device has
// moved on before the publisher gets to the event: a loaded machine runs
// the publisher late, and "failing" lasts only until the cycle starts.
func TestEventStateIsPublishedEvenIfTheDeviceMovedOn(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b.URL(), "restartinator/router/#")
	r := startPublisher(t, b.URL(), func(_ *Options, c *config.MQTTConfig) {
		c.StateInterval = config.Duration(time.Hour) // only events sync here
	})
	sub.Wait("router up", waitLong, has("restartinator/router/state", "up"))

	// The supervisor said offline (failing), then started the cycle; the
	// publisher reads the device state only after both.
	ds := sampleView().devices
	ds[0].State = "cycling"
	r.src.set(ds)
	r.pub.Notify(event.Event{Kind: event.Offline, Device: "Router", State: "failing", Time: time.Now()})
	r.pub.Notify(event.Event{Kind: event.CycleStarted, Device: "Router", State: "cycling", Time: time.Now()})
	msgs := sub.Wait("both events and cycling", waitLong, func(ms []mqtttest.Message) bool {
		return len(eventKinds(t, ms)) == 2 && has("restartinator/router/state", "cycling")(ms)
	})
	if got := strings.Join(dedupe(mqtttest.Payloads(msgs, "restartinator/router/state")), ","); got != "up,failing,cycling" {
		t.Errorf("states %s, want up,failing,cycling", got)
	}
}

// A full publish of many devices reaches the broker whole, and the
// broker's echoes of our own messages (we subscribe to our topics to find
// stale ones) are not taken for messages to read: they once overflowed the
// inbox with a warning each.
func TestFullPublishOfManyDevices(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b.URL(), "restartinator/#")
	r := startPublisher(t, b.URL(), func(o *Options, c *config.MQTTConfig) {
		base := sampleView().devices[0]
		var ds []collector.DeviceStatus
		for i := range 300 {
			d := base
			d.Name = fmt.Sprintf("device %d", i)
			ds = append(ds, d)
		}
		o.Source.(*source).set(ds)
	})
	sub.Wait("every device's state", waitLong, func(ms []mqtttest.Message) bool {
		n := 0
		for _, m := range ms {
			if strings.HasSuffix(m.Topic, "/state") && m.Payload == "up" {
				n++
			}
		}
		return n >= 300
	})
	if strings.Contains(r.logs.String(), "inbox full") {
		t.Errorf("echoes of our own publishes filled the inbox:\n%.2000s", r.logs)
	}
}
