package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/notify/mqtt/mqtttest"
)

// BenchmarkPlan1000 is one state comparison round (every state_interval and
// every event) for 1,000 devices, discovery on.
func BenchmarkPlan1000(b *testing.B) {
	base := sampleView().devices[0]
	v := view{}
	for i := range 1000 {
		d := base
		d.Name = fmt.Sprintf("device %d", i)
		v.devices = append(v.devices, d)
	}
	pl := newPlanner(testConfig(), "bench")
	b.ReportAllocs()
	for b.Loop() {
		pl.plan(v)
	}
}

// BenchmarkFullPublish100 is the full publish after a (re)connect — every
// discovery config and state topic of 100 devices, about 1,100 retained
// messages at QoS 1 — to Debian's mosquitto on loopback, over plain TCP and
// TLS. The publisher is subscribed to its own topics, as it is to find
// stale ones, so the broker echoes each message back.
func BenchmarkFullPublish100(b *testing.B) {
	ca := mqtttest.NewCA(b, "bench CA")
	broker := mqtttest.Start(b, mqtttest.Options{TLS: &mqtttest.TLS{Server: ca.Server("127.0.0.1")}})
	base := sampleView().devices[0]
	src := &source{}
	var ds []collector.DeviceStatus
	for i := range 100 {
		d := base
		d.Name = fmt.Sprintf("device %d", i)
		ds = append(ds, d)
	}
	src.set(ds)
	for _, url := range []string{broker.URL(), broker.MQTTSURL()} {
		b.Run(strings.SplitN(url, ":", 2)[0], func(b *testing.B) {
			cfg := testConfig()
			cfg.Broker, cfg.TLSConfig.CAFile, cfg.ClientID = url, ca.File, "bench"
			if url == broker.URL() {
				cfg.TLSConfig.CAFile = ""
			}
			p, err := New(&cfg, Options{Source: src, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			cn, err := p.connect(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			defer cn.c.Disconnect(0)
			if err := p.subscribe(cn); err != nil {
				b.Fatal(err)
			}
			pl := newPlanner(cfg, "bench")
			msgs := 0
			for b.Loop() {
				clear(cn.published)
				if err := p.sync(cn, pl); err != nil {
					b.Fatal(err)
				}
				msgs = len(cn.published)
			}
			b.ReportMetric(float64(msgs), "msgs/op")
		})
	}
}
