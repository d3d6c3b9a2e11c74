package statuspage

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/notify"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeSource is a Source with fixed answers.
type fakeSource struct {
	devices []collector.DeviceStatus
	holding string
	dryRun  bool
}

func (f *fakeSource) Snapshot() []collector.DeviceStatus { return f.devices }
func (f *fakeSource) Holding() string                    { return f.holding }
func (f *fakeSource) DryRun() bool                       { return f.dryRun }

func ptr[T any](v T) *T { return &v }

func sampleDevices() []collector.DeviceStatus {
	return []collector.DeviceStatus{
		{
			Name: "Router", State: "up", Mode: "auto", Probe: "tcp", Target: "192.0.2.1:80", Plug: "desk-plug",
			LastProbe: &collector.ProbeStatus{Time: now.Add(-4 * time.Second), Success: true, DurationSeconds: 0.012},
			LastCycle: ptr(now.Add(-90 * time.Minute)), CyclesInWindow: 1,
			NextScheduledReboot: ptr(now.Add(3*time.Hour + 5*time.Minute)),
			Reading:             &event.Reading{RelayOn: true, Metered: true, Watts: 4.25},
			Events: []event.Event{
				{Kind: event.Offline, Time: now.Add(-100 * time.Minute), State: "failing", Detail: "connection refused"},
				{Kind: event.CycleStarted, Time: now.Add(-90 * time.Minute), State: "cycling", Trigger: "auto", Detail: "switching the outlet off for 10s (auto)"},
				{Kind: event.Recovered, Time: now.Add(-88 * time.Minute), State: "up", Detail: "answers again after the power cycle"},
			},
		},
		{
			Name: "NAS", State: "failing", Mode: "auto", Probe: "http", Target: "http://nas/", Plug: "tapo-plug",
			ConsecutiveFailures: 2,
			LastProbe:           &collector.ProbeStatus{Time: now.Add(-2 * time.Second), DurationSeconds: 5, Error: "connection refused"},
			Reading:             &event.Reading{RelayOn: false},
		},
		{Name: "Printer", State: "gave_up", Mode: "alert", Probe: "tcp", Target: "printer:9100", Plug: "rack-strip", Outlet: "1"},
		{Name: "Weather Station", State: "up", Mode: "monitor", Probe: "icmp", Target: "weather"},
		{Name: "Lab Monitor", State: "up", Mode: "monitor", Probe: "tcp", Target: "lab:22", Plug: "rack-strip", Outlet: "2"},
		{Name: "<script>alert(1)</script>", State: "held", Mode: "auto", Probe: "tcp", Target: "x:1", Plug: "p", Held: "guard: 3 of 4 devices failing"},
	}
}

func newTestPage(src Source, prefix string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", New(Options{Source: src, RoutePrefix: prefix, Version: "1.2.3", Now: func() time.Time { return now }}))
	return mux
}

func fetch(t *testing.T, h http.Handler, method, target string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// page fetches and parses the page, failing unless it answers 200.
func page(t *testing.T, h http.Handler, target string) (string, *html.Node) {
	t.Helper()
	res, body := fetch(t, h, http.MethodGet, target)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", target, res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return body, doc
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func hasClass(n *html.Node, class string) bool {
	v, _ := attr(n, "class")
	return slices.Contains(strings.Fields(v), class)
}

// all returns the elements under n that match.
func all(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && match(d) {
			out = append(out, d)
		}
	}
	return out
}

func first(t *testing.T, n *html.Node, what string, match func(*html.Node) bool) *html.Node {
	t.Helper()
	found := all(n, match)
	if len(found) == 0 {
		t.Fatalf("no %s in %s", what, render(n))
	}
	return found[0]
}

func byClass(class string) func(*html.Node) bool {
	return func(n *html.Node) bool { return hasClass(n, class) }
}

func byTag(tag string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == tag }
}

// text is the text of n as it reads, with runs of white space collapsed;
// the spans styled as blocks (sub lines, details) start a new word.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
		case hasClass(n, "sub") || hasClass(n, "detail"):
			b.WriteString(" ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func render(n *html.Node) string {
	var b strings.Builder
	html.Render(&b, n)
	return b.String()
}

// deviceRows maps each device name to its main row, in page order.
func deviceRows(t *testing.T, doc *html.Node) ([]string, map[string]*html.Node) {
	t.Helper()
	var names []string
	rows := map[string]*html.Node{}
	for _, tr := range all(doc, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "device") }) {
		name, _ := attr(tr, "data-device")
		names = append(names, name)
		rows[name] = tr
	}
	return names, rows
}

