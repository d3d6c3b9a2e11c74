package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/restartinator/restartinator/actuator/hostreset"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/testlog"
)

type lockedBuffer = testlog.Buffer

type cmdWatchdog struct {
	mu     sync.Mutex
	opened []string
}

func (w *cmdWatchdog) Open(path string) (hostreset.Device, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.opened = append(w.opened, path)
	return w, nil
}

func (w *cmdWatchdog) SetTimeout(d time.Duration) (time.Duration, error) { return d, nil }

func (w *cmdWatchdog) calls() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.opened...)
}

type cmdRunner struct {
	mu   sync.Mutex
	runs []string
}

func (r *cmdRunner) Run(_ context.Context, path string, args []string) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, strings.Join(append([]string{path}, args...), " "))
	return nil, nil
}

func (r *cmdRunner) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.runs...)
}

type hostResetHarness struct {
	wd   *cmdWatchdog
	run  *cmdRunner
	clk  *clock.Fake
	out  *lockedBuffer
	logs *lockedBuffer
	cmd  command
	app  *kingpin.Application
}

// newHostResetHarness builds an app shaped like main's (a global
// --config.file with a default) around fakes for every side effect.
func newHostResetHarness(t *testing.T) *hostResetHarness {
	t.Helper()
	h := &hostResetHarness{
		wd:  &cmdWatchdog{},
		run: &cmdRunner{},
		clk: clock.NewFake(time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC)),
		out: &lockedBuffer{}, logs: &lockedBuffer{},
	}
	h.app = kingpin.New("restartinator", "")
	h.app.Terminate(nil)
	// An absolute default that does not exist, like restartinator.yml in a
	// directory without one.
	h.app.Flag("config.file", "").Default(filepath.Join(t.TempDir(), "restartinator.yml")).String()
	h.cmd = registerHostReset(h.app, &hostResetCmd{opener: h.wd, runner: h.run, clock: h.clk})
	return h
}

func (h *hostResetHarness) start(t *testing.T, ctx context.Context, args ...string) <-chan int {
	t.Helper()
	chosen, err := h.app.Parse(append([]string{"host-reset"}, args...))
	if err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	if chosen != "host-reset" {
		t.Fatalf("chose %q", chosen)
	}
	logger := slog.New(slog.NewTextHandler(h.logs, nil))
	code := make(chan int, 1)
	go func() { code <- h.cmd.run(ctx, logger, h.out) }()
	return code
}

