package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/internal/statuspage"
	"github.com/restartinator/restartinator/internal/testtool"
	"github.com/restartinator/restartinator/notify"
)

// The status page in a real browser: Debian's chromium, headless, against the
// real binary running --demo.

// chromiumPath finds the browser; scripts/test-deps.sh installs it. Without
// one the browser tests skip, except on CI where they must run.
func chromiumPath(t *testing.T) string {
	t.Helper()
	return testtool.Need(t, "chromium", "chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
}

// browser is a headless chromium tab with a fresh profile.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu         sync.Mutex
	dialogs    []string // messages of the dialogs it accepted
	exceptions []string // uncaught JavaScript exceptions
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := chromiumPath(t)
	profile, err := os.MkdirTemp("", "restartinator-chromium")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// Without these, chromium phones home at start-up, and this
		// machine refuses its outbound connections en masse.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
	timeout, cancelTimeout := context.WithTimeout(context.Background(), 3*time.Minute)
	alloc, cancelAlloc := chromedp.NewExecAllocator(timeout, opts...)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelTimeout()
		// Chromium's children may write to the profile for a moment after
		// the browser has gone.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	b := &browser{t: t, ctx: ctx}
	// Subscribing starts the browser; the loops end with the context.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			// The click that opened the confirm waits for it: answer from here.
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			msg := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
			b.mu.Lock()
			b.exceptions = append(b.exceptions, msg)
			b.mu.Unlock()
		}
	}()
	return b
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

// js evaluates an expression that yields a string.
func (b *browser) js(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// row evaluates expr (a JS expression over `row`, the device's main table
// row, and `events`, its events row) for one device; "" when it has no row.
func (b *browser) row(device, expr string) string {
	b.t.Helper()
	name, _ := json.Marshal(device)
	return b.js(fmt.Sprintf(`(() => {
		const row = [...document.querySelectorAll('#devices tr.device')].find((r) => r.dataset.device === %s);
		if (!row) return '';
		const events = row.nextElementSibling;
		return String(%s);
	})()`, name, expr))
}

func (b *browser) state(device string) string {
	return b.row(device, `row.querySelector('.c-state .state').textContent.trim()`)
}

func (b *browser) outcome(device string) string {
	return b.row(device, `row.querySelector('.outcome').textContent.trim()`)
}

func (b *browser) seen() (dialogs, exceptions []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.dialogs), slices.Clone(b.exceptions)
}

// screenshot saves the whole page to $ARTIFACTS_DIR, or to a temp dir.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = b.t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// waitRefreshed waits until the page's script has replaced the server's
// "Updated" time with its own, i.e. a fetch of api/v1/devices succeeded.
func (b *browser) waitRefreshed() {
	b.t.Helper()
	first := b.js(`document.querySelector('#updated time').dateTime`)
	waitFor(b.t, "the page's script to refresh the table", func() bool {
		return b.js(`document.querySelector('#updated time').dateTime`) != first
	})
	if e := b.js(`document.getElementById('refresh-error').hidden ? '' : document.getElementById('refresh-error').textContent`); e != "" {
		b.t.Errorf("refresh error shown: %s", e)
	}
}

