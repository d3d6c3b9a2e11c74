package channels

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/notify"
	"github.com/restartinator/restartinator/notify/smtptest"
	"github.com/restartinator/restartinator/notify/webhook"
)

// statusReceiver is a webhook receiver on loopback answering with the
// status the test sets, and keeping what it took (2xx answers only).
type statusReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	took   []webhook.Event
	tries  int
}

func newStatusReceiver(t *testing.T, status int) *statusReceiver {
	r := &statusReceiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var p webhook.Payload
		b, _ := io.ReadAll(req.Body)
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("not a payload: %s", b)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.tries++
		if r.status/100 == 2 {
			r.took = append(r.took, p.Events...)
		}
		w.WriteHeader(r.status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *statusReceiver) set(status int) {
	r.mu.Lock()
	r.status = status
	r.mu.Unlock()
}

// kinds are the events it took: kind, and the channel for channel_*.
func (r *statusReceiver) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.took {
		out = append(out, strings.TrimSuffix(e.Kind+" "+e.NotifyChannel, " "))
	}
	return out
}

// outageRig is an email channel (a real SMTP server on loopback) and a
// webhook channel (an HTTP server on loopback), their pipelines on one fake
// clock, so the backoff between attempts is the test's to move.
type outageRig struct {
	smtp *smtptest.Server
	hook *statusReceiver
	clk  *clock.Fake
	set  *notify.Channels
}

func newOutageRig(t *testing.T, hookStatus int) *outageRig {
	r := &outageRig{smtp: smtptest.NewServer(t, smtptest.Options{Mode: smtptest.Plain}), hook: newStatusReceiver(t, hookStatus),
		clk: clock.NewFake(time.Date(2026, 3, 1, 14, 5, 9, 0, time.UTC))}
	yml := fmt.Sprintf("notifications:\n  email:\n    smtp_host: %s\n    starttls: off\n    email_from: a@example.com\n    email_to: [ops@example.com]\n    coalesce_window: 0s\n  channels:\n", r.smtp.Addr) +
		hookYAML("hook", r.hook.URL, "")
	built, err := Build(&load(t, yml).Notifications, quiet())
	if err != nil {
		t.Fatal(err)
	}
	r.set = notify.NewChannels()
	for _, ch := range built {
		r.set.Put(notify.NewPipeline(ch.Name, ch.Sender, ch.Settings, notify.Options{Clock: r.clk, Hostname: "pi-monitor"}))
	}
	run(t, r.set)
	return r
}

// failures waits until each channel has failed n attempts in a row and
// is waiting out its backoff on the fake clock (one timer each).
func (r *outageRig) failures(t *testing.T, n int, channels ...string) {
	t.Helper()
	for _, channel := range channels {
		p := r.set.Get(channel)
		timeout := time.After(20 * time.Second)
		for {
			st, next := p.Observe()
			if st.Failures == n {
				break
			}
			select {
			case <-next:
			case <-timeout:
				t.Fatalf("%s: timed out waiting for %d failed attempts (status %+v)", channel, n, st)
			}
		}
	}
	r.clk.WaitForTimers(len(channels))
}

func (r *outageRig) subjects() []string {
	var out []string
	for _, m := range r.smtp.Received() {
		out = append(out, m.Subject)
	}
	return out
}

// The webhook's server answers 500: after its third failed attempt the
// email channel says so, once; when the server takes it again, the email
// says it works again, and the webhook never hears about itself.
func TestFailingChannelIsToldToTheOthers(t *testing.T) {
	r := newOutageRig(t, http.StatusInternalServerError)
	r.set.Notify(event.Event{Kind: event.Offline, Device: "Router", Time: r.clk.Now()})
	if m := r.smtp.Wait(t, 20*time.Second); m.Subject != "[restartinator] Router is OFFLINE" {
		t.Fatalf("first mail %q", m.Subject)
	}
	r.failures(t, 1, "hook")
	r.clk.Advance(notify.Backoff(1))
	r.failures(t, 2, "hook")
	if len(r.smtp.Received()) != 1 {
		t.Fatalf("told after 2 failed attempts: %q", r.subjects())
	}
	r.clk.Advance(notify.Backoff(2))
	r.failures(t, 3, "hook")
	m := r.smtp.Wait(t, 20*time.Second)
	if m.Subject != "[restartinator] Notification channel hook is FAILING" || !strings.Contains(m.Body, "webhook: 500 from "+strings.TrimPrefix(r.hook.URL, "http://")) {
		t.Fatalf("failing mail %q\n%s", m.Subject, m.Body)
	}
	// More failed attempts: no more mails.
	for n := 3; n < 6; n++ {
		r.clk.Advance(notify.Backoff(n))
		r.failures(t, n+1, "hook")
	}
	r.hook.set(http.StatusOK)
	r.clk.Advance(notify.Backoff(6))
	if m := r.smtp.Wait(t, 20*time.Second); m.Subject != "[restartinator] Notification channel hook WORKS AGAIN" {
		t.Fatalf("recovery mail %q", m.Subject)
	}
	if got := r.subjects(); len(got) != 3 {
		t.Errorf("mails %q, want offline, failing, works again", got)
	}
	if got := r.hook.kinds(); len(got) != 1 || got[0] != "offline" {
		t.Errorf("the webhook took %q, want only the offline event (never news of itself)", got)
	}
}

// Every channel down: each is reported to the other once, nothing more,
// however long it lasts; when they come back each hears of the other's
// recovery.
func TestAllChannelsDownNoStorm(t *testing.T) {
	r := newOutageRig(t, http.StatusServiceUnavailable)
	r.smtp.Stop()
	r.set.Notify(event.Event{Kind: event.Offline, Device: "Router", Time: r.clk.Now()})
	for n := 1; n <= 8; n++ {
		r.failures(t, n, "email", "hook")
		r.clk.Advance(notify.Backoff(n))
	}
	for _, ch := range []string{"email", "hook"} {
		q := r.set.Get(ch).Status().Queue
		if len(q) != 2 || !strings.Contains(q[1].Title, "is FAILING") {
			var titles []string
			for _, m := range q {
				titles = append(titles, m.Title)
			}
			t.Errorf("%s queue %q, want the offline event and the other channel's failure", ch, titles)
		}
	}
	r.smtp.Start()
	r.hook.set(http.StatusOK)
	r.clk.Advance(time.Hour)
	deadline := time.After(20 * time.Second)
	for len(r.smtp.Received()) < 3 || len(r.hook.kinds()) < 3 {
		select {
		case <-deadline:
			t.Fatalf("mails %q, webhook %q", r.subjects(), r.hook.kinds())
		case <-time.After(10 * time.Millisecond): // real servers answer on their own time
		}
	}
	want := map[string]bool{"offline": true, "channel_failing email": true, "channel_recovered email": true}
	for _, k := range r.hook.kinds() {
		if !want[k] {
			t.Errorf("the webhook took %q", k)
		}
		delete(want, k)
	}
	if len(want) > 0 || len(r.hook.kinds()) != 3 {
		t.Errorf("the webhook took %q", r.hook.kinds())
	}
	for _, s := range r.subjects() {
		if strings.Contains(s, "channel email") {
			t.Errorf("email told about itself: %q", s)
		}
	}
	if got := r.subjects(); len(got) != 3 {
		t.Errorf("mails %q", got)
	}
}
