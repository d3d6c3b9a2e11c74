package channels

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/internal/state"
	"github.com/restartinator/restartinator/notify"
	"github.com/restartinator/restartinator/notify/smtptest"
	"github.com/restartinator/restartinator/notify/webhook"
)

func quiet() Options { return Options{Hostname: "pi-monitor"} }

func load(t *testing.T, yml string) *config.Config {
	t.Helper()
	c, err := config.Load([]byte(yml), "restartinator.yml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Unknown services and bad URLs are config errors naming the channel and
// its line, never showing the URL.
func TestBuildErrors(t *testing.T) {
	for _, c := range []struct{ yml, want string }{
		{`notifications:
  channels:
    - name: ok
      url: ntfy://ntfy.sh/fine
    - name: phone
      url: ntfyy://ntfy.sh/SECRET-topic
`, `notifications.channels[1] "phone" (line 5): url: unknown service "ntfyy" — use one of bark, discord, generic, `},
		{`notifications:
  channels:
    - name: hook
      webhook: {url: "ftp://SECRET@example.com/"}
`, `notifications.channels[0] "hook" (line 3): webhook.url must be an http:// or https:// URL with a host`},
		{`notifications:
  channels:
    - name: phone
      url: ntfy://ntfy.sh/SECRET
      title_template: "{{ .Nope }}"
`, `notifications.channels[0] "phone" (line 3): title_template: template: title_template:1:3: executing "title_template" at <.Nope>: can't evaluate field Nope`},
	} {
		_, err := Build(&load(t, c.yml).Notifications, quiet())
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%v\nwant %q", err, c.want)
		}
	}
}

// receiver is a JSON webhook receiver on loopback. down: every request is
// answered 503. hang: every request waits until the test ends.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	down   bool
	hang   chan struct{}
	events map[string]int // device/kind -> times received
	reqs   int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{events: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		down, hang := r.down, r.hang
		r.reqs++
		r.mu.Unlock()
		if hang != nil {
			select {
			case <-hang:
			case <-req.Context().Done():
			}
			return
		}
		if down {
			w.WriteHeader(503)
			return
		}
		var p webhook.Payload
		b, _ := io.ReadAll(req.Body)
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("not a payload: %s", b)
		}
		r.mu.Lock()
		for _, e := range p.Events {
			r.events[e.Device+"/"+e.Kind]++
		}
		r.mu.Unlock()
	}))
	t.Cleanup(func() {
		r.mu.Lock()
		if r.hang != nil {
			close(r.hang)
			r.hang = nil
		}
		r.mu.Unlock()
		r.Close()
	})
	return r
}

func (r *receiver) count() (events map[string]int, reqs int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.events {
		out[k] = v
	}
	return out, r.reqs
}

func hookYAML(name, url string, extra string) string {
	return fmt.Sprintf("    - name: %s\n      webhook: {url: %q}\n      coalesce_window: 0s\n%s", name, url+"/hook", extra)
}

func newSet(t *testing.T, c *config.Config, store notify.Store) *notify.Channels {
	t.Helper()
	built, err := Build(&c.Notifications, quiet())
	if err != nil {
		t.Fatal(err)
	}
	set := notify.NewChannels()
	for _, ch := range built {
		set.Put(notify.NewPipeline(ch.Name, ch.Sender, ch.Settings, notify.Options{Store: store, Hostname: "pi-monitor"}))
	}
	return set
}

func run(t *testing.T, set *notify.Channels) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); set.Run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond) // real servers answer on their own time; this only bounds the wait
	}
}