func TestStatusPageBrowserCycleNow(t *testing.T) {
	b := newBrowser(t)
	_, addr, logs := startBinary(t, "--demo")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("restartinator log:\n%s", logs.String())
		}
	})
	b.do(chromedp.Navigate("http://" + addr + "/"))
	b.waitRefreshed()

	names := b.js(`[...document.querySelectorAll('#devices tr.device')].map((r) => r.dataset.device).join('|')`)
	if want := "Access Point|Front Door Camera|Media Server|Modem|NAS|Printer|Router|Weather Station"; names != want {
		t.Fatalf("device rows %q, want %q", names, want)
	}
	buttons := b.js(`[...document.querySelectorAll('#devices button.cycle')].filter((b) => !b.hidden && b.offsetParent).map((b) => b.getAttribute('aria-label')).join('|')`)
	if want := "Cycle now: Access Point|Cycle now: Front Door Camera|Cycle now: Media Server|Cycle now: Modem|Cycle now: NAS|Cycle now: Printer|Cycle now: Router"; buttons != want {
		t.Errorf("visible buttons %q, want %q (none for the monitor-only Weather Station)", buttons, want)
	}
	table := b.js(`document.getElementById('devices').innerText`)
	for _, bad := range []string{"null", "undefined", "NaN", "[object"} {
		if strings.Contains(table, bad) {
			t.Errorf("the table shows %q:\n%s", bad, table)
		}
	}
	if bg := b.row("Weather Station", `getComputedStyle(row.querySelector('.state')).backgroundColor`); bg == "" || bg == "rgba(0, 0, 0, 0)" {
		t.Errorf("state badge has no colour (%q): is the stylesheet loading?", bg)
	}

	// Printer is in alert mode: the demo never hangs it and restartinator
	// never cycles it by itself, so every step below is ours.
	const device = "Printer"
	waitFor(t, device+" up", func() bool { return b.state(device) == "up" })
	b.do(chromedp.Click(chromedp.CSS(`tr.events-row[data-device="Printer"] summary`)))
	b.do(chromedp.Click(chromedp.CSS(`tr.device[data-device="Printer"] button.cycle`)))
	waitFor(t, "the outcome of Cycle now", func() bool { return strings.Contains(b.outcome(device), "Cycling…") })
	if dialogs, _ := b.seen(); len(dialogs) != 1 || !strings.Contains(dialogs[0], `Power-cycle "Printer" now?`) {
		t.Errorf("confirmations %q", dialogs)
	}

	waitFor(t, device+" cycling", func() bool { return b.state(device) == "cycling" })
	// Asking again while the outlet is off is refused, and the page says so.
	b.do(chromedp.Click(chromedp.CSS(`tr.device[data-device="Printer"] button.cycle`)))
	waitFor(t, "the already-cycling outcome", func() bool { return strings.Contains(b.outcome(device), "Already cycling: ") })

	// booting may last only a moment: the simulated printer answers 3s
	// after power returns. Either the page shows it, or the event log says
	// the printer came back after the cycle.
	var states []string
	waitFor(t, device+" booting or up again", func() bool {
		s := b.state(device)
		if len(states) == 0 || states[len(states)-1] != s {
			states = append(states, s)
		}
		return s == "booting" || s == "up"
	})
	waitFor(t, device+" up after the cycle", func() bool { return b.state(device) == "up" })
	events := func() string { return b.row(device, `events.querySelector('ol.events').innerText`) }
	waitFor(t, "the cycle in the event log", func() bool {
		e := events()
		return strings.Contains(e, "cycle started (manual)") && strings.Contains(e, "answers again after the power cycle")
	})
	if !slices.Contains(states, "booting") {
		t.Logf("booting passed between two refreshes (states seen after cycling: %q); the event log shows the recovery after the cycle", states)
	}
	e := events()
	if i, j := strings.Index(e, "answers again after the power cycle"), strings.Index(e, "cycle started (manual)"); i > j {
		t.Errorf("events are not newest first:\n%s", e)
	}
	if open := b.row(device, `events.querySelector('details').open`); open != "true" {
		t.Errorf("the event list the user opened was closed by a refresh")
	}
	b.screenshot("statuspage-desktop.png")

	// A phone: each device becomes a card, nothing scrolls sideways.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	if w := b.js(`String(document.documentElement.scrollWidth)`); w != "390" {
		t.Errorf("on a 390px wide phone the page is %spx wide", w)
	}
	b.screenshot("statuspage-phone.png")

	if _, exceptions := b.seen(); len(exceptions) > 0 {
		t.Errorf("JavaScript exceptions: %q", exceptions)
	}
}

// Behind a reverse proxy the page, its script and its fetches live under the
// prefix.
func TestStatusPageBrowserRoutePrefix(t *testing.T) {
	b := newBrowser(t)
	_, addr, _ := startBinary(t, "--demo", "--web.external-url=http://proxy.example/restart/")
	b.do(chromedp.Navigate("http://" + addr + "/restart/"))
	b.waitRefreshed()
	links := b.js(`[...document.querySelectorAll('nav a')].map((a) => new URL(a.href).pathname).join(' ')`)
	if want := "/restart/metrics /restart/config /restart/-/healthy /restart/api/v1/devices"; links != want {
		t.Errorf("links %q, want %q", links, want)
	}
	if n := b.js(`String(document.querySelectorAll('#devices tr.device').length)`); n != "8" {
		t.Errorf("%s device rows, want 8", n)
	}
	// What did not change stays the same node, so a refresh keeps a text
	// selection (an error message being copied).
	b.js(`document.querySelector('#devices .c-name .sub').kept = true; ''`)
	b.waitRefreshed()
	if kept := b.js(`String(document.querySelector('#devices .c-name .sub').kept === true)`); kept != "true" {
		t.Errorf("a refresh replaced text that had not changed")
	}
	if _, exceptions := b.seen(); len(exceptions) > 0 {
		t.Errorf("JavaScript exceptions: %q", exceptions)
	}
}

