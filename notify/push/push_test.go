package push

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/notify"
)

var t0 = time.Date(2026, 3, 1, 14, 5, 9, 0, time.UTC)

// request is what a test server received.
type request struct {
	Method, Path, Query string
	Header              http.Header
	Body                string
}

// recorder is an HTTP server on loopback that records every request and
// answers with status.
type recorder struct {
	*httptest.Server
	mu     sync.Mutex
	got    []request
	status int
	body   string
}

func newRecorder(t *testing.T, status int, body string) *recorder {
	r := &recorder{status: status, body: body}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, request{req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Clone(), string(b)})
		status, body := r.status, r.body
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

func (r *recorder) host() string { return strings.TrimPrefix(r.URL, "http://") }

func newSender(t *testing.T, url string) *Sender {
	t.Helper()
	s, err := New(Options{Name: "phone", Where: `notifications.channels[0] "phone" (line 3)`, URL: url})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// message composes a message as the pipeline would.
func message(s *Sender, kinds ...event.Kind) *notify.Message {
	var evs []event.Event
	for _, k := range kinds {
		evs = append(evs, event.Event{Kind: k, Time: t0, Device: "Router", State: "failing", Plug: "rack-strip", ConsecutiveFailures: 3})
	}
	d := notify.NewData(evs, "pi-monitor", "http://pi-monitor:9788/", t0, false)
	title, body := s.Compose(d)
	var ks []string
	for _, k := range kinds {
		ks = append(ks, string(k))
	}
	return &notify.Message{ID: "m1", Created: t0, Kinds: ks, Title: title, Body: body}
}

func send(t *testing.T, s *Sender, m *notify.Message) notify.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Notify(ctx, []*notify.Message{m})[0]
}

// ntfy: POST /topic with the message as the body, the title, priority and
// tags as headers, basic auth from the URL. Each message carries its own
// headers (shoutrrr's ntfy client would repeat the first's). shoutrrr
// spells the priority as its enum's name (High); ntfy reads it in any case.
func TestNtfy(t *testing.T) {
	srv := newRecorder(t, 200, `{"id":"x","event":"message"}`)
	s := newSender(t, "ntfy://alerts:s3cret-pass@"+srv.host()+"/router-watch?disabletls=yes")
	for _, c := range []struct {
		kinds             []event.Kind
		title, prio, tags string
		bodyStart         string
	}{
		{[]event.Kind{event.GaveUp}, "Router is still OFFLINE: GAVE UP power cycling", "High", "rotating_light", "It is still down."},
		{[]event.Kind{event.Recovered}, "Router is ONLINE", "Low", "white_check_mark", "It answers again."},
		{[]event.Kind{event.Offline, event.CycleStarted}, "Router: OFFLINE, then POWER CYCLING", "Default", "warning,arrows_counterclockwise", "14:05 Router is OFFLINE\n14:05 Router is being POWER CYCLED"},
	} {
		before := len(srv.requests())
		if r := send(t, s, message(s, c.kinds...)); r.Err != nil {
			t.Fatalf("%v: %v", c.kinds, r.Err)
		}
		got := srv.requests()[before]
		if got.Method != "POST" || got.Path != "/router-watch" {
			t.Errorf("%v: %s %s, want POST /router-watch", c.kinds, got.Method, got.Path)
		}
		user, pass, ok := (&http.Request{Header: got.Header}).BasicAuth()
		if !ok || user != "alerts" || pass != "s3cret-pass" {
			t.Errorf("%v: basic auth %q %q %v", c.kinds, user, pass, ok)
		}
		for h, want := range map[string]string{"Title": c.title, "Priority": c.prio, "Tags": c.tags} {
			if g := got.Header.Get(h); g != want {
				t.Errorf("%v: header %s = %q, want %q", c.kinds, h, g, want)
			}
		}
		if !strings.HasPrefix(got.Body, c.bodyStart) || !strings.HasSuffix(got.Body, "\nhttp://pi-monitor:9788/") {
			t.Errorf("%v: body\n%s", c.kinds, got.Body)
		}
	}
}

