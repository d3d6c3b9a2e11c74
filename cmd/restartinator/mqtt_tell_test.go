package main

import (
	"log/slog"
	"testing"
	"time"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
)

// The MQTT publisher's outage reaches the notification channels: the link
// hands the publisher the notifier's Tell.
func TestMQTTOutageIsWiredToTheChannels(t *testing.T) {
	cfg, err := config.Load([]byte("notifications:\n  channels:\n    - name: hook\n      webhook: {url: \"http://127.0.0.1:9/hook\"}\n      coalesce_window: 1h\n"), "r.yml")
	if err != nil {
		t.Fatal(err)
	}
	n := &notifier{logger: slog.New(slog.DiscardHandler), clock: clock.NewFake(time.Date(2026, 3, 1, 14, 5, 9, 0, time.UTC))}
	if err := n.apply(&cfg.Notifications); err != nil {
		t.Fatal(err)
	}
	l := &mqttLink{app: &app{notifier: n}}
	tell := l.options().Tell
	if tell == nil {
		t.Fatal("the MQTT publisher gets no Tell")
	}
	tell(event.Event{Kind: event.ChannelFailing, Channel: "mqtt", Detail: "connection refused"})
	st := n.set().Get("hook").Status()
	if len(st.Pending) != 1 || st.Pending[0].Kind != event.ChannelFailing || st.Pending[0].Channel != "mqtt" {
		t.Fatalf("the hook channel holds %+v", st.Pending)
	}
}