func exitCode(t *testing.T, code <-chan int) int {
	t.Helper()
	select {
	case c := <-code:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("host-reset did not return")
		return -1
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "restartinator.yml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const hostResetYAML = `
host_reset:
  method: watchdog
  fallback: rtc
  watchdog: {device: /dev/watchdog1, timeout: 2m}
  rtc: {device: /dev/rtc1, mode: mem, wake_after: 45s, rtcwake: /opt/bin/rtcwake}
`

func TestHostResetDryRunDoesNothing(t *testing.T) {
	h := newHostResetHarness(t)
	cfg := writeConfig(t, hostResetYAML)
	if c := exitCode(t, h.start(t, context.Background(), "--method", "rtc", "--dry-run", "--config.file", cfg)); c != 0 {
		t.Fatalf("exit %d; logs:\n%s", c, h.logs)
	}
	if len(h.wd.calls()) != 0 || len(h.run.calls()) != 0 {
		t.Fatalf("dry run opened %v, ran %v", h.wd.calls(), h.run.calls())
	}
	// --method rtc makes the configured fallback (rtc) moot.
	want := "dry run: would hard-reset this host"
	if !strings.Contains(h.out.String(), want) || !strings.Contains(h.out.String(), "via rtc: /opt/bin/rtcwake -d /dev/rtc1 -m mem -s 45\n") {
		t.Errorf("stdout:\n%s", h.out)
	}
	if !strings.Contains(h.logs.String(), `argv="[/opt/bin/rtcwake -d /dev/rtc1 -m mem -s 45]"`) {
		t.Errorf("logs:\n%s", h.logs)
	}
}

func TestHostResetRTCWarnsThenRuns(t *testing.T) {
	h := newHostResetHarness(t)
	code := h.start(t, context.Background(), "--method", "rtc", "--device", "/dev/rtc2", "--config.file", writeConfig(t, hostResetYAML))
	h.clk.WaitForTimers(1) // the countdown
	if !strings.Contains(h.out.String(), "WARNING: this hard-resets this host") || !strings.Contains(h.out.String(), "Press Ctrl-C within 10s") {
		t.Fatalf("no warning before acting:\n%s", h.out)
	}
	if len(h.run.calls()) != 0 {
		t.Fatal("ran rtcwake before the countdown ended")
	}
	h.clk.Advance(10 * time.Second)
	if c := exitCode(t, code); c != 0 {
		t.Fatalf("exit %d; logs:\n%s", c, h.logs)
	}
	if got := h.run.calls(); len(got) != 1 || got[0] != "/opt/bin/rtcwake -d /dev/rtc2 -m mem -s 45" {
		t.Fatalf("ran %q", got)
	}
}

func TestHostResetCtrlCDuringCountdown(t *testing.T) {
	h := newHostResetHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	code := h.start(t, ctx, "--method", "watchdog")
	h.clk.WaitForTimers(1)
	cancel()
	if c := exitCode(t, code); c != 1 {
		t.Fatalf("exit %d", c)
	}
	if len(h.wd.calls()) != 0 {
		t.Fatal("opened the watchdog after an abort")
	}
	if !strings.Contains(h.out.String(), "Aborted; nothing was done.") {
		t.Errorf("stdout:\n%s", h.out)
	}
}

// Without a config file the built-in defaults apply; the watchdog is armed
// after the countdown and held until the host resets (or here, until the
// fake clock says it outlived the timeout).
func TestHostResetWatchdogWithDefaults(t *testing.T) {
	h := newHostResetHarness(t)
	code := h.start(t, context.Background(), "--method", "watchdog", "--countdown", "1s")
	h.clk.WaitForTimers(1)
	if !strings.Contains(h.out.String(), "Ctrl-C does not disarm it") {
		t.Errorf("no watchdog warning:\n%s", h.out)
	}
	h.clk.Advance(time.Second)
	h.clk.WaitForTimers(1) // waiting past the watchdog's timeout
	if got := h.wd.calls(); len(got) != 1 || got[0] != "/dev/watchdog" {
		t.Fatalf("opened %v", got)
	}
	h.clk.Advance(5*time.Minute + 150*time.Second)
	if c := exitCode(t, code); c != 1 {
		t.Fatalf("exit %d", c)
	}
	if !strings.Contains(h.logs.String(), "host still alive") {
		t.Errorf("logs:\n%s", h.logs)
	}
}

func TestHostResetMissingConfigNamedOnPurpose(t *testing.T) {
	h := newHostResetHarness(t)
	missing := filepath.Join(t.TempDir(), "nope.yml")
	if c := exitCode(t, h.start(t, context.Background(), "--method", "rtc", "--config.file", missing)); c != 1 {
		t.Fatalf("exit %d", c)
	}
	if !strings.Contains(h.logs.String(), "nope.yml") || len(h.run.calls()) != 0 {
		t.Errorf("logs:\n%s\nran %v", h.logs, h.run.calls())
	}
}

func TestHostResetConfigDryRunWins(t *testing.T) {
	h := newHostResetHarness(t)
	cfg := writeConfig(t, "global:\n  dry_run: true\n"+hostResetYAML)
	if c := exitCode(t, h.start(t, context.Background(), "--method", "watchdog", "--config.file", cfg)); c != 0 {
		t.Fatalf("exit %d; logs:\n%s", c, h.logs)
	}
	if len(h.wd.calls()) != 0 || len(h.run.calls()) != 0 || !strings.Contains(h.out.String(), "dry run") {
		t.Fatalf("global.dry_run ignored: opened %v, ran %v\n%s", h.wd.calls(), h.run.calls(), h.out)
	}
}

// The command parses inside the real application (no duplicate flags) and a
// dry run through it touches nothing.
func TestHostResetThroughRun(t *testing.T) {
	// Real side effects here, so every path points into a temp dir where
	// nothing exists: even a broken dry run could not reset this host.
	dir := t.TempDir()
	wd, rtcwake := filepath.Join(dir, "watchdog1"), filepath.Join(dir, "rtcwake")
	cfg := writeConfig(t, strings.NewReplacer("/dev/watchdog1", wd, "/opt/bin/rtcwake", rtcwake).Replace(hostResetYAML))
	var out, errOut bytes.Buffer
	code := run([]string{"host-reset", "--method", "watchdog", "--dry-run", "--config.file", cfg}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, &out, &errOut)
	}
	if !strings.Contains(out.String(), "dry run: would hard-reset this host") || !strings.Contains(out.String(), "watchdog "+wd+" (timeout 2m, never fed), falling back to rtc: "+rtcwake) {
		t.Errorf("stdout:\n%s", &out)
	}
}
