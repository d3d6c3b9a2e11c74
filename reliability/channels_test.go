package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/notify"
	"github.com/restartinator/restartinator/notify/channels"
	"github.com/restartinator/restartinator/notify/webhook"
)

// TestChannelHangs is issue 17's hanging channel: one webhook receiver
// takes every request and never answers, another works. While devices fail,
// are cycled and recover, the working channel gets every event exactly
// once, no cycle starts or ends later than it would with no notifications
// at all, and the hanging channel holds one request, not one per retry.
// The supervisor's worst hold-up in Notify is reported.
func TestChannelHangs(t *testing.T) {
	enabled(t)
	const (
		cycleTime = 5500 * time.Millisecond
		stagger   = 7 * time.Second
	)
	devices := max(1, scaled(30)/3)
	began := time.Now()
	r := newRig(t, rigOptions{
		devices:  devices,
		settings: "check_interval: 10s, retry_interval: 1s, retries: 3, timeout: 1s, cycle_time: 5500ms, boot_time: 60s, max_cycles: 3, cycle_window: 1h",
	})

	release := make(chan struct{})
	var slowMu sync.Mutex
	slowRequests := 0
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		slowMu.Lock()
		slowRequests++
		slowMu.Unlock()
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	var fastMu sync.Mutex
	got := map[string]int{}
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var p webhook.Payload
		if err := json.NewDecoder(req.Body).Decode(&p); err != nil {
			t.Errorf("not a payload: %v", err)
		}
		fastMu.Lock()
		for _, e := range p.Events {
			got[eventKey(e.Device, e.Kind, e.Time.UnixNano())]++
		}
		fastMu.Unlock()
	}))
	t.Cleanup(fast.Close)

	yml := fmt.Sprintf(`notifications:
  channels:
    - {name: slow, webhook: {url: %q}, coalesce_window: 0s, timeout: 1h}
    - {name: fast, webhook: {url: %q}, coalesce_window: 0s}
`, slow.URL+"/hook", fast.URL+"/hook")
	c, err := config.Load([]byte(yml), "channels.yml")
	if err != nil {
		t.Fatal(err)
	}
	built, err := channels.Build(&c.Notifications, channels.Options{Logger: r.logger, Hostname: "reliability"})
	if err != nil {
		t.Fatal(err)
	}
	nclk := clock.NewFake(t0)
	set := notify.NewChannels()
	for _, ch := range built {
		set.Put(notify.NewPipeline(ch.Name, ch.Sender, ch.Settings, notify.Options{Clock: nclk, Store: r.store, Hostname: "reliability", Logger: r.logger}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); set.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	timed := &timedNotifier{next: set}
	r.mu.Lock()
	r.forward = timed
	r.onUpdate = func(u actuator.Update) {
		if u.Phase == actuator.PhaseBooting {
			for _, d := range u.Request.Devices {
				r.setUp(d, true)
			}
		}
	}
	r.mu.Unlock()
	tick := func() {
		r.tick(time.Second)
		nclk.Advance(time.Second)
	}
	for range 11 {
		tick()
	}
	for elapsed := time.Duration(0); elapsed < time.Duration(devices)*stagger+2*time.Minute; elapsed += time.Second {
		if i := int(elapsed / stagger); elapsed%stagger == 0 && i < devices {
			r.setUp(r.names[i], false)
		}
		tick()
	}
	for name, s := range r.snapshot() {
		if s.State != collector.StateUp {
			t.Errorf("%s is %s at the end, want up", name, s.State)
		}
	}

	// The working channel: every event once. It may still be sending the
	// last ones on its own goroutine: real HTTP, real time, bounded wait.
	want := map[string]int{}
	for _, e := range r.allEvents() {
		want[eventKey(e.Device, string(e.Kind), e.Time.UnixNano())]++
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		fastMu.Lock()
		n := len(got)
		fastMu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		tick() // the fast channel's backoff, if a request ever failed, runs on the fake clock
	}
	fastMu.Lock()
	lost, twice := 0, 0
	for k, n := range want {
		switch {
		case got[k] < n:
			lost++
			t.Errorf("event %s never reached the working channel", k)
		case got[k] > n:
			twice++
			t.Errorf("event %s reached the working channel %d times", k, got[k])
		}
	}
	fastMu.Unlock()

	cyc := r.updatesOf(actuator.PhaseCycling)
	boot := r.updatesOf(actuator.PhaseBooting)
	if len(cyc) != devices || len(boot) != devices {
		t.Errorf("%d cycles started and %d ended, want %d", len(cyc), len(boot), devices)
	}
	var worstLate time.Duration
	for _, u := range cyc {
		for _, b := range boot {
			if b.Request.Devices[0] == u.Request.Devices[0] {
				late := b.Time.Sub(u.Time) - cycleTime
				worstLate = max(worstLate, late)
				if late < 0 || late >= time.Second {
					t.Errorf("%s: power back %s after it went off, want cycle_time %s", u.Request.Devices[0], b.Time.Sub(u.Time), cycleTime)
				}
			}
		}
	}
	slowMu.Lock()
	held := slowRequests
	slowMu.Unlock()
	if held != 1 {
		t.Errorf("the hanging receiver got %d requests, want 1 (no pile-up of retries)", held)
	}
	timed.mu.Lock()
	calls, worst := timed.calls, timed.worst
	timed.mu.Unlock()
	st := set.Get("slow").Status()
	report(t, "one channel hangs (1 request held; %d messages queued and %d events gathered behind it), the other delivered %d events: lost %d, twice %d",
		len(st.Queue), len(st.Pending), len(want), lost, twice)
	report(t, "cycles %d, power back within cycle_time + %s (the 1s step); Notify held the supervisor %s at worst over %d calls; %s real time",
		len(cyc), worstLate, worst.Round(time.Microsecond), calls, time.Since(began).Round(time.Millisecond))
}