func TestStatusPageListsDevicesAndStates(t *testing.T) {
	src := &fakeSource{devices: sampleDevices()}
	_, doc := page(t, newTestPage(src, ""), "/")
	names, rows := deviceRows(t, doc)
	if want := []string{"Router", "NAS", "Printer", "Weather Station", "Lab Monitor", "<script>alert(1)</script>"}; !slices.Equal(names, want) {
		t.Fatalf("rows %q, want %q", names, want)
	}
	cell := func(name, class string) string {
		return text(first(t, rows[name], class, byClass(class)))
	}
	for _, c := range []struct {
		device, class, want string
	}{
		{"Router", "c-name", "Router auto · tcp 192.0.2.1:80"},
		{"Router", "c-state", "up"},
		{"Router", "c-probe", "ok · 12 ms 4s ago"},
		{"Router", "c-failures", "0"},
		{"Router", "c-cycle", "1h 30m ago 1 in window"},
		{"Router", "c-next", "in 3h 5m"},
		{"Router", "c-plug", "desk-plug relay on · 4.3 W"},
		{"NAS", "c-state", "failing"},
		{"NAS", "c-probe", "failed · 5.0 s connection refused 2s ago"},
		{"NAS", "c-failures", "2"},
		{"NAS", "c-cycle", "never 0 in window"},
		{"NAS", "c-next", "none"},
		{"NAS", "c-plug", "tapo-plug relay off"},
		{"Printer", "c-name", "Printer alert only · tcp printer:9100"},
		{"Printer", "c-state", "gave up"},
		{"Printer", "c-probe", "not probed yet"},
		{"Printer", "c-plug", "rack-strip · outlet 1 no reading"},
		{"Weather Station", "c-name", "Weather Station monitor only · icmp weather"},
		{"Weather Station", "c-plug", "no plug"},
		{"<script>alert(1)</script>", "c-state", "held guard: 3 of 4 devices failing"},
	} {
		if got := cell(c.device, c.class); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.device, c.class, got, c.want)
		}
	}
	// The state is a word and a colour.
	for name, want := range map[string]string{"Router": "state-up", "NAS": "state-failing", "Printer": "state-gave_up", "<script>alert(1)</script>": "state-held"} {
		if s := first(t, rows[name], "state badge", byClass("state")); !hasClass(s, want) {
			t.Errorf("%s: state badge %q lacks class %s", name, render(s), want)
		}
	}
	// Times carry the exact moment for machines and tooltips.
	tm := first(t, first(t, rows["Router"], "next", byClass("c-next")), "time", byTag("time"))
	if dt, _ := attr(tm, "datetime"); dt != "2026-03-01T15:05:00Z" {
		t.Errorf("next reboot datetime %q", dt)
	}
}

func TestStatusPageEventsNewestFirst(t *testing.T) {
	_, doc := page(t, newTestPage(&fakeSource{devices: sampleDevices()}, ""), "/")
	var routerEvents *html.Node
	for _, tr := range all(doc, byClass("events-row")) {
		if name, _ := attr(tr, "data-device"); name == "Router" {
			routerEvents = tr
		}
	}
	if routerEvents == nil {
		t.Fatal("no events row for Router")
	}
	if got := text(first(t, routerEvents, "summary", byTag("summary"))); got != "Recent events for Router (3)" {
		t.Errorf("summary %q", got)
	}
	var got []string
	for _, li := range all(routerEvents, byTag("li")) {
		got = append(got, text(li))
	}
	want := []string{
		"1h 28m ago recovered → up answers again after the power cycle",
		"1h 30m ago cycle started (auto) → cycling switching the outlet off for 10s (auto)",
		"1h 40m ago offline → failing connection refused",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n%q\nwant\n%q", got, want)
	}
}

func TestStatusPageEscapesNames(t *testing.T) {
	body, doc := page(t, newTestPage(&fakeSource{devices: sampleDevices()}, ""), "/")
	if strings.Contains(body, "<script>alert(1)") {
		t.Errorf("the device name reached the page unescaped")
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the escaped device name is missing")
	}
	for _, s := range all(doc, byTag("script")) {
		if src, _ := attr(s, "src"); !strings.HasPrefix(src, "static/statuspage.js") {
			t.Errorf("unexpected script element %s", render(s))
		}
	}
	_, rows := deviceRows(t, doc)
	if got := text(first(t, rows["<script>alert(1)</script>"], "name", byClass("name"))); got != "<script>alert(1)</script>" {
		t.Errorf("name shows as %q", got)
	}
}

