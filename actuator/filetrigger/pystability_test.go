package filetrigger_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/filetrigger"
	"github.com/restartinator/restartinator/actuator/hostreset"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
)

const pyStabilityFixture = "/work/shared/fixtures/seed-configs/py-stability-iot-config.ini"

// fakeWatchdog stands in for /dev/watchdog: it records what was opened and
// which timeout was set, and touches nothing on this host.
type fakeWatchdog struct {
	mu       sync.Mutex
	opened   []string
	timeouts []time.Duration
	onOpen   func()
}

func (f *fakeWatchdog) Open(path string) (hostreset.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened = append(f.opened, path)
	if f.onOpen != nil {
		f.onOpen()
	}
	return f, nil
}

func (f *fakeWatchdog) SetTimeout(d time.Duration) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.timeouts = append(f.timeouts, d)
	return d, nil
}

func (f *fakeWatchdog) state() ([]string, []time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.opened...), append([]time.Duration(nil), f.timeouts...)
}

type events struct {
	mu sync.Mutex
	e  []event.Event
}

func (n *events) Notify(e event.Event) { n.mu.Lock(); n.e = append(n.e, e); n.mu.Unlock() }

// loadFixture loads the py-stability-iot config.ini with its indicator path
// rewritten into a temp dir (and, when singleRun, single_run = true).
func loadFixture(t *testing.T, singleRun bool) (*config.Config, string) {
	t.Helper()
	data, err := os.ReadFile(pyStabilityFixture)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("py-stability-iot fixture %s is absent", pyStabilityFixture)
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	indicator := filepath.Join(dir, "pywatchdog-fault-indicator")
	text := string(data)
	for _, r := range []struct{ old, new string }{
		{"indicator_file_path = /tmp/pywatchdog-fault-indicator", "indicator_file_path = " + indicator},
		{"single_run = false", "single_run = " + map[bool]string{true: "true", false: "false"}[singleRun]},
	} {
		if !strings.Contains(text, r.old) {
			t.Fatalf("fixture no longer contains %q", r.old)
		}
		text = strings.Replace(text, r.old, r.new, 1)
	}
	ini := filepath.Join(dir, "config.ini")
	if err := os.WriteFile(ini, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(ini)
	if err != nil {
		t.Fatalf("LoadFile(%s): %v", ini, err)
	}
	if cfg.Format != config.FormatPyStabilityINI || len(cfg.Triggers.Files) != 1 || cfg.HostReset == nil {
		t.Fatalf("fixture loaded as %q with %d file triggers, host_reset %v", cfg.Format, len(cfg.Triggers.Files), cfg.HostReset)
	}
	if got := cfg.Triggers.Files[0].Path; got != indicator {
		t.Fatalf("trigger path %q, want %q", got, indicator)
	}
	if cfg.Global.SingleRun != singleRun {
		t.Fatalf("single_run = %v, want %v", cfg.Global.SingleRun, singleRun)
	}
	return cfg, indicator
}

// wire builds what main builds from a config: a Resetter over a fake
// watchdog and the file triggers acting through it.
func wire(t *testing.T, cfg *config.Config, clk clock.Clock, wd *fakeWatchdog, ev *events) *filetrigger.Watcher {
	t.Helper()
	r := hostreset.New(cfg.HostReset, hostreset.Options{DryRun: cfg.Global.DryRun, Opener: wd, Clock: clk, Notifier: ev})
	w, err := filetrigger.New(cfg.Triggers.Files, filetrigger.Options{
		HostReset: func(ctx context.Context) error { return r.Reset(ctx, "file") },
		Clock:     clk,
		PollOnly:  true, // deterministic: the fake clock alone decides when to look
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestPyStabilityConfigSingleRunResetsThroughTheWatchdog(t *testing.T) {
	cfg, indicator := loadFixture(t, true)
	clk := clock.NewFake(time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC))
	wd := &fakeWatchdog{}
	wd.onOpen = func() {
		if _, err := os.Lstat(indicator); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("watchdog opened while the indicator file is still there")
		}
	}
	ev := &events{}
	w := wire(t, cfg, clk, wd, ev)
	if err := os.WriteFile(indicator, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	type result struct {
		acted bool
		err   error
	}
	done := make(chan result, 1)
	go func() {
		acted, err := w.CheckOnce(context.Background())
		done <- result{acted, err}
	}()
	clk.WaitForTimers(1) // armed, waiting to outlive wdt_kill_delay
	opened, timeouts := wd.state()
	if len(opened) != 1 || opened[0] != "/dev/watchdog" || len(timeouts) != 1 || timeouts[0] != 300*time.Second {
		t.Fatalf("opened %v with timeouts %v, want /dev/watchdog with 5m (wdt_kill_delay = 300)", opened, timeouts)
	}
	ev.mu.Lock()
	if len(ev.e) != 1 || ev.e[0].Kind != event.HostReset || ev.e[0].Trigger != "file" {
		t.Errorf("events %+v, want one host_reset from trigger file", ev.e)
	}
	ev.mu.Unlock()
	// The fake host survives the watchdog: CheckOnce reports that and returns.
	clk.Advance(300*time.Second + 150*time.Second)
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("CheckOnce did not return")
	}
	if !res.acted || res.err == nil || !strings.Contains(res.err.Error(), "host still alive") {
		t.Fatalf("CheckOnce = %v, %v", res.acted, res.err)
	}
}

func TestPyStabilityConfigBackgroundPollsAtCheckingInterval(t *testing.T) {
	cfg, indicator := loadFixture(t, false)
	if got := cfg.Triggers.Files[0].CheckInterval.D(); got != 5*time.Second {
		t.Fatalf("checking_interval mapped to %v, want 5s", got)
	}
	clk := clock.NewFake(time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC))
	wd := &fakeWatchdog{}
	w := wire(t, cfg, clk, wd, &events{})
	stop := w.Start(context.Background())
	defer stop()

	clk.WaitForTimers(1) // first check done, next poll due in 5s
	if err := os.WriteFile(indicator, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	clk.WaitForTimers(2) // the next poll, and the wait on the armed watchdog
	if opened, _ := wd.state(); len(opened) != 1 || opened[0] != "/dev/watchdog" {
		t.Fatalf("opened %v", opened)
	}
	if _, err := os.Lstat(indicator); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("indicator file not removed: %v", err)
	}
}
