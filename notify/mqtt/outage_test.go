package mqtt

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	commoncfg "github.com/prometheus/common/config"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/notify"
	"github.com/restartinator/restartinator/notify/mqtt/mqtttest"
	"github.com/restartinator/restartinator/notify/webhook"
)

// hookChannel is a webhook notification channel whose receiver (an HTTP
// server on loopback) keeps the kinds it took, with the channel they are
// about.
type hookChannel struct {
	mu   sync.Mutex
	took []string
}

func (h *hookChannel) kinds() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.took...)
}

func newHookChannel(t *testing.T) (*hookChannel, *notify.Channels) {
	h := &hookChannel{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var p webhook.Payload
		b, _ := io.ReadAll(req.Body)
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("not a payload: %s", b)
		}
		h.mu.Lock()
		for _, e := range p.Events {
			h.took = append(h.took, e.Kind+" "+e.NotifyChannel)
		}
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	snd, err := webhook.New(webhook.Options{Name: "hook", Where: "hook", Config: &config.ChannelWebhook{URL: commoncfg.Secret(srv.URL)}})
	if err != nil {
		t.Fatal(err)
	}
	set := notify.NewChannels()
	set.Put(notify.NewPipeline("hook", snd, notify.Settings{QueueSize: 10, Timeout: 5 * time.Second}, notify.Options{}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); set.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return h, set
}

// The broker stopped for longer than OutageAfter: the other channel hears
// channel_failing about mqtt once, and channel_recovered when it is back.
// The outage is timed on a fake clock the test moves.
func TestBrokerOutageIsToldToTheOtherChannels(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	hook, set := newHookChannel(t)
	clk := clock.NewFake(time.Date(2026, 3, 1, 14, 5, 9, 0, time.UTC))
	r := startPublisher(t, b.URL(), func(o *Options, _ *config.MQTTConfig) {
		o.Clock, o.Tell, o.OutageAfter = clk, set.Tell, 2*time.Minute
	})
	waitFor(t, "connected", func() bool { return testutil.ToFloat64(r.m.Connected) == 1 })
	b.Stop()
	waitFor(t, "restartinator_mqtt_connected to drop to 0", func() bool { return testutil.ToFloat64(r.m.Connected) == 0 })
	// Each step lets the reconnect backoff (1s, 2s, 4s … on the fake
	// clock) run out; a minute and a half of outage says nothing yet.
	advanceUntil := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		for moved := time.Duration(0); !cond(); moved += 5 * time.Second {
			if moved > limit {
				t.Fatalf("%s: not after %s of fake time (the webhook took %q)", what, limit, hook.kinds())
			}
			attempts := testutil.ToFloat64(r.m.ConnectionAttempt.WithLabelValues("unreachable"))
			clk.Advance(5 * time.Second)
			// A fired backoff ends in a connection attempt: wait for it,
			// or for the publisher to be back on a timer.
			waitFor(t, "the reconnect attempt", func() bool {
				return testutil.ToFloat64(r.m.ConnectionAttempt.WithLabelValues("unreachable")) > attempts ||
					testutil.ToFloat64(r.m.Connected) == 1 || clk.Pending() > 0
			})
		}
	}
	lost := clk.Now()
	advanceUntil("90 s of outage", 90*time.Second, func() bool { return clk.Now().Sub(lost) >= 90*time.Second })
	if got := hook.kinds(); len(got) != 0 {
		t.Fatalf("told after 90 s: %q", got)
	}
	advanceUntil("channel_failing", 2*time.Minute, func() bool { return len(hook.kinds()) > 0 })
	b.Restart()
	advanceUntil("channel_recovered", 5*time.Minute, func() bool { return len(hook.kinds()) > 1 })
	if got := strings.Join(hook.kinds(), ", "); got != "channel_failing mqtt, channel_recovered mqtt" {
		t.Fatalf("the webhook took %q", got)
	}
}
