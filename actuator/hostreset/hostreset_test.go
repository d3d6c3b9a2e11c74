package hostreset

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/internal/testlog"
)

var start = time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC)

// fakeDevice is a watchdog driver that clamps timeouts to max.
type fakeDevice struct {
	mu     sync.Mutex
	asked  []time.Duration
	max    time.Duration
	setErr error
}

func (d *fakeDevice) SetTimeout(t time.Duration) (time.Duration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked = append(d.asked, t)
	if d.setErr != nil {
		return 0, d.setErr
	}
	return min(t, d.max), nil
}

// fakeOpener hands out dev, or fails with err, and records what it opened.
type fakeOpener struct {
	mu     sync.Mutex
	opened []string
	dev    Device
	err    error
	onOpen func()
}

func (o *fakeOpener) Open(path string) (Device, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.opened = append(o.opened, path)
	if o.onOpen != nil {
		o.onOpen()
	}
	if o.err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: o.err}
	}
	return o.dev, nil
}

func (o *fakeOpener) calls() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.opened...)
}

// fakeRunner records argument lists instead of running anything.
type fakeRunner struct {
	mu     sync.Mutex
	runs   [][]string
	stderr string
	err    error
}

func (r *fakeRunner) Run(_ context.Context, path string, args []string) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, append([]string{path}, args...))
	return []byte(r.stderr), r.err
}

func (r *fakeRunner) calls() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]string(nil), r.runs...)
}

// recorder is a Notifier that keeps events.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recorder) Notify(e event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) all() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.events...)
}

type syncBuffer = testlog.Buffer

func testLogger() (*slog.Logger, *syncBuffer) {
	var buf syncBuffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func watchdogConfig(device string, timeout time.Duration) *config.HostResetConfig {
	return &config.HostResetConfig{
		Method:   config.ResetWatchdog,
		Watchdog: &config.WatchdogConfig{Device: device, Timeout: config.Duration(timeout)},
	}
}

// resetAsync runs Reset in a goroutine and returns its result channel.
func resetAsync(ctx context.Context, r *Resetter, trigger string) <-chan error {
	done := make(chan error, 1)
	go func() { done <- r.Reset(ctx, trigger) }()
	return done
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Reset did not return")
		return nil
	}
}

func notReturned(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("Reset returned early: %v", err)
	default:
	}
}

// fdOpen reports whether this process holds path open.
func fdOpen(t *testing.T, path string) bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list /proc/self/fd: %v", err)
	}
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == path {
			return true
		}
	}
	return false
}

// A regular file at the watchdog path (the real FileOpener) is refused
// without being opened or written, and the fallback runs at once instead of
// after timeout + margin.
func TestWatchdogRegularFileFallsBackAtOnce(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := watchdogConfig(dev, 5*time.Minute)
	cfg.Fallback = config.ResetRTC
	run := &fakeRunner{}
	logger, logs := testLogger()
	r := New(cfg, Options{Runner: run, Clock: clock.NewFake(start), Logger: logger})
	if err := r.Reset(context.Background(), "manual"); err != nil {
		t.Fatalf("Reset: %v (the fallback should have run)", err)
	}
	if len(run.calls()) != 1 {
		t.Fatalf("fallback ran %d times, want once at once", len(run.calls()))
	}
	if !strings.Contains(logs.String(), "is a regular file: not a character device") {
		t.Errorf("log does not say the path is no watchdog:\n%s", logs)
	}
	if fdOpen(t, dev) {
		t.Errorf("%s was opened", dev)
	}
	if b, _ := os.ReadFile(dev); len(b) != 0 {
		t.Fatalf("watchdog path was written %q", b)
	}
	if err := CheckWatchdog(dev); !errors.Is(err, ErrNotWatchdog) {
		t.Errorf("CheckWatchdog(regular file) = %v", err)
	}
	if err := CheckWatchdog(filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "no watchdog at") {
		t.Errorf("CheckWatchdog(missing) = %v", err)
	}
}