// A priority or tags the URL sets are the user's and stay.
func TestNtfyKeepsURLPriority(t *testing.T) {
	srv := newRecorder(t, 200, `{}`)
	s := newSender(t, "ntfy://"+srv.host()+"/t?disabletls=yes&priority=max&tags=house")
	if r := send(t, s, message(s, event.Recovered)); r.Err != nil {
		t.Fatal(r.Err)
	}
	got := srv.requests()[0]
	if got.Header.Get("Priority") != "Max" || got.Header.Get("Tags") != "house" {
		t.Errorf("priority %q tags %q", got.Header.Get("Priority"), got.Header.Get("Tags"))
	}
}

// Gotify: POST /message?token=..., JSON with title, message and priority.
func TestGotify(t *testing.T) {
	srv := newRecorder(t, 200, `{"id":1}`)
	const token = "AbCdEfGhIjKlMnO"
	s := newSender(t, "gotify://"+srv.host()+"/"+token+"?disabletls=yes")
	if r := send(t, s, message(s, event.CycleFailed)); r.Err != nil {
		t.Fatal(r.Err)
	}
	got := srv.requests()[0]
	if got.Method != "POST" || got.Path != "/message" || got.Query != "token="+token {
		t.Errorf("%s %s?%s", got.Method, got.Path, got.Query)
	}
	var body struct {
		Title, Message string
		Priority       int
	}
	if err := json.Unmarshal([]byte(got.Body), &body); err != nil {
		t.Fatalf("%v: %s", err, got.Body)
	}
	if body.Title != "Router: POWER CYCLE FAILED" || body.Priority != 8 || !strings.HasPrefix(body.Message, "The power cycle did not complete") {
		t.Errorf("body %+v", body)
	}
}

// generic+http: POST to the URL itself; with template=json the title and
// message go in a JSON object.
func TestGenericWebhook(t *testing.T) {
	srv := newRecorder(t, 204, "")
	s := newSender(t, "generic+"+srv.URL+"/hooks/restart?template=json&@X-Api-Key=k3y-abc")
	if r := send(t, s, message(s, event.Offline)); r.Err != nil {
		t.Fatal(r.Err)
	}
	got := srv.requests()[0]
	if got.Method != "POST" || got.Path != "/hooks/restart" || got.Header.Get("Content-Type") != "application/json" || got.Header.Get("X-Api-Key") != "k3y-abc" {
		t.Errorf("%s %s, content type %q, key %q", got.Method, got.Path, got.Header.Get("Content-Type"), got.Header.Get("X-Api-Key"))
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(got.Body), &body); err != nil {
		t.Fatalf("%v: %s", err, got.Body)
	}
	if body["title"] != "Router is OFFLINE" || !strings.HasPrefix(body["message"], "It stopped answering (3 failed checks in a row).") {
		t.Errorf("body %q", body)
	}
}