func TestStatusPageCycleButtons(t *testing.T) {
	_, doc := page(t, newTestPage(&fakeSource{devices: sampleDevices()}, ""), "/")
	_, rows := deviceRows(t, doc)
	for name, want := range map[string]bool{
		"Router":          true,
		"Printer":         true, // alert mode: manual cycles are what it is for
		"Weather Station": false,
		"Lab Monitor":     false, // monitor mode never cycles, plug or not
	} {
		buttons := all(rows[name], byClass("cycle"))
		if p := all(rows[name], byClass("pause")); len(p) != 1 || text(p[0]) != "Pause" {
			t.Errorf("%s: pause buttons %d, want one Pause (any device may be paused)", name, len(p))
		}
		if got := len(buttons) == 1; got != want {
			t.Errorf("%s: %d buttons, want button=%v", name, len(buttons), want)
			continue
		}
		if !want {
			continue
		}
		b := buttons[0]
		if typ, _ := attr(b, "type"); typ != "button" {
			t.Errorf("%s: button type %q", name, typ)
		}
		if label, _ := attr(b, "aria-label"); label != "Cycle now: "+name {
			t.Errorf("%s: aria-label %q", name, label)
		}
		if text(b) != "Cycle now" {
			t.Errorf("%s: button text %q", name, text(b))
		}
		// Without JavaScript the button could do nothing: the script shows it.
		if _, hidden := attr(b, "hidden"); !hidden {
			t.Errorf("%s: the button shows before the script runs", name)
		}
	}
	for name, tr := range rows {
		out := first(t, tr, "outcome", byClass("outcome"))
		if live, _ := attr(out, "aria-live"); live != "polite" {
			t.Errorf("%s: outcome is not a live region: %s", name, render(out))
		}
	}
}

func TestStatusPageGuardAndDryRun(t *testing.T) {
	for _, c := range []struct {
		name           string
		src            fakeSource
		guard, dry     string
		guardWarn, dwn bool
	}{
		{"calm", fakeSource{}, "Guard: not holding: automatic cycles may run", "Dry run: off: cycles switch power", false, false},
		{"holding in dry run", fakeSource{holding: "no guard target answers", dryRun: true},
			"Guard: holding automatic cycles: no guard target answers (manual cycles still run)",
			"Dry run: on: cycles are decided and logged, power is never switched", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, doc := page(t, newTestPage(&c.src, ""), "/")
			g := first(t, doc, "guard", func(n *html.Node) bool { id, _ := attr(n, "id"); return id == "guard" })
			d := first(t, doc, "dry run", func(n *html.Node) bool { id, _ := attr(n, "id"); return id == "dry-run" })
			if text(g) != c.guard || hasClass(g, "banner-warn") != c.guardWarn {
				t.Errorf("guard: %s", render(g))
			}
			if text(d) != c.dry || hasClass(d, "banner-warn") != c.dwn {
				t.Errorf("dry run: %s", render(d))
			}
			if p := first(t, doc, "no-devices", func(n *html.Node) bool { id, _ := attr(n, "id"); return id == "no-devices" }); text(p) != "No devices are configured." {
				t.Errorf("no-devices note: %s", render(p))
			} else if _, hidden := attr(p, "hidden"); hidden {
				t.Errorf("no-devices note hidden with no devices")
			}
		})
	}
}

// Every link, script and stylesheet resolves below the prefix, and the
// assets answer there.
func TestStatusPageRoutePrefix(t *testing.T) {
	for _, prefix := range []string{"", "/restart", "/a/b"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			h := newTestPage(&fakeSource{devices: sampleDevices()}, prefix)
			base, _ := url.Parse("http://example.test" + prefix + "/")
			_, doc := page(t, h, base.Path)
			var refs []string
			for _, n := range all(doc, func(n *html.Node) bool { return n.Data == "a" || n.Data == "link" || n.Data == "script" }) {
				for _, k := range []string{"href", "src"} {
					if v, ok := attr(n, k); ok && !strings.HasPrefix(v, "#") {
						refs = append(refs, v)
					}
				}
			}
			for _, want := range []string{"metrics", "config", "-/healthy", "api/v1/devices"} {
				if !slices.Contains(refs, want) {
					t.Errorf("no link to %s in %q", want, refs)
				}
			}
			for _, ref := range refs {
				u, err := base.Parse(ref)
				if err != nil || u.Host != base.Host || !strings.HasPrefix(u.Path, prefix+"/") {
					t.Errorf("%q resolves to %v (%v), outside %s/", ref, u, err, prefix)
				}
				if !strings.HasPrefix(u.Path, prefix+"/static/") {
					continue
				}
				res, body := fetch(t, h, http.MethodGet, u.RequestURI())
				if res.StatusCode != http.StatusOK || len(body) == 0 {
					t.Errorf("GET %s: %d", u.RequestURI(), res.StatusCode)
				}
				if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") && !strings.HasPrefix(ct, "text/javascript") {
					t.Errorf("GET %s: Content-Type %q", u.RequestURI(), ct)
				}
			}
		})
	}
}