// pageSource feeds the status page fixed devices.
type pageSource []collector.DeviceStatus

func (s pageSource) Snapshot() []collector.DeviceStatus { return s }
func (pageSource) Holding() string                      { return "" }
func (pageSource) DryRun() bool                         { return false }

// The answers a click can get besides 202 and 409 (the demo test sees
// those), each shown in words: the refusals come from the real actionAuth.
// The button is reached and pressed with the keyboard alone.
func TestStatusPageBrowserRefusals(t *testing.T) {
	b := newBrowser(t)
	src := pageSource{
		{Name: "Locked", State: "up", Mode: "auto", Probe: "tcp", Target: "192.0.2.1:80", Plug: "shed"},
		{Name: "Remote", State: "up", Mode: "auto", Probe: "tcp", Target: "192.0.2.2:80", Plug: "shed", Outlet: "2"},
		{Name: "Broken", State: "failing", Mode: "alert", Probe: "tcp", Target: "192.0.2.3:80", Plug: "shed", Outlet: "3"},
	}
	never := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("%s was let through", r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	})
	withToken := &actionAuth{token: constToken("s3cret")}
	noAuth := &actionAuth{token: constToken("")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/devices", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, devicesResponse{Devices: src.Snapshot()})
	})
	mux.HandleFunc("POST /api/v1/devices/{name}/cycle", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("name") {
		case "Locked": // a webhook bearer token is configured: the page cannot know it
			withToken.wrap(never).ServeHTTP(w, r)
		case "Remote": // nothing configured, and the browser is elsewhere on the LAN
			r.RemoteAddr = "192.0.2.50:41000"
			noAuth.wrap(never).ServeHTTP(w, r)
		default:
			writeJSON(w, http.StatusInternalServerError, map[string]string{"status": "failed",
				"error": `plug "shed" (192.0.2.9:9999): connection refused — is the plug on the network?`})
		}
	})
	mux.Handle("/", statuspage.New(statuspage.Options{Source: src}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	b.do(chromedp.Navigate(srv.URL + "/"))
	b.waitRefreshed()
	press := func(device string) {
		t.Helper()
		label, _ := json.Marshal("Cycle now: " + device)
		for range 60 {
			if b.js(`String(document.activeElement.getAttribute('aria-label'))`) == "Cycle now: "+device {
				if o := b.js(`getComputedStyle(document.activeElement).outlineStyle`); o == "none" {
					t.Errorf("the focused button of %s shows no focus outline", device)
				}
				b.do(chromedp.KeyEvent("\r"))
				return
			}
			b.do(chromedp.KeyEvent(kb.Tab))
		}
		t.Fatalf("Tab never reached the button %s", label)
	}
	for _, c := range []struct{ device, want string }{
		{"Locked", "This action needs authentication: a valid bearer token is required (webhook.bearer_token). A browser cannot send the webhook bearer token"},
		{"Remote", "This action needs authentication: configure basic auth or client certificates in --web.config.file"},
		{"Broken", `Not cycled (HTTP 500): plug "shed" (192.0.2.9:9999): connection refused — is the plug on the network?`},
	} {
		press(c.device)
		waitFor(t, c.device+": "+c.want, func() bool { return strings.Contains(b.outcome(c.device), c.want) })
		if live := b.row(c.device, `row.querySelector('.outcome').getAttribute('aria-live')`); live != "polite" {
			t.Errorf("%s: outcome aria-live=%q", c.device, live)
		}
	}
	if dialogs, _ := b.seen(); len(dialogs) != 3 {
		t.Errorf("confirmations %q, want one per press", dialogs)
	}
	b.screenshot("statuspage-refusals.png")
	if _, exceptions := b.seen(); len(exceptions) > 0 {
		t.Errorf("JavaScript exceptions: %q", exceptions)
	}
}

// The script re-renders the rows from api/v1/devices; what it shows must
// read exactly as the server's rendering, which browsers without JavaScript
// see (and which refreshes itself there).
func TestStatusPageBrowserScriptMatchesServer(t *testing.T) {
	b := newBrowser(t)
	// Times far enough away that their wording holds for the test's length.
	now := time.Now()
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	src := pageSource{
		{Name: "Camera <1>", State: "booting", Mode: "auto", Probe: "http", Target: "http://cam/", Plug: "strip", Outlet: "Camera",
			ConsecutiveFailures: 0, BootUntil: at(30 * time.Hour), LastCycle: at(-50 * time.Hour), CyclesInWindow: 2,
			LastProbe: &collector.ProbeStatus{Time: *at(-26 * time.Hour), DurationSeconds: 1.25, Error: "context deadline exceeded"},
			Reading:   &event.Reading{RelayOn: true, Metered: true, Watts: 3.14159},
			Events: []event.Event{
				{Kind: event.CycleStarted, Time: *at(-50 * time.Hour), State: "cycling", Trigger: "manual", Detail: "switching the outlet off", Next: "power returns"},
				{Kind: event.Recovered, Time: *at(-49 * time.Hour), State: "up", Detail: "answers again after the power cycle"},
			}},
		{Name: "NAS", State: "held", Mode: "alert", Probe: "tcp", Target: "nas:445", Plug: "p", Held: "guard: no guard target answers",
			ConsecutiveFailures: 4, NextScheduledReboot: at(72 * time.Hour),
			LastProbe: &collector.ProbeStatus{Time: *at(-25 * time.Hour), Success: true, DurationSeconds: 0.0042},
			Reading:   &event.Reading{RelayOn: false}},
		{Name: "Weather", State: "gave_up", Mode: "monitor", Probe: "icmp", Target: "weather"},
		{Name: "Odd", State: "something new", Mode: "auto", Probe: "tcp", Target: "odd:1", Plug: "p"},
	}
	chans := []notify.Status{
		{Channel: "email", LastDelivery: *at(-27 * time.Hour)},
		{Channel: "phone <b>", Failures: 3, NextAttempt: *at(28 * time.Hour), LastDelivery: *at(-30 * time.Hour),
			LastFailure: *at(-26 * time.Hour), LastError: "ntfy: 401 from 127.0.0.1:8080 — check the token <b>", Queue: make([]notify.Message, 2)},
		{Channel: "ops-hook"},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/devices", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, devicesResponse{Devices: src.Snapshot(), Channels: channelStatuses(chans)})
	})
	mux.Handle("/", statuspage.New(statuspage.Options{Source: src, Channels: func() []notify.Status { return chans }}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// Each device's cells, summary and events, as text.
	const rendered = `JSON.stringify([...document.querySelectorAll('#devices tr.device')].map((row) => {
		const norm = (e) => e.textContent.replace(/\s+/g, ' ').trim();
		const events = row.nextElementSibling;
		return [...row.querySelectorAll('th, td:not(.c-action)')].map(norm)
			.concat([norm(events.querySelector('summary'))], [...events.querySelectorAll('li')].map(norm),
				[...row.querySelectorAll('.state')].map((s) => s.className));
	}).concat([...document.querySelectorAll('#channels tr.channel')].map((row) =>
		[...row.querySelectorAll('th, td')].map((e) => e.textContent.replace(/\s+/g, ' ').trim())
			.concat([...row.querySelectorAll('.state')].map((s) => s.className)))))`
	if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(srv.URL + "/"))
	server := b.js(rendered)
	if n := b.js(`String([...document.querySelectorAll('button.cycle')].filter((b) => b.offsetParent).length)`); n != "0" {
		t.Errorf("without JavaScript %s Cycle now buttons show, which could do nothing", n)
	}
	if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false}); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(srv.URL + "/"))
	b.waitRefreshed()
	script := b.js(rendered)
	if server != script {
		t.Errorf("the script renders the rows differently from the server:\nserver: %s\nscript: %s", server, script)
	}
	for _, want := range []string{"boot window ends in 1d 5h", "failed · 1.3 s", "relay on · 3.1 W", "4.2 ms", "in 2d 23h", "state state-unknown",
		"failing (3 attempts in a row), next try in 1d 3h", "check the token \u003cb\u003e", "no deliveries yet"} {
		if !strings.Contains(script, want) {
			t.Errorf("the rows lack %q: %s", want, script)
		}
	}
	if _, exceptions := b.seen(); len(exceptions) > 0 {
		t.Errorf("JavaScript exceptions: %q", exceptions)
	}
}
