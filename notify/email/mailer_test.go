package email

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/notify"
	"github.com/restartinator/restartinator/notify/smtptest"
)

// The server is down, then up: every event arrives afterwards, none twice.
func TestRetryUntilServerUp(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{Mode: smtptest.Plain})
	srv.Stop()
	clk := newFake()
	logger, logs := captureLogs()
	m, err := New(emailConfig(srv.Addr), notify.Options{Clock: clk, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	run(t, m)

	m.Notify(offline("A", t0))
	waitUntil(t, m, "the first attempt failed", func(st notify.Status) bool { return st.Failures == 1 })
	m.Notify(offline("B", t0))
	m.Notify(event.Event{Kind: event.Recovered, Device: "C"})
	waitUntil(t, m, "B and C are queued", func(st notify.Status) bool { return len(st.Pending) == 0 && len(st.Queue) >= 2 })

	clk.Advance(notify.Backoff(1))
	waitUntil(t, m, "the second attempt failed", func(st notify.Status) bool { return st.Failures == 2 })
	if !strings.Contains(logs.String(), "refused the connection") {
		t.Errorf("the logs do not say why:\n%s", logs)
	}

	srv.Start()
	clk.Advance(notify.Backoff(2))
	waitUntil(t, m, "the queue is empty", func(st notify.Status) bool { return len(st.Queue) == 0 })

	got := srv.Received()
	seen := map[string]int{}
	ids := map[string]bool{}
	for _, msg := range got {
		for _, d := range devicesIn(msg, "A", "B", "C") {
			seen[d]++
		}
		if ids[msg.MessageID] {
			t.Errorf("Message-ID %s arrived twice", msg.MessageID)
		}
		ids[msg.MessageID] = true
	}
	for _, d := range []string{"A", "B", "C"} {
		if seen[d] != 1 {
			t.Errorf("device %s was reported %d times, want once (mails: %d)", d, seen[d], len(got))
		}
	}
	st := m.Status()
	failures, next := st.Failures, st.NextAttempt
	if failures != 0 || !next.IsZero() {
		t.Errorf("backoff not reset: failures %d, next attempt %v", failures, next)
	}
	if !strings.Contains(logs.String(), "email delivery works again") {
		t.Errorf("no recovery line in the logs:\n%s", logs)
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if got := notify.Backoff(i + 1); got != w {
			t.Errorf("notify.Backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
}

// Devices going down within coalesce_window become one mail listing them.
func TestBurstCoalesces(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{Mode: smtptest.Plain})
	clk := newFake()
	cfg := emailConfig(srv.Addr)
	cfg.CoalesceWindow = config.Duration(10 * time.Second)
	m, err := New(cfg, notify.Options{Clock: clk, Hostname: "pi-monitor"})
	if err != nil {
		t.Fatal(err)
	}
	run(t, m)

	m.Notify(offline("Front Door Camera", clk.Now()))
	clk.WaitForTimers(1)
	clk.Advance(4 * time.Second)
	m.Notify(offline("Garage Camera", clk.Now()))
	m.Notify(offline("NVR", clk.Now()))
	clk.Advance(6 * time.Second)

	msg := srv.Wait(t, 10*time.Second)
	if want := "[restartinator] 3 devices are OFFLINE: Front Door Camera, Garage Camera, NVR"; msg.Subject != want {
		t.Errorf("subject %q, want %q", msg.Subject, want)
	}
	for _, d := range []string{"Front Door Camera", "Garage Camera", "NVR"} {
		if !strings.Contains(msg.Body, "  - 14:05:") || !strings.Contains(msg.Body, d+" is OFFLINE (") {
			t.Errorf("body does not list %s:\n%s", d, msg.Body)
		}
	}

	// The window closed: the next event opens a new one.
	m.Notify(event.Event{Kind: event.Recovered, Device: "NVR"})
	waitUntil(t, m, "the next window opened", func(st notify.Status) bool { return len(st.Pending) == 1 })
	clk.Advance(10 * time.Second)
	if msg := srv.Wait(t, 10*time.Second); msg.Subject != "[restartinator] NVR is ONLINE" {
		t.Errorf("second mail %q", msg.Subject)
	}
	if n := len(srv.Received()); n != 2 {
		t.Errorf("%d mails, want 2", n)
	}
}

// A full queue drops the oldest mail and counts it.
func TestQueueFullDropsOldest(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{Mode: smtptest.Plain})
	srv.Stop()
	clk := newFake()
	cfg := emailConfig(srv.Addr)
	cfg.QueueSize = 2
	logger, logs := captureLogs()
	m, err := New(cfg, notify.Options{Clock: clk, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	run(t, m)
	m.Notify(offline("A", t0))
	waitUntil(t, m, "the first attempt failed", func(st notify.Status) bool { return st.Failures == 1 })
	for i, d := range []string{"B", "C", "D"} {
		m.Notify(offline(d, t0))
		waitUntil(t, m, d+" is queued", func(st notify.Status) bool {
			return len(st.Pending) == 0 && st.Dropped["offline"] == float64(max(0, i))
		})
	}
	dropped := m.Status().Dropped["offline"]
	if n := dropped; n != 2 {
		t.Fatalf("dropped %v, want 2", n)
	}
	if !strings.Contains(logs.String(), "email queue full; dropped the oldest mail") {
		t.Errorf("no drop in the logs:\n%s", logs)
	}
	srv.Start()
	clk.Advance(notify.Backoff(1))
	waitUntil(t, m, "the queue is empty", func(st notify.Status) bool { return len(st.Queue) == 0 })
	var subjects []string
	for _, msg := range srv.Received() {
		subjects = append(subjects, msg.Subject)
	}
	slices.Sort(subjects)
	if want := []string{"[restartinator] C is OFFLINE", "[restartinator] D is OFFLINE"}; !slices.Equal(subjects, want) {
		t.Errorf("delivered %q, want %q", subjects, want)
	}
}

// Queued mail survives a restart: Flush on SIGTERM keeps what it could not
// deliver, the next start sends it, and nothing arrives twice.
func TestQueueSurvivesRestart(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{Mode: smtptest.Plain})
	srv.Stop()
	store := &memStore{}
	cfg := emailConfig(srv.Addr)
	clk := newFake()
	m1, err := New(cfg, notify.Options{Clock: clk, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, m1)
	m1.Notify(offline("A", t0))
	waitUntil(t, m1, "the first attempt failed", func(st notify.Status) bool { return st.Failures == 1 })
	// B is still in its coalescing window when the signal comes.
	cfg2 := *cfg
	cfg2.CoalesceWindow = config.Duration(time.Hour)
	if err := m1.Update(&cfg2); err != nil {
		t.Fatal(err)
	}
	m1.Notify(offline("B", t0))
	stop()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = m1.Flush(ctx)
	var de *DeliveryError
	if err == nil || !strings.Contains(err.Error(), "2 emails not delivered before shutdown, kept for the next start") || !errors.As(err, &de) {
		t.Fatalf("Flush: %v", err)
	}
	if len(store.get()) == 0 {
		t.Fatal("nothing saved")
	}

	srv.Start()
	m2, err := New(cfg, notify.Options{Clock: clk, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(m2.Collector(), strings.NewReader(`
# HELP restartinator_notification_queue_length Notifications waiting for delivery, by channel.
# TYPE restartinator_notification_queue_length gauge
restartinator_notification_queue_length{channel="email"} 2
`), "restartinator_notification_queue_length"); err != nil {
		t.Error(err)
	}
	run(t, m2)
	waitUntil(t, m2, "the restored queue is delivered", func(st notify.Status) bool { return len(st.Queue) == 0 })
	var subjects []string
	for _, msg := range srv.Received() {
		subjects = append(subjects, msg.Subject)
	}
	if want := []string{"[restartinator] A is OFFLINE", "[restartinator] B is OFFLINE"}; !slices.Equal(subjects, want) {
		t.Errorf("delivered %q, want %q in order", subjects, want)
	}
	waitUntil(t, m2, "the empty queue is saved", func(st notify.Status) bool {
		msgs, _, err := notify.DecodeQueue(store.get())
		return err == nil && len(msgs) == 0
	})
}

// Flush sends a burst still being gathered at once, without waiting for the
// window.
func TestFlushDeliversPending(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{Mode: smtptest.Plain})
	cfg := emailConfig(srv.Addr)
	cfg.CoalesceWindow = config.Duration(time.Hour)
	store := &memStore{}
	m, err := New(cfg, notify.Options{Clock: newFake(), Store: store})
	if err != nil {
		t.Fatal(err)
	}
	m.Notify(offline("A", t0))
	m.Notify(offline("B", t0))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	got := srv.Received()
	if len(got) != 1 || got[0].Subject != "[restartinator] 2 devices are OFFLINE: A, B" {
		t.Fatalf("got %d mails: %+v", len(got), got)
	}
	msgs, pending, err := notify.DecodeQueue(store.get())
	if err != nil || len(msgs)+len(pending) != 0 {
		t.Errorf("saved queue: %+v %+v, %v", msgs, pending, err)
	}
}

func TestDamagedStoreStartsEmpty(t *testing.T) {
	for name, blob := range map[string]string{
		"not JSON":      "{oops",
		"wrong version": `{"version": 99, "messages": []}`,
	} {
		t.Run(name, func(t *testing.T) {
			logger, logs := captureLogs()
			m, err := New(emailConfig("127.0.0.1:1"), notify.Options{Store: &memStore{data: []byte(blob)}, Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			st := m.Status()
			if len(st.Queue) != 0 || !strings.Contains(logs.String(), "could not read the saved email queue; starting with an empty one") {
				t.Errorf("queue %d, logs:\n%s", len(st.Queue), logs)
			}
		})
	}
}

// A reload swaps the settings and keeps the queue; fixed settings are tried
// at once, not after the backoff.
func TestUpdateKeepsQueue(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{Mode: smtptest.StartTLS, Users: map[string]string{"alerts": testPassword}})
	cfg := emailConfig(srv.Addr)
	cfg.TLSConfig.CAFile = srv.CAFile
	cfg.SMTPUser = "alerts"
	cfg.SMTPPassword = "wrong-" + testPassword
	clk := newFake()
	logger, logs := captureLogs()
	m, err := New(cfg, notify.Options{Clock: clk, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	run(t, m)
	m.Notify(offline("A", t0))
	waitUntil(t, m, "the login was refused", func(st notify.Status) bool { return st.Failures == 1 })
	if !strings.Contains(logs.String(), "refused the login for user alerts (535 5.7.8 Authentication failed) — check smtp_user and smtp_password") {
		t.Errorf("logs:\n%s", logs)
	}

	bad := *cfg
	bad.BodyTemplate = "{{ .Nope }}"
	if err := m.Update(&bad); err == nil {
		t.Fatal("Update took a broken template")
	}

	good := *cfg
	good.SMTPPassword = testPassword
	if err := m.Update(&good); err != nil {
		t.Fatal(err)
	}
	if msg := srv.Wait(t, 10*time.Second); msg.Subject != "[restartinator] A is OFFLINE" || msg.Mechanism != "PLAIN" {
		t.Errorf("got %q via %q", msg.Subject, msg.Mechanism)
	}
	waitUntil(t, m, "the queue is empty", func(st notify.Status) bool { return len(st.Queue) == 0 })
	assertNoSecret(t, "the logs", logs.String())
}

func TestEventsFilter(t *testing.T) {
	cfg := emailConfig("127.0.0.1:1")
	cfg.Events = []string{"gave_up", "recovered"}
	m, err := New(cfg, notify.Options{Clock: newFake()})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range config.Events {
		m.Notify(event.Event{Kind: event.Kind(k), Device: "A"})
	}
	var kinds []event.Kind
	for _, e := range m.Status().Pending {
		kinds = append(kinds, e.Kind)
	}
	if want := []event.Kind{event.Recovered, event.GaveUp}; !slices.Equal(kinds, want) {
		t.Errorf("queued %v, want %v", kinds, want)
	}
}

func TestMetrics(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{Mode: smtptest.Plain})
	srv.Stop()
	clk := newFake()
	m, err := New(emailConfig(srv.Addr), notify.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	run(t, m)
	m.Notify(offline("A", t0))
	waitUntil(t, m, "the first attempt failed", func(st notify.Status) bool { return st.Failures == 1 })
	srv.Start()
	clk.Advance(notify.Backoff(1))
	waitUntil(t, m, "delivered", func(st notify.Status) bool { return len(st.Queue) == 0 })
	if err := m.SendTest(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP restartinator_notification_failures_total Failed notification delivery attempts, by channel and event kind; a failed notification is retried unless the channel refused it for good.
# TYPE restartinator_notification_failures_total counter
restartinator_notification_failures_total{channel="email",event="channel_failing"} 0
restartinator_notification_failures_total{channel="email",event="channel_recovered"} 0
restartinator_notification_failures_total{channel="email",event="cycle_failed"} 0
restartinator_notification_failures_total{channel="email",event="cycle_started"} 0
restartinator_notification_failures_total{channel="email",event="gave_up"} 0
restartinator_notification_failures_total{channel="email",event="held"} 0
restartinator_notification_failures_total{channel="email",event="host_reset"} 0
restartinator_notification_failures_total{channel="email",event="notify"} 0
restartinator_notification_failures_total{channel="email",event="offline"} 1
restartinator_notification_failures_total{channel="email",event="plug_unreachable"} 0
restartinator_notification_failures_total{channel="email",event="recovered"} 0
# HELP restartinator_notification_queue_length Notifications waiting for delivery, by channel.
# TYPE restartinator_notification_queue_length gauge
restartinator_notification_queue_length{channel="email"} 0
# HELP restartinator_notifications_total Notifications delivered, by channel and the kind of event they report (a message reporting several kinds counts once for each).
# TYPE restartinator_notifications_total counter
restartinator_notifications_total{channel="email",event="channel_failing"} 0
restartinator_notifications_total{channel="email",event="channel_recovered"} 0
restartinator_notifications_total{channel="email",event="cycle_failed"} 0
restartinator_notifications_total{channel="email",event="cycle_started"} 0
restartinator_notifications_total{channel="email",event="gave_up"} 0
restartinator_notifications_total{channel="email",event="held"} 0
restartinator_notifications_total{channel="email",event="host_reset"} 0
restartinator_notifications_total{channel="email",event="notify"} 0
restartinator_notifications_total{channel="email",event="offline"} 1
restartinator_notifications_total{channel="email",event="plug_unreachable"} 0
restartinator_notifications_total{channel="email",event="recovered"} 0
restartinator_notifications_total{channel="email",event="test"} 1
`
	if err := testutil.CollectAndCompare(m.Collector(), strings.NewReader(want),
		"restartinator_notifications_total", "restartinator_notification_failures_total", "restartinator_notification_queue_length"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(m.Collector()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// A burst larger than notify.MaxBatchEvents is split, and memory stays bounded by
// queue_size even with no delivery loop running.
func TestHugeBurstIsBounded(t *testing.T) {
	cfg := emailConfig("127.0.0.1:1")
	cfg.CoalesceWindow = config.Duration(time.Hour)
	cfg.QueueSize = 3
	m, err := New(cfg, notify.Options{Clock: newFake()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		m.Notify(offline(fmt.Sprintf("D%03d", i), t0))
	}
	st := m.Status()
	if len(st.Pending) != 0 || len(st.Queue) != 3 || st.Dropped["offline"] != 7 {
		t.Errorf("pending %d, queue %d, dropped %v", len(st.Pending), len(st.Queue), st.Dropped["offline"])
	}
	if got := st.Queue[2].Title; got != "[restartinator] 100 devices are OFFLINE: D900, D901, D902, D903, D904 and 95 more" {
		t.Errorf("newest mail %q", got)
	}
}

func BenchmarkNotify(b *testing.B) {
	cfg := emailConfig("127.0.0.1:1")
	cfg.CoalesceWindow = config.Duration(time.Hour)
	m, err := New(cfg, notify.Options{Clock: newFake()})
	if err != nil {
		b.Fatal(err)
	}
	e := offline("Front Door Camera", t0)
	b.ReportAllocs()
	for b.Loop() {
		m.Notify(e)
	}
}

func BenchmarkRenderBurst(b *testing.B) {
	tmpl, err := parseTemplates(&config.EmailConfig{})
	if err != nil {
		b.Fatal(err)
	}
	var evs []event.Event
	for i := range notify.MaxBatchEvents {
		evs = append(evs, offline(fmt.Sprintf("D%03d", i), t0))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tmpl.render(notify.NewData(evs, "pi-monitor", "http://pi-monitor:9788/", t0, false)); err != nil {
			b.Fatal(err)
		}
	}
}