func TestStatusPageNotFound(t *testing.T) {
	h := newTestPage(&fakeSource{devices: sampleDevices()}, "/restart")
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/restart/", 200},
		{"HEAD", "/restart/", 200},
		{"GET", "/restart/static/statuspage.css", 200},
		{"GET", "/restart/nope", 404},
		{"GET", "/restart/index.html", 404},
		{"GET", "/restart/static/", 404},
		{"GET", "/restart/static/missing.js", 404},
		{"GET", "/restart/api/v1/unknown", 404},
		{"GET", "/elsewhere", 404},
		{"POST", "/restart/", 405},
		{"DELETE", "/restart/static/statuspage.js", 405},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			res, body := fetch(t, h, c.method, c.path)
			if res.StatusCode != c.code {
				t.Errorf("%d, want %d: %s", res.StatusCode, c.code, body)
			}
		})
	}
}

func TestStatusPageHeaders(t *testing.T) {
	h := newTestPage(&fakeSource{}, "")
	res, _ := fetch(t, h, http.MethodGet, "/")
	for k, want := range map[string]string{
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "no-store",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	// Assets revalidate cheaply.
	res, _ = fetch(t, h, http.MethodGet, "/static/statuspage.js")
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on the script")
	}
	req := httptest.NewRequest(http.MethodGet, "/static/statuspage.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", rec.Code)
	}
}

func TestStatusPageRefreshWithoutScript(t *testing.T) {
	body, doc := page(t, newTestPage(&fakeSource{}, ""), "/")
	ns := first(t, doc, "noscript", func(n *html.Node) bool { return n.Data == "noscript" && n.Parent.Data == "head" })
	// The parser keeps <noscript> content as text when scripting is assumed on.
	if !strings.Contains(render(ns), `http-equiv="refresh"`) && !strings.Contains(body, `<noscript><meta http-equiv="refresh" content="3"></noscript>`) {
		t.Errorf("no meta refresh for browsers without JavaScript: %s", render(ns))
	}
	if strings.Count(body, `http-equiv="refresh"`) != 1 {
		t.Errorf("a meta refresh outside <noscript> would reload pages that run the script")
	}
}

func TestRelativeTimesAndLatency(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "now"},
		{999 * time.Millisecond, "now"},
		{-999 * time.Millisecond, "now"},
		{1500 * time.Millisecond, "1s ago"},
		{59 * time.Second, "59s ago"},
		{61 * time.Second, "1m 1s ago"},
		{-(3*time.Hour + 5*time.Minute), "in 3h 5m"},
		{50 * time.Hour, "2d 2h ago"},
	} {
		if got := relTime(now.Add(-c.d), now); got != c.want {
			t.Errorf("relTime(now-%s) = %q, want %q", c.d, got, c.want)
		}
	}
	for secs, want := range map[float64]string{0.0004: "0.4 ms", 0.00125: "1.3 ms", 0.0125: "13 ms", 0.9994: "999 ms", 1: "1.0 s", 1.25: "1.3 s", 5.04: "5.0 s"} {
		if got := latency(secs); got != want {
			t.Errorf("latency(%v) = %q, want %q", secs, got, want)
		}
	}
}

// The notification channels: whether each delivers, when it last did and
// its last error (escaped).
func TestStatusPageChannels(t *testing.T) {
	channels := []notify.Status{
		{Channel: "email", LastDelivery: now.Add(-3 * time.Minute)},
		{Channel: "phone", Failures: 3, NextAttempt: now.Add(20 * time.Second), LastDelivery: now.Add(-2 * time.Hour),
			LastFailure: now.Add(-10 * time.Second), LastError: "ntfy: 401 from 127.0.0.1:8080 — check the token or password in the URL <b>",
			Queue: make([]notify.Message, 2)},
		{Channel: "ops-hook"},
	}
	mux := http.NewServeMux()
	mux.Handle("/", New(Options{Source: &fakeSource{}, Now: func() time.Time { return now }, Channels: func() []notify.Status { return channels }}))
	_, doc := page(t, mux, "/")
	want := map[string][]string{
		"email":    {"email", "delivering", "3m 0s ago", "none", "0"},
		"phone":    {"phone", "failing (3 attempts in a row), next try in 20s", "2h 0m ago", "ntfy: 401 from 127.0.0.1:8080 — check the token or password in the URL <b> 10s ago", "2"},
		"ops-hook": {"ops-hook", "no deliveries yet", "never", "none", "0"},
	}
	got := map[string][]string{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "tr" && hasClass(n, "channel") {
			name, _ := attr(n, "data-channel")
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode {
					got[name] = append(got[name], text(c))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	for name, w := range want {
		if !slices.Equal(got[name], w) {
			t.Errorf("%s: %q, want %q", name, got[name], w)
		}
	}
	// Without channels there is no section.
	body, _ := page(t, newTestPage(&fakeSource{}, ""), "/")
	if strings.Contains(body, "Notification channels") {
		t.Error("a channels section with no channels")
	}
}