// Errors say the service, the host and what to check, never the token; a
// 4xx about the message is not retried, one about the token is.
func TestErrors(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		retry  bool
		want   string
	}{
		{401, `{"code":40101,"http":401,"error":"unauthorized"}`, true, "ntfy: 401 from HOST — check the token or password in the URL"},
		{429, `{"code":42901,"http":429,"error":"limit reached"}`, true, "ntfy: 429 from HOST — rate limited; will retry"},
		{500, `oops`, true, "ntfy: 500 from HOST — the service failed; will retry"},
		{400, `{"code":40001,"http":400,"error":"invalid request"}`, false, "ntfy: 400 from HOST ("},
	} {
		srv := newRecorder(t, c.status, c.body)
		s := newSender(t, "ntfy://alerts:tok-SECRET-1234@"+srv.host()+"/topic-SECRET-5678?disabletls=yes")
		r := send(t, s, message(s, event.Offline))
		want := strings.ReplaceAll(c.want, "HOST", srv.host())
		if r.Err == nil || !strings.HasPrefix(r.Err.Error(), want) || r.Retry != c.retry {
			t.Errorf("%d: %v (retry %v), want %q (retry %v)", c.status, r.Err, r.Retry, want, c.retry)
		}
		if r.Err != nil && strings.Contains(r.Err.Error(), "SECRET") {
			t.Errorf("%d: the error shows the token: %v", c.status, r.Err)
		}
	}
	// Nothing listens: retried, and the error says so.
	srv := newRecorder(t, 200, "")
	srv.Close()
	s := newSender(t, "ntfy://"+srv.host()+"/topic-SECRET-5678?disabletls=yes")
	r := send(t, s, message(s, event.Offline))
	if r.Err == nil || !r.Retry || !strings.Contains(r.Err.Error(), "could not be reached") || strings.Contains(r.Err.Error(), "SECRET") {
		t.Errorf("server down: %v (retry %v)", r.Err, r.Retry)
	}
}

// A server that never answers costs the attempt's timeout, and the next
// attempt says the last request is still out instead of piling up more.
func TestHangingServer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(func() { close(release); srv.Close() })
	s := newSender(t, "generic+"+srv.URL+"/hook")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r := s.Notify(ctx, []*notify.Message{message(s, event.Offline)})[0]
	if r.Err == nil || !r.Retry || !strings.Contains(r.Err.Error(), "did not answer in time") {
		t.Fatalf("%v (retry %v)", r.Err, r.Retry)
	}
	r = send(t, s, message(s, event.Offline))
	if r.Err == nil || !strings.Contains(r.Err.Error(), "has not answered the previous request yet") {
		t.Errorf("second attempt: %v", r.Err)
	}
}

// Services whose hosts are fixed: the URL parses, and the message's title,
// priority and text are what would be sent. Nothing is sent.
func TestFixedHostServices(t *testing.T) {
	for _, c := range []struct {
		url, service string
		wantTitle    bool
		prio         string
	}{
		{"telegram://110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw@telegram?chats=@router_alerts", "telegram", true, ""},
		{"discord://W3dE2OZz4C13_4z_uHfDOoC7BqTW288s-z1ykqI0iJnY@693853386302554172", "discord", true, ""},
		{"slack://hook:WNA3PBYV6-F20DUQND3RQ-Webc4MAvoacrpPakR8phF0zi@webhook", "slack", true, ""},
		{"pushover://shoutrrr:azGDORePK8gMaC0QOYAMyEEuzJnyUi@uQiRzpo4DXghDmr9QzzfQu27cmVRsG", "pushover", true, "1"},
	} {
		s := newSender(t, c.url)
		if s.Service() != c.service {
			t.Errorf("%s: service %q", c.service, s.Service())
		}
		m := message(s, event.GaveUp)
		text, params := s.Params(m)
		if title, _ := params.Title(); c.wantTitle && title != "Router is still OFFLINE: GAVE UP power cycling" {
			t.Errorf("%s: title %q", c.service, title)
		}
		if params["priority"] != c.prio {
			t.Errorf("%s: priority %q, want %q", c.service, params["priority"], c.prio)
		}
		if !strings.HasPrefix(text, "It is still down.") || len([]rune(text)) > notify.MaxMessage {
			t.Errorf("%s: text %q", c.service, text)
		}
		if strings.Contains(s.Destination(), "AAHdqTcv") || strings.Contains(s.Destination(), "W3dE2") ||
			strings.Contains(s.Destination(), "uQiRzpo4") || strings.Contains(s.Destination(), "693853386") {
			t.Errorf("%s: destination shows the token: %s", c.service, s.Destination())
		}
		if c.service == "pushover" && s.Destination() != "a test message to pushover (api.pushover.net)" {
			t.Errorf("pushover: destination %q", s.Destination())
		}
	}
}