// A character device that is not a watchdog answers WDIOC_SETTIMEOUT with
// ENOTTY: the fallback runs at once. /dev/null is such a device, and
// opening it arms nothing.
func TestWatchdogENOTTYFallsBackAtOnce(t *testing.T) {
	if fi, err := os.Stat("/dev/null"); err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
		t.Skip("/dev/null is not a character device here")
	}
	cfg := watchdogConfig("/dev/null", 5*time.Minute)
	cfg.Fallback = config.ResetRTC
	run := &fakeRunner{}
	logger, logs := testLogger()
	r := New(cfg, Options{Runner: run, Clock: clock.NewFake(start), Logger: logger})
	if err := r.Reset(context.Background(), "manual"); err != nil {
		t.Fatalf("Reset: %v (the fallback should have run)", err)
	}
	if len(run.calls()) != 1 {
		t.Fatalf("fallback ran %d times, want once at once", len(run.calls()))
	}
	if !strings.Contains(logs.String(), "ENOTTY") {
		t.Errorf("log does not mention ENOTTY:\n%s", logs)
	}
	if got := testutil.ToFloat64(r.opts.Metrics.failures.WithLabelValues("watchdog")); got != 1 {
		t.Errorf("failures{watchdog} = %v, want 1", got)
	}
}

func TestWatchdogUsesTheDriversTimeout(t *testing.T) {
	dev := &fakeDevice{max: 60 * time.Second}
	op := &fakeOpener{dev: dev}
	clk := clock.NewFake(start)
	r := New(watchdogConfig("/dev/watchdog", 5*time.Minute), Options{Opener: op, Clock: clk})

	done := resetAsync(context.Background(), r, "file")
	clk.WaitForTimers(1)
	if got := op.calls(); len(got) != 1 || got[0] != "/dev/watchdog" {
		t.Fatalf("opened %v", got)
	}
	if len(dev.asked) != 1 || dev.asked[0] != 5*time.Minute {
		t.Fatalf("SetTimeout calls %v, want [5m]", dev.asked)
	}
	// The driver chose 60s, so the margin is 30s: 90s in all.
	clk.Advance(89 * time.Second)
	notReturned(t, done)
	clk.Advance(time.Second)
	if err := wait(t, done); err == nil || !strings.Contains(err.Error(), "1m30s after arming it with a 1m0s timeout") {
		t.Fatalf("err = %v", err)
	}
}

func TestWatchdogOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"busy", unix.EBUSY, "watchdog /dev/watchdog is held by another process, e.g. systemd's watchdog (RuntimeWatchdogSec= in /etc/systemd/system.conf) or the watchdog daemon"},
		{"missing", unix.ENOENT, "no watchdog at /dev/watchdog: load the driver"},
		{"denied", unix.EACCES, "may not open watchdog /dev/watchdog: run as root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(start)
			r := New(watchdogConfig("/dev/watchdog", time.Minute), Options{Opener: &fakeOpener{err: tc.err}, Clock: clk})
			err := r.Reset(context.Background(), "manual")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tc.want)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("err does not wrap %v", tc.err)
			}
			if got := testutil.ToFloat64(r.opts.Metrics.failures.WithLabelValues("watchdog")); got != 1 {
				t.Errorf("failures = %v, want 1", got)
			}
		})
	}
}

