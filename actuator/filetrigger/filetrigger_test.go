package filetrigger

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
)

var start = time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC)

func hostResetTrigger(path string, interval time.Duration) config.FileTrigger {
	return config.FileTrigger{Path: path, CheckInterval: config.Duration(interval), Action: config.ActionHostReset}
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("fault\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func waitFor(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no action within 10s")
		return ""
	}
}

func TestRemovesTheFileBeforeActing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pywatchdog-fault-indicator")
	touch(t, path)
	var calls int
	w, err := New([]config.FileTrigger{hostResetTrigger(path, 5*time.Second)}, Options{
		HostReset: func(context.Context) error {
			calls++
			if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("indicator file still there when the action ran (stat: %v)", err)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	acted, err := w.CheckOnce(context.Background())
	if !acted || err != nil || calls != 1 {
		t.Fatalf("CheckOnce = %v, %v; %d calls", acted, err, calls)
	}
	// Gone, so the next check (after the host comes back) does nothing.
	acted, err = w.CheckOnce(context.Background())
	if acted || err != nil || calls != 1 {
		t.Fatalf("second CheckOnce = %v, %v; %d calls", acted, err, calls)
	}
}

func TestCycleActionNamesTheDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cycle-camera1")
	touch(t, path)
	var got []string
	w, err := New([]config.FileTrigger{{Path: path, CheckInterval: config.Duration(time.Second), Action: "Cycle", Device: "camera1"}}, Options{
		Cycle: func(_ context.Context, device string) error {
			if exists(path) {
				t.Error("indicator file still there when the cycle ran")
			}
			got = append(got, device)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if acted, err := w.CheckOnce(context.Background()); !acted || err != nil {
		t.Fatalf("CheckOnce = %v, %v", acted, err)
	}
	if len(got) != 1 || got[0] != "camera1" {
		t.Fatalf("cycled %v", got)
	}
}

// single_run: one check, whatever it finds, then return.
func TestCheckOnceReturnsAfterOneCheck(t *testing.T) {
	dir := t.TempDir()
	present, absent := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	touch(t, present)
	var acted []string
	cycle := func(_ context.Context, device string) error { acted = append(acted, device); return nil }
	w, err := New([]config.FileTrigger{
		{Path: present, CheckInterval: config.Duration(time.Hour), Action: config.ActionCycle, Device: "dev-a"},
		{Path: absent, CheckInterval: config.Duration(time.Hour), Action: config.ActionCycle, Device: "dev-b"},
	}, Options{Cycle: cycle, Clock: clock.NewFake(start)})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := w.CheckOnce(context.Background())
	if !ok || err != nil || len(acted) != 1 || acted[0] != "dev-a" {
		t.Fatalf("CheckOnce = %v, %v; acted %v", ok, err, acted)
	}
	ok, err = w.CheckOnce(context.Background())
	if ok || err != nil || len(acted) != 1 {
		t.Fatalf("CheckOnce with nothing there = %v, %v; acted %v", ok, err, acted)
	}
}

// A path that cannot be removed (here a non-empty directory, which fails
// even for root) is not acted on: it would trigger again after the reset.
func TestNoActionWhenRemovalFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "indicator")
	if err := os.MkdirAll(filepath.Join(path, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	called := false
	w, err := New([]config.FileTrigger{hostResetTrigger(path, time.Second)}, Options{
		HostReset: func(context.Context) error { called = true; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	acted, err := w.CheckOnce(context.Background())
	if acted || called {
		t.Fatal("acted on an indicator that could not be removed")
	}
	if err == nil || !strings.Contains(err.Error(), "is present but could not be removed, so not acting on it") {
		t.Fatalf("err = %v", err)
	}
	if !exists(path) {
		t.Fatal("the indicator vanished")
	}
}

func TestActionFailureIsReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "indicator")
	touch(t, path)
	boom := errors.New("watchdog busy")
	w, err := New([]config.FileTrigger{hostResetTrigger(path, time.Second)}, Options{
		HostReset: func(context.Context) error { return boom },
	})
	if err != nil {
		t.Fatal(err)
	}
	acted, err := w.CheckOnce(context.Background())
	if !acted || !errors.Is(err, boom) || !strings.Contains(err.Error(), "file trigger "+path+": host_reset: watchdog busy") {
		t.Fatalf("CheckOnce = %v, %v", acted, err)
	}
}

func TestPollingWithoutFSNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "indicator")
	clk := clock.NewFake(start)
	acted := make(chan string, 4)
	w, err := New([]config.FileTrigger{hostResetTrigger(path, 5*time.Second)}, Options{
		HostReset: func(context.Context) error { acted <- "reset"; return nil },
		Clock:     clk,
		PollOnly:  true,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := w.Start(context.Background())
	defer stop()
	clk.WaitForTimers(1)
	touch(t, path)
	clk.Advance(4 * time.Second)
	if !exists(path) {
		t.Fatal("the file was checked before the interval passed, with fsnotify off")
	}
	clk.Advance(time.Second)
	waitFor(t, acted)
	if exists(path) {
		t.Fatal("indicator file not removed")
	}
	// And again on a later tick.
	clk.WaitForTimers(1)
	touch(t, path)
	clk.Advance(5 * time.Second)
	waitFor(t, acted)
}

func TestFSNotifyActsWithoutWaitingForThePoll(t *testing.T) {
	if fw, err := fsnotify.NewWatcher(); err != nil {
		t.Skipf("fsnotify unavailable here: %v", err)
	} else {
		fw.Close()
	}
	path := filepath.Join(t.TempDir(), "indicator")
	clk := clock.NewFake(start) // never advanced: only fsnotify can find the file
	acted := make(chan string, 4)
	w, err := New([]config.FileTrigger{hostResetTrigger(path, time.Hour)}, Options{
		HostReset: func(context.Context) error {
			if exists(path) {
				t.Error("indicator file still there when the action ran")
			}
			acted <- "reset"
			return nil
		},
		Clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := w.Start(context.Background())
	defer stop()
	clk.WaitForTimers(1) // the directory is watched before the first poll timer exists
	touch(t, path)
	waitFor(t, acted)
	// Renamed into place, as careful writers do.
	tmp := path + ".tmp"
	touch(t, tmp)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, acted)
}

func TestFileAlreadyThereAtStartActs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "indicator")
	touch(t, path)
	acted := make(chan string, 1)
	w, err := New([]config.FileTrigger{hostResetTrigger(path, time.Hour)}, Options{
		HostReset: func(context.Context) error { acted <- "reset"; return nil },
		Clock:     clock.NewFake(start),
		PollOnly:  true,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := w.Start(context.Background())
	defer stop()
	waitFor(t, acted)
}

// Reload: stop one Watcher, start another; the old one no longer acts.
func TestStopOneWatcherStartAnother(t *testing.T) {
	dir := t.TempDir()
	oldPath, newPath := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	clk := clock.NewFake(start)
	acted := make(chan string, 4)
	build := func(path string) *Watcher {
		w, err := New([]config.FileTrigger{{Path: path, CheckInterval: config.Duration(time.Second), Action: config.ActionCycle, Device: filepath.Base(path)}}, Options{
			Cycle:    func(_ context.Context, d string) error { acted <- d; return nil },
			Clock:    clk,
			PollOnly: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	stopOld := build(oldPath).Start(context.Background())
	clk.WaitForTimers(1)
	stopOld()
	if n := clk.Pending(); n != 0 {
		t.Fatalf("%d timers still pending after stop", n)
	}
	stopNew := build(newPath).Start(context.Background())
	defer stopNew()
	clk.WaitForTimers(1)
	touch(t, oldPath)
	touch(t, newPath)
	clk.Advance(time.Second)
	if got := waitFor(t, acted); got != "new" {
		t.Fatalf("acted for %q", got)
	}
	if !exists(oldPath) {
		t.Fatal("the stopped watcher removed its file")
	}
}

// Stopping waits for an action under way, which sees its context end.
func TestStopWaitsForTheAction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "indicator")
	touch(t, path)
	started := make(chan struct{})
	var finished atomic.Bool
	w, err := New([]config.FileTrigger{hostResetTrigger(path, time.Hour)}, Options{
		HostReset: func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			finished.Store(true)
			return ctx.Err()
		},
		Clock:    clock.NewFake(start),
		PollOnly: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := w.Start(context.Background())
	<-started
	stop()
	if !finished.Load() {
		t.Fatal("stop returned before the action did")
	}
}

func TestNewChecksActions(t *testing.T) {
	for _, tc := range []struct {
		name string
		trig config.FileTrigger
		opts Options
		want string
	}{
		{"host reset not configured", hostResetTrigger("/x", time.Second), Options{}, "action host_reset, but host reset is not configured"},
		{"cycle without device", config.FileTrigger{Path: "/x", CheckInterval: config.Duration(time.Second), Action: "cycle"},
			Options{Cycle: func(context.Context, string) error { return nil }}, "action cycle needs device: NAME"},
		{"unknown action", config.FileTrigger{Path: "/x", CheckInterval: config.Duration(time.Second), Action: "reboot"},
			Options{}, `action "reboot" is not one of host_reset, cycle`},
		{"no interval", hostResetTrigger("/x", 0), Options{HostReset: func(context.Context) error { return nil }}, "check_interval must be positive"},
		{"no path", hostResetTrigger("", time.Second), Options{HostReset: func(context.Context) error { return nil }}, "path is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New([]config.FileTrigger{tc.trig}, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// signalHandler is a slog.Handler that reports each message on a channel.
type signalHandler struct{ msgs chan string }

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.msgs <- r.Message:
	default:
	}
	return nil
}
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h signalHandler) WithGroup(string) slog.Handler      { return h }

// A directory that appears after start (a volume mounted late) is watched
// from the next poll on.
func TestDirectoryCreatedLaterIsWatched(t *testing.T) {
	if fw, err := fsnotify.NewWatcher(); err != nil {
		t.Skipf("fsnotify unavailable here: %v", err)
	} else {
		fw.Close()
	}
	dir := filepath.Join(t.TempDir(), "volume")
	path := filepath.Join(dir, "indicator")
	clk := clock.NewFake(start)
	msgs := make(chan string, 64)
	acted := make(chan string, 1)
	w, err := New([]config.FileTrigger{hostResetTrigger(path, time.Minute)}, Options{
		HostReset: func(context.Context) error { acted <- "reset"; return nil },
		Clock:     clk,
		Logger:    slog.New(signalHandler{msgs}),
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := w.Start(context.Background())
	defer stop()
	clk.WaitForTimers(1)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	for watching := false; !watching; {
		select {
		case msg := <-msgs:
			watching = msg == "watching directory with fsnotify"
		case <-time.After(10 * time.Second):
			t.Fatal("the new directory was not watched after a poll")
		}
	}
	touch(t, path) // no further Advance: only fsnotify can see this
	waitFor(t, acted)
}