// Bad URLs are config errors naming the channel and line, without the URL.
func TestBadURLs(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"ntfyy://ntfy.sh/topic-SECRET", `notifications.channels[0] "phone" (line 3): url: unknown service "ntfyy" — use one of `},
		{"not a url SECRET", `notifications.channels[0] "phone" (line 3): url is not a service URL like ntfy://ntfy.sh/topic`},
		{"telegram://SECRET@telegram", `notifications.channels[0] "phone" (line 3): url: telegram does not accept it`},
	} {
		_, err := New(Options{Name: "phone", Where: `notifications.channels[0] "phone" (line 3)`, URL: c.url})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.url, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: the error shows the URL: %v", c.url, err)
		}
	}
}

func TestTemplatesChecked(t *testing.T) {
	_, err := New(Options{Name: "phone", Where: `notifications.channels[0] "phone"`, URL: "ntfy://ntfy.sh/t", MessageTemplate: "{{ .Event.Nope }}"})
	if err == nil || !strings.Contains(err.Error(), `notifications.channels[0] "phone": message_template:`) {
		t.Errorf("%v", err)
	}
}

// FuzzNew: any URL is either a sender or an error that does not show the
// URL's password.
func FuzzNew(f *testing.F) {
	for _, u := range []string{
		"ntfy://alerts:pw-SECRET@127.0.0.1:8080/topic?disabletls=yes",
		"telegram://110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw@telegram?chats=@x",
		"generic+http://127.0.0.1:1/hook?template=json",
		"gotify://127.0.0.1/AbCdEfGhIjKlMnO",
		"pushover://shoutrrr:tok@user",
		"%zz",
	} {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if strings.HasPrefix(strings.ToLower(raw), "matrix") {
			t.Skip("matrix logs in when initialised: no network from a fuzz test")
		}
		s, err := New(Options{Name: "f", Where: "f", URL: raw})
		if err != nil {
			if u, perr := url.Parse(raw); perr == nil && u.User != nil {
				if p, ok := u.User.Password(); ok && len(p) >= 4 && strings.Contains(err.Error(), p) {
					t.Fatalf("the error shows the password: %v", err)
				}
			}
			return
		}
		_ = s.Destination()
	})
}

// shoutrrr's Send takes no context: a server that never answers must not
// hold up the channel's pipeline. The attempt is abandoned at the
// channel's timeout, the event stays queued with the reason, Notify keeps
// returning at once, and a shutdown flush ends when its own context does.
func TestHangingServerDoesNotHoldThePipeline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(func() { close(release); srv.Close() })
	s := newSender(t, "generic+"+srv.URL+"/hook")
	p := notify.NewPipeline("phone", s, notify.Settings{QueueSize: 10, Timeout: 200 * time.Millisecond},
		notify.Options{Clock: clock.NewFake(time.Date(2026, 3, 1, 14, 5, 9, 0, time.UTC))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	p.Notify(event.Event{Kind: event.Offline, Device: "Router"})
	deadline := time.After(20 * time.Second)
	for {
		st, next := p.Observe()
		if st.Failures == 1 {
			if !strings.Contains(st.LastError, "did not answer in time") || len(st.Queue) != 1 {
				t.Fatalf("after the abandoned attempt: %+v", st)
			}
			break
		}
		select {
		case <-next:
		case <-deadline:
			t.Fatal("the attempt was not abandoned at the channel's timeout")
		}
	}
	for range 100 {
		p.Notify(event.Event{Kind: event.Recovered, Device: "Router"}) // never waits on the hung send
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer fcancel()
	flushed := make(chan error, 1)
	go func() { flushed <- p.Flush(fctx) }()
	select {
	case err := <-flushed:
		if err == nil || !strings.Contains(err.Error(), "not delivered before shutdown") {
			t.Errorf("flush: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the flush waited on the hung send")
	}
}