func TestWatchdogFallsBackToRTC(t *testing.T) {
	cfg := watchdogConfig("/dev/watchdog1", 2*time.Minute)
	cfg.Fallback = config.ResetRTC
	cfg.RTC = &config.RTCConfig{Device: "/dev/rtc0", Mode: "off", WakeAfter: config.Duration(time.Minute), RTCWake: "/usr/sbin/rtcwake"}
	run := &fakeRunner{}
	clk := clock.NewFake(start)
	logger, logs := testLogger()
	r := New(cfg, Options{Opener: &fakeOpener{dev: &fakeDevice{max: time.Hour}}, Runner: run, Clock: clk, Logger: logger})

	done := resetAsync(context.Background(), r, "file")
	clk.WaitForTimers(1)
	clk.Advance(2*time.Minute + time.Minute - time.Second)
	notReturned(t, done)
	if len(run.calls()) != 0 {
		t.Fatal("rtcwake ran before the watchdog had its chance")
	}
	clk.Advance(time.Second)
	if err := wait(t, done); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	want := []string{"/usr/sbin/rtcwake", "-d", "/dev/rtc0", "-m", "off", "-s", "60"}
	if got := run.calls(); len(got) != 1 || strings.Join(got[0], " ") != strings.Join(want, " ") {
		t.Fatalf("ran %q, want %q", got, want)
	}
	if !strings.Contains(logs.String(), "host still alive well past the watchdog timeout") {
		t.Errorf("log does not say the host outlived the watchdog:\n%s", logs)
	}
	expected := `
# HELP restartinator_host_reset_failures_total Host hard-reset attempts that failed, or after which the host was still alive well past the watchdog timeout.
# TYPE restartinator_host_reset_failures_total counter
restartinator_host_reset_failures_total{method="rtc"} 0
restartinator_host_reset_failures_total{method="watchdog"} 1
# HELP restartinator_host_resets_total Host hard-reset attempts, by method (watchdog, rtc) and trigger (file, webhook, manual).
# TYPE restartinator_host_resets_total counter
restartinator_host_resets_total{method="rtc",trigger="file"} 1
restartinator_host_resets_total{method="watchdog",trigger="file"} 1
`
	if err := testutil.CollectAndCompare(r.Collector(), strings.NewReader(expected)); err != nil {
		t.Error(err)
	}
}

func TestBusyWatchdogFallsBackAtOnce(t *testing.T) {
	cfg := watchdogConfig("/dev/watchdog", time.Minute)
	cfg.Fallback = config.ResetRTC
	run := &fakeRunner{}
	r := New(cfg, Options{Opener: &fakeOpener{err: unix.EBUSY}, Runner: run, Clock: clock.NewFake(start)})
	if err := r.Reset(context.Background(), "webhook"); err != nil {
		t.Fatal(err)
	}
	// Without an rtc section the defaults apply.
	want := "/usr/sbin/rtcwake -d /dev/rtc0 -m off -s 60"
	if got := run.calls(); len(got) != 1 || strings.Join(got[0], " ") != want {
		t.Fatalf("ran %q, want %q", got, want)
	}
}

func TestBothMethodsFailing(t *testing.T) {
	cfg := watchdogConfig("/dev/watchdog", time.Minute)
	cfg.Fallback = config.ResetRTC
	run := &fakeRunner{err: errors.New("exit status 1"), stderr: "rtcwake: /dev/rtc0: unable to find device"}
	r := New(cfg, Options{Opener: &fakeOpener{err: unix.EBUSY}, Runner: run, Clock: clock.NewFake(start)})
	err := r.Reset(context.Background(), "webhook")
	if err == nil || !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), "fallback: running /usr/sbin/rtcwake -d /dev/rtc0 -m off -s 60") {
		t.Fatalf("err = %v", err)
	}
	for _, m := range []string{"watchdog", "rtc"} {
		if got := testutil.ToFloat64(r.opts.Metrics.failures.WithLabelValues(m)); got != 1 {
			t.Errorf("failures{%s} = %v, want 1", m, got)
		}
	}
}

