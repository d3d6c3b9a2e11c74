package webhook

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

	commoncfg "github.com/prometheus/common/config"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/notify"
)

var t0 = time.Date(2026, 3, 1, 14, 5, 9, 0, time.UTC)

// receiver is a webhook receiver on loopback. While down it drops every
// connection unanswered, as a host that is gone would.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	down   bool
	got    []*http.Request
	bodies []Payload
}

func newReceiver(t *testing.T, status int) *receiver {
	r := &receiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		down, status := r.down, r.status
		r.mu.Unlock()
		if down {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		b, _ := io.ReadAll(req.Body)
		var p Payload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("the body is not a Payload: %v\n%s", err, b)
		}
		r.mu.Lock()
		r.got = append(r.got, req)
		r.bodies = append(r.bodies, p)
		r.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, "answer from the receiver")
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) set(status int, down bool) {
	r.mu.Lock()
	r.status, r.down = status, down
	r.mu.Unlock()
}

func (r *receiver) payloads() []Payload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Payload(nil), r.bodies...)
}

func newSender(t *testing.T, url string) *Sender {
	t.Helper()
	s, err := New(Options{Name: "ops-hook", Where: `notifications.channels[1] "ops-hook"`, Config: &config.ChannelWebhook{
		URL:     commoncfg.Secret(url),
		Headers: map[string]commoncfg.Secret{"X-Api-Key": "k3y-SECRET"},
		HTTPClientConfig: commoncfg.HTTPClientConfig{
			BasicAuth: &commoncfg.BasicAuth{Username: "restartinator", Password: "pw-SECRET"},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newPipeline(t *testing.T, s *Sender, clk clock.Clock, store notify.Store) *notify.Pipeline {
	st := s.Settings()
	st.QueueSize, st.Timeout = 100, 5*time.Second
	return notify.NewPipeline("ops-hook", s, st, notify.Options{Clock: clk, Hostname: "pi-monitor", ExternalURL: "http://pi-monitor:9788/", Store: store})
}

func runPipeline(t *testing.T, p *notify.Pipeline) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitFor(t *testing.T, p *notify.Pipeline, what string, cond func(notify.Status) bool) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		st, ch := p.Observe()
		if cond(st) {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// The request: POST to the URL's path, JSON, the configured header and
// basic auth, and the documented body.
func TestRequest(t *testing.T) {
	rc := newReceiver(t, 200)
	s := newSender(t, rc.URL+"/hooks/restartinator?src=pi")
	p := newPipeline(t, s, clock.NewFake(t0), nil)
	reading := &event.Reading{RelayOn: true, Metered: true, Watts: 4.5, Volts: 230, Amperes: 0.02, WattHours: 12}
	p.Notify(event.Event{Kind: event.CycleStarted, Time: t0, Device: "Router", State: "cycling", Plug: "rack-strip", Outlet: "2",
		Trigger: "auto", ConsecutiveFailures: 3, CyclesInWindow: 1, Reading: reading, Detail: "GET http://router/: timeout"})
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	req := rc.got[0]
	rc.mu.Unlock()
	user, pass, _ := req.BasicAuth()
	if req.Method != "POST" || req.URL.Path != "/hooks/restartinator" || req.URL.RawQuery != "src=pi" ||
		req.Header.Get("Content-Type") != "application/json" || req.Header.Get("X-Api-Key") != "k3y-SECRET" ||
		user != "restartinator" || pass != "pw-SECRET" {
		t.Errorf("request %s %s, headers %v", req.Method, req.URL, req.Header)
	}
	got := rc.payloads()[0]
	if got.Version != "1" || got.ID == "" || got.Channel != "ops-hook" || got.Test || got.Hostname != "pi-monitor" ||
		got.StatusPage != "http://pi-monitor:9788/" || got.Title != "Router is being POWER CYCLED" || !got.Time.Equal(t0) {
		t.Errorf("payload %+v", got)
	}
	if len(got.Events) != 1 {
		t.Fatalf("events %+v", got.Events)
	}
	e := got.Events[0]
	if e.Kind != "cycle_started" || e.Device != "Router" || e.State != "cycling" || e.Status != "POWER CYCLING" ||
		e.Plug != "rack-strip" || e.Outlet != "2" || e.Trigger != "auto" || e.ConsecutiveFailures != 3 ||
		e.Detail != "GET http://router/: timeout" || e.Next == "" || e.Reading == nil || *e.Reading.Watts != 4.5 || e.LastCycle != nil {
		t.Errorf("event %+v", e)
	}
}

// 2xx delivered; 400 dropped at once (logged, counted, not retried); 500
// and 429 retried with backoff until the receiver takes it.
func TestStatuses(t *testing.T) {
	for _, c := range []struct {
		status  int
		retried bool
		wantErr string
	}{
		{204, false, ""},
		{400, false, "webhook: 400 from HOST (answer from the receiver) — the receiver refused this message; it is dropped, not retried"},
		{500, true, "webhook: 500 from HOST (answer from the receiver) — the receiver failed; will retry"},
		{429, true, "webhook: 429 from HOST (answer from the receiver) — rate limited; will retry"},
	} {
		t.Run(http.StatusText(c.status), func(t *testing.T) {
			rc := newReceiver(t, c.status)
			clk := clock.NewFake(t0)
			p := newPipeline(t, newSender(t, rc.URL+"/hook"), clk, nil)
			runPipeline(t, p)
			p.Notify(event.Event{Kind: event.Offline, Device: "Router"})
			clk.Advance(5 * time.Second) // the coalesce window
			if c.wantErr == "" {
				waitFor(t, p, "delivered", func(s notify.Status) bool { return !s.LastDelivery.IsZero() && len(s.Queue) == 0 })
				return
			}
			want := strings.ReplaceAll(c.wantErr, "HOST", strings.TrimPrefix(rc.URL, "http://"))
			waitFor(t, p, "the first attempt failed", func(s notify.Status) bool { return s.LastError != "" })
			st := p.Status()
			if st.LastError != want {
				t.Errorf("error %q, want %q", st.LastError, want)
			}
			if !c.retried {
				if len(st.Queue) != 0 || st.Dropped["offline"] != 1 || st.Failures != 0 {
					t.Errorf("a refused message: queue %d, dropped %v, failures %d", len(st.Queue), st.Dropped, st.Failures)
				}
				return
			}
			if len(st.Queue) != 1 || st.Failures != 1 {
				t.Fatalf("queue %d failures %d", len(st.Queue), st.Failures)
			}
			rc.set(200, false)
			clk.Advance(notify.Backoff(1))
			waitFor(t, p, "delivered after the backoff", func(s notify.Status) bool { return len(s.Queue) == 0 && !s.LastDelivery.IsZero() })
			if n := len(rc.payloads()); n != 2 {
				t.Errorf("%d requests, want the failed one and the retry", n)
			}
		})
	}
}

// The receiver is gone for ten minutes while events keep coming; when it
// is back every event arrives in exactly one request.
func TestDownForMinutes(t *testing.T) {
	rc := newReceiver(t, 200)
	rc.set(200, true)
	clk := clock.NewFake(t0)
	p := newPipeline(t, newSender(t, rc.URL+"/hook"), clk, nil)
	runPipeline(t, p)
	// advance moves the clock on and waits until the pipeline has acted on
	// the new time: nothing is due, or the next attempt is in the future.
	advance := func(d time.Duration) {
		clk.Advance(d)
		waitFor(t, p, "the pipeline caught up", func(s notify.Status) bool {
			return len(s.Pending) == 0 && (len(s.Queue) == 0 || s.NextAttempt.After(clk.Now()))
		})
	}
	devices := 0
	for elapsed := time.Duration(0); elapsed < 10*time.Minute; elapsed += 5 * time.Second {
		if elapsed%(40*time.Second) == 0 {
			p.Notify(event.Event{Kind: event.Offline, Device: "D" + string(rune('A'+devices))})
			devices++
		}
		advance(5 * time.Second)
	}
	if st := p.Status(); st.Failures < 5 || !strings.Contains(st.LastError, "could not be reached") || len(rc.payloads()) != 0 {
		t.Fatalf("during the outage: %+v", st)
	}
	rc.set(200, false)
	for i := 0; len(p.Status().Queue) > 0; i++ {
		if i > 100 {
			t.Fatalf("not delivered 8 minutes after the receiver came back: %+v", p.Status())
		}
		advance(5 * time.Second)
	}
	seen := map[string]int{}
	ids := map[string]bool{}
	for _, pl := range rc.payloads() {
		if ids[pl.ID] {
			t.Errorf("message %s arrived twice", pl.ID)
		}
		ids[pl.ID] = true
		for _, e := range pl.Events {
			seen[e.Device]++
		}
	}
	for i := range devices {
		if d := "D" + string(rune('A'+i)); seen[d] != 1 {
			t.Errorf("%s reported %d times, want once", d, seen[d])
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  config.ChannelWebhook
		want string
	}{
		{config.ChannelWebhook{URL: "ftp://SECRET@host/x"}, `notifications.channels[1] "ops-hook": webhook.url must be an http:// or https:// URL with a host`},
		{config.ChannelWebhook{URLFile: "/nonexistent/hook-url"}, `notifications.channels[1] "ops-hook": webhook.url_file: open /nonexistent/hook-url: no such file or directory — check the path`},
	} {
		_, err := New(Options{Name: "ops-hook", Where: `notifications.channels[1] "ops-hook"`, Config: &c.cfg})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%v, want %q", err, c.want)
		}
	}
}

// The ID goes first into any composed body, which stays JSON.
func TestWithID(t *testing.T) {
	for body, want := range map[string]string{
		`{"version":"1"}`: `{"id":"a\"b","version":"1"}`,
		`{}`:              `{"id":"a\"b"}`,
	} {
		got := string(withID(body, `a"b`))
		if got != want || !json.Valid([]byte(got)) {
			t.Errorf("withID(%s) = %s, want %s", body, got, want)
		}
	}
}
