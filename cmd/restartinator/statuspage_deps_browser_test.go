package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/restartinator/restartinator/internal/simdevice"
)

// The real binary with a dependency tree and a pausable device, in
// headless chromium: the tree is indented, the 24-hour bars are drawn,
// Pause and Resume work by keyboard, the dark scheme follows the system
// setting, and nothing scrolls sideways at 390px.
func TestStatusPageBrowserTreeBarsPauseDark(t *testing.T) {
	b := newBrowser(t)
	nas, err := simdevice.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nas.Close() })
	dir := t.TempDir()
	cfg := filepath.Join(dir, "r.yml")
	closed := closedPort(t)
	os.WriteFile(cfg, []byte(fmt.Sprintf(`global: {state_file: %s}
defaults: {check_interval: 1s, retry_interval: 1s, retries: 1, timeout: 500ms}
devices:
  - {name: modem, host: 127.0.0.1, port: %d, mode: monitor}
  - {name: router, host: 127.0.0.1, port: %d, mode: monitor, depends_on: [modem]}
  - {name: nas, host: 127.0.0.1, port: %d, mode: monitor}
`, filepath.Join(dir, "state.json"), closed, closed, nas.Port())), 0o600)
	_, addr, logs := startBinary(t, "--config.file", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("restartinator log:\n%s", logs.String())
		}
	})
	b.do(chromedp.Navigate("http://" + addr + "/"))
	b.waitRefreshed()

	order := func() string {
		return b.js(`[...document.querySelectorAll('#devices tr.device')].map((r) => r.dataset.device + ':' + r.dataset.depth).join('|')`)
	}
	if got, want := order(), "modem:0|router:1|nas:0"; got != want {
		t.Errorf("rows %q, want %q (router under modem)", got, want)
	}
	if pad := b.row("router", `parseFloat(getComputedStyle(row.querySelector('.c-name')).paddingLeft) > parseFloat(getComputedStyle(document.querySelector('tr.device[data-device="modem"] .c-name')).paddingLeft)`); pad != "true" {
		t.Errorf("router is not indented under modem")
	}
	waitFor(t, "router blocked behind the modem", func() bool { return b.state("router") == "blocked" })
	if d := b.row("router", `row.querySelector('.c-state').innerText`); !strings.Contains(d, "waiting for modem") {
		t.Errorf("router's state says %q", d)
	}
	waitFor(t, "the bars drawn", func() bool {
		return b.row("nas", `row.querySelectorAll('svg.bar rect.b-up').length`) == "1" &&
			b.row("modem", `row.querySelectorAll('svg.bar rect.b-down').length`) == "1"
	})
	if w := b.row("nas", `row.querySelector('svg.bar').getBoundingClientRect().width`); w == "0" {
		t.Errorf("the bar has no width")
	}
	if got := b.row("nas", `row.querySelector('.c-avail .sub').textContent`); !strings.HasPrefix(got, "24 h 100.0%") {
		t.Errorf("nas availability %q", got)
	}

	// Pause the NAS by keyboard. The prompts are answered by the page's
	// own window.prompt, replaced here (chromedp answers dialogs blind).
	b.js(`(() => { window.prompt = (msg, def) => def === '1h' ? '2h' : 'disk swap'; return ''; })()`)
	press := func(label string) {
		t.Helper()
		for range 80 {
			if b.js(`String(document.activeElement.getAttribute('aria-label'))`) == label {
				b.do(chromedp.KeyEvent("\r"))
				return
			}
			b.do(chromedp.KeyEvent(kb.Tab))
		}
		t.Fatalf("Tab never reached %q", label)
	}
	press("Pause: nas")
	waitFor(t, "nas paused", func() bool { return b.state("nas") == "paused" })
	if d := b.row("nas", `row.querySelector('.c-state').innerText`); !strings.Contains(d, "disk swap") {
		t.Errorf("nas state says %q", d)
	}
	waitFor(t, "the Resume button", func() bool { return b.row("nas", `row.querySelector('button.pause').textContent`) == "Resume" })
	if f := b.js(`String(document.activeElement.getAttribute('aria-label'))`); f != "Resume: nas" {
		t.Errorf("focus moved to %q after pausing (want it kept on the button)", f)
	}
	b.do(chromedp.KeyEvent("\r"))
	waitFor(t, "nas up again", func() bool { return b.state("nas") == "up" })

	// Dark scheme, from the system setting.
	light := b.js(`getComputedStyle(document.body).backgroundColor`)
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatal(err)
	}
	if dark := b.js(`getComputedStyle(document.body).backgroundColor`); dark != "rgb(13, 17, 23)" || dark == light {
		t.Errorf("dark scheme background %q (light %q)", dark, light)
	}
	b.screenshot("statuspage-tree-dark.png")

	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	if w := b.js(`String(document.documentElement.scrollWidth)`); w != "390" {
		t.Errorf("on a 390px wide phone the page is %spx wide", w)
	}
	b.screenshot("statuspage-tree-phone.png")
	if _, exceptions := b.seen(); len(exceptions) > 0 {
		t.Errorf("JavaScript exceptions: %q", exceptions)
	}
}