// Both channels are down at SIGTERM: the flush keeps both queues in the
// state file, and after a restart each channel delivers each event once.
func TestRestartWithTwoQueues(t *testing.T) {
	a, b := newReceiver(t), newReceiver(t)
	a.down, b.down = true, true
	yml := "notifications:\n  channels:\n" + hookYAML("alpha", a.URL, "") + hookYAML("beta", b.URL, "")
	path := filepath.Join(t.TempDir(), "state.json")
	st, err := state.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	set := newSet(t, load(t, yml), st)
	for _, d := range []string{"Router", "NVR"} {
		set.Notify(event.Event{Kind: event.Offline, Device: d, Time: time.Now()})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = set.Flush(ctx)
	for _, want := range []string{"alpha: 1 message not delivered before shutdown, kept for the next start", "beta: 1 message not delivered before shutdown, kept for the next start"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("flush: %v, want %q", err, want)
		}
	}

	// The next start.
	a.mu.Lock()
	a.down = false
	a.mu.Unlock()
	b.mu.Lock()
	b.down = false
	b.mu.Unlock()
	st2, err := state.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	set2 := newSet(t, load(t, yml), st2)
	run(t, set2)
	for _, r := range []*receiver{a, b} {
		waitFor(t, "both events are delivered", func() bool { ev, _ := r.count(); return len(ev) == 2 })
	}
	waitFor(t, "the queues are empty", func() bool {
		for _, s := range set2.Statuses() {
			if len(s.Queue) > 0 {
				return false
			}
		}
		return true
	})
	for name, r := range map[string]*receiver{"alpha": a, "beta": b} {
		ev, _ := r.count()
		for _, k := range []string{"Router/offline", "NVR/offline"} {
			if ev[k] != 1 {
				t.Errorf("%s got %s %d times, want once", name, k, ev[k])
			}
		}
	}
}

// The first version's state file, with its mail_queue, loads and its mail
// is delivered by the email channel.
func TestOldMailQueueDelivered(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{Mode: smtptest.Plain})
	path := filepath.Join(t.TempDir(), "state.json")
	old := `{"version":1,"intents":{},"history":[],"webhook_dedup":{},"mail_queue":{"version":1,"messages":[{"id":"20260301T140509.1.abcd1234","created":"2026-03-01T14:05:09Z","kinds":["offline"],"subject":"[restartinator] Router is OFFLINE","body":"Router is OFFLINE (2026-03-01 14:05:09 UTC)\n","attempts":2}],"seq":1}}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	yml := fmt.Sprintf("notifications:\n  email:\n    smtp_host: %s\n    starttls: off\n    email_from: a@example.com\n    email_to: [ops@example.com]\n", srv.Addr)
	set := newSet(t, load(t, yml), st)
	run(t, set)
	msg := srv.Wait(t, 20*time.Second)
	if msg.Subject != "[restartinator] Router is OFFLINE" || !strings.HasPrefix(msg.MessageID, "20260301T140509.1.abcd1234@") {
		t.Errorf("got %q %q", msg.Subject, msg.MessageID)
	}
	waitFor(t, "the queue is saved empty", func() bool {
		q, _ := st.LoadQueue("email")
		msgs, _, err := notify.DecodeQueue(q)
		return len(q) == 0 || err == nil && len(msgs) == 0
	})
}

// A channel whose receiver hangs holds up neither the caller of Notify
// (the supervisor) nor the other channel. The worst Notify hold-up is
// reported, not asserted (a loaded machine decides it).
func TestHangingChannel(t *testing.T) {
	slow, fast := newReceiver(t), newReceiver(t)
	slow.hang = make(chan struct{})
	yml := "notifications:\n  channels:\n" + hookYAML("slow", slow.URL, "      timeout: 1h\n") + hookYAML("fast", fast.URL, "")
	set := newSet(t, load(t, yml), nil)
	run(t, set)
	const events = 50
	var worst time.Duration
	for i := range events {
		began := time.Now()
		set.Notify(event.Event{Kind: event.Offline, Device: fmt.Sprintf("D%02d", i), Time: time.Now()})
		worst = max(worst, time.Since(began))
		if i == 0 {
			waitFor(t, "the slow receiver holds a request", func() bool { _, n := slow.count(); return n == 1 })
		}
	}
	waitFor(t, "the fast channel delivered every event", func() bool {
		ev, _ := fast.count()
		return len(ev) == events
	})
	ev, _ := fast.count()
	for k, n := range ev {
		if n != 1 {
			t.Errorf("fast: %s %d times", k, n)
		}
	}
	if _, n := slow.count(); n != 1 {
		t.Errorf("the slow receiver got %d requests while the first hangs, want 1", n)
	}
	t.Logf("worst Notify hold-up with one channel hanging: %v over %d events", worst, events)
}