func TestCancelWhileWaitingKeepsTheWatchdogArmed(t *testing.T) {
	cfg := watchdogConfig("/dev/watchdog", time.Minute)
	cfg.Fallback = config.ResetRTC
	run := &fakeRunner{}
	clk := clock.NewFake(start)
	r := New(cfg, Options{Opener: &fakeOpener{dev: &fakeDevice{max: time.Hour}}, Runner: run, Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	done := resetAsync(ctx, r, "file")
	clk.WaitForTimers(1)
	cancel()
	if err := wait(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(run.calls()) != 0 {
		t.Fatal("fell back to rtc after the context ended")
	}
	if got := testutil.ToFloat64(r.opts.Metrics.failures.WithLabelValues("watchdog")); got != 0 {
		t.Errorf("a cancelled wait counted as a failure")
	}
}

func TestSecondResetWhileWaiting(t *testing.T) {
	clk := clock.NewFake(start)
	r := New(watchdogConfig("/dev/watchdog", time.Minute), Options{Opener: &fakeOpener{dev: &fakeDevice{max: time.Hour}}, Clock: clk})
	done := resetAsync(context.Background(), r, "file")
	clk.WaitForTimers(1)
	if err := r.Reset(context.Background(), "webhook"); !errors.Is(err, ErrInProgress) {
		t.Fatalf("err = %v, want ErrInProgress", err)
	}
	clk.Advance(time.Hour)
	wait(t, done)
}

func TestEventBeforeActing(t *testing.T) {
	rec := &recorder{}
	op := &fakeOpener{dev: &fakeDevice{max: time.Hour}}
	var seenAtOpen []event.Event
	op.onOpen = func() { seenAtOpen = rec.all() }
	clk := clock.NewFake(start)
	r := New(watchdogConfig("/dev/watchdog", time.Minute), Options{Opener: op, Clock: clk, Notifier: rec})
	done := resetAsync(context.Background(), r, "file")
	clk.WaitForTimers(1)
	clk.Advance(time.Hour)
	wait(t, done)
	if len(seenAtOpen) != 1 {
		t.Fatalf("events at open: %+v, want one host_reset", seenAtOpen)
	}
	e := seenAtOpen[0]
	if e.Kind != event.HostReset || e.Trigger != "file" || !strings.Contains(e.Detail, "watchdog /dev/watchdog") || !e.Time.Equal(start) {
		t.Errorf("event = %+v", e)
	}
}

func TestDryRunDoesNothing(t *testing.T) {
	cfg := watchdogConfig("/dev/watchdog", 5*time.Minute)
	cfg.Fallback = config.ResetRTC
	cfg.RTC = &config.RTCConfig{Device: "/dev/rtc1", Mode: "mem", WakeAfter: config.Duration(90 * time.Second), RTCWake: "/sbin/rtcwake"}
	op := &fakeOpener{dev: &fakeDevice{}}
	run := &fakeRunner{}
	rec := &recorder{}
	logger, logs := testLogger()
	r := New(cfg, Options{DryRun: true, Opener: op, Runner: run, Clock: clock.NewFake(start), Logger: logger, Notifier: rec})
	if err := r.Reset(context.Background(), "manual"); err != nil {
		t.Fatal(err)
	}
	if len(op.calls()) != 0 || len(run.calls()) != 0 {
		t.Fatalf("dry run opened %v and ran %v", op.calls(), run.calls())
	}
	for _, want := range []string{
		"dry run: would hard-reset this host", "device=/dev/watchdog", "timeout=5m0s",
		"dry run: would fall back to", `argv="[/sbin/rtcwake -d /dev/rtc1 -m mem -s 90]"`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if ev := rec.all(); len(ev) != 1 || ev[0].Kind != event.Held {
		t.Errorf("events = %+v, want one held", ev)
	}
	if n := testutil.CollectAndCount(r.Collector(), "restartinator_host_resets_total"); n != 0 {
		t.Errorf("dry run counted %d reset series", n)
	}
}

func TestNotConfiguredDoesNothing(t *testing.T) {
	op := &fakeOpener{dev: &fakeDevice{}}
	run := &fakeRunner{}
	r := New(nil, Options{Opener: op, Runner: run})
	if r.Configured() {
		t.Fatal("Configured() with no config")
	}
	if err := r.Reset(context.Background(), "webhook"); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("err = %v, want ErrNotConfigured", err)
	}
	if len(op.calls()) != 0 || len(run.calls()) != 0 {
		t.Fatal("an unconfigured Resetter acted")
	}
}

func TestDescribe(t *testing.T) {
	cfg := watchdogConfig("/dev/watchdog0", 3*time.Minute)
	cfg.Fallback = "RTC"
	got := New(cfg, Options{}).Describe()
	want := "watchdog /dev/watchdog0 (timeout 3m, never fed), falling back to rtc: /usr/sbin/rtcwake -d /dev/rtc0 -m off -s 60"
	if got != want {
		t.Errorf("Describe() = %q\nwant          %q", got, want)
	}
}

// Opening a watchdog cannot be undone, so a context that has already ended
// must not get that far.
func TestEndedContextArmsNothing(t *testing.T) {
	op := &fakeOpener{dev: &fakeDevice{max: time.Hour}}
	r := New(watchdogConfig("/dev/watchdog", time.Minute), Options{Opener: op, Clock: clock.NewFake(start)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Reset(ctx, "file"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if len(op.calls()) != 0 {
		t.Fatal("armed the watchdog for an ended context")
	}
}
