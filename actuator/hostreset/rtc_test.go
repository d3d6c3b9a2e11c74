package hostreset

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
)

// fakeRTCWake writes a shell script standing in for rtcwake: it records its
// arguments, one a line, to argv.txt beside it, then runs tail.
func fakeRTCWake(t *testing.T, tail string) (script, argvFile string) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to run a fake rtcwake")
	}
	dir := t.TempDir()
	script = filepath.Join(dir, "rtcwake")
	argvFile = filepath.Join(dir, "argv.txt")
	body := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> '" + argvFile + "'; done\n" + tail + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, argvFile
}

func rtcConfig(rtcwake string) *config.HostResetConfig {
	return &config.HostResetConfig{
		Method: config.ResetRTC,
		RTC:    &config.RTCConfig{Device: "/dev/rtc1", Mode: "off", WakeAfter: config.Duration(90500 * time.Millisecond), RTCWake: rtcwake},
	}
}

func TestRTCRunsRtcwakeWithTheExactArgv(t *testing.T) {
	script, argvFile := fakeRTCWake(t, "exit 0")
	cfg := rtcConfig(script)
	cfg.RTC.Device = "/dev/rtc 1" // a space must stay inside one argument: no shell
	r := New(cfg, Options{Clock: clock.NewFake(start)})
	if err := r.Reset(context.Background(), "manual"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(argvFile)
	if err != nil {
		t.Fatal(err)
	}
	want := "-d\n/dev/rtc 1\n-m\noff\n-s\n91\n"
	if string(b) != want {
		t.Fatalf("rtcwake argv:\n%s\nwant:\n%s", b, want)
	}
}

func TestRTCFailureReportsExitStatusAndStderr(t *testing.T) {
	script, _ := fakeRTCWake(t, "echo 'rtcwake: /dev/rtc1: unable to find device: No such file or directory' >&2; exit 1")
	r := New(rtcConfig(script), Options{Clock: clock.NewFake(start)})
	err := r.Reset(context.Background(), "manual")
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Fatalf("err = %v, want an exit status 1 from rtcwake", err)
	}
	for _, want := range []string{
		"running " + script + " -d /dev/rtc1 -m off -s 91",
		"exit status 1",
		"rtcwake: /dev/rtc1: unable to find device",
		`check that /dev/rtc1 exists and supports mode "off"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestRTCMissingBinary(t *testing.T) {
	r := New(rtcConfig(filepath.Join(t.TempDir(), "no-rtcwake")), Options{Clock: clock.NewFake(start)})
	err := r.Reset(context.Background(), "manual")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "rtcwake not found: install util-linux or set host_reset.rtc.rtcwake") {
		t.Fatalf("err = %v", err)
	}
}

func TestRTCModesThatDoNotReset(t *testing.T) {
	for _, mode := range []string{"no", "on", "disable", "show", "Show"} {
		t.Run(mode, func(t *testing.T) {
			run := &fakeRunner{}
			cfg := rtcConfig("/usr/sbin/rtcwake")
			cfg.RTC.Mode = mode
			err := New(cfg, Options{Runner: run, Clock: clock.NewFake(start)}).Reset(context.Background(), "manual")
			if err == nil || !strings.Contains(err.Error(), "leaves the host running") {
				t.Fatalf("err = %v", err)
			}
			if len(run.calls()) != 0 {
				t.Fatal("ran rtcwake with a mode that cannot reset")
			}
		})
	}
}

func TestDryRunRunsNoRtcwake(t *testing.T) {
	script, argvFile := fakeRTCWake(t, "exit 0")
	logger, logs := testLogger()
	r := New(rtcConfig(script), Options{DryRun: true, Logger: logger, Clock: clock.NewFake(start)})
	if err := r.Reset(context.Background(), "manual"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(argvFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("dry run ran rtcwake (stat %s: %v)", argvFile, err)
	}
	if want := "argv=\"[" + script + " -d /dev/rtc1 -m off -s 91]\""; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, logs)
	}
}

// A hung rtcwake is killed after wake_after + 1m (on the Clock), its exit
// and output are logged, and the next reset is not blocked by it.
func TestRTCHungIsKilledAfterTheTimeout(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "hung")
	script, _ := fakeRTCWake(t, "echo 'setting the alarm'; touch '"+marker+"'; exec sleep 3600")
	clk := clock.NewFake(start)
	logger, logs := testLogger()
	r := New(rtcConfig(script), Options{Clock: clk, Logger: logger})
	done := resetAsync(context.Background(), r, "manual")
	clk.WaitForTimers(1)
	// The script is another process: wait (bounded) until it has spoken.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fake rtcwake did not start")
		}
	}
	clk.Advance(90500*time.Millisecond + time.Minute - time.Second)
	notReturned(t, done)
	clk.Advance(time.Second)
	err := wait(t, done)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not finish within 2m30.5s and was killed") {
		t.Fatalf("err = %v, want killed after the timeout", err)
	}
	for _, want := range []string{"rtcwake finished", "exit_status=-1", `output="setting the alarm"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	done = resetAsync(context.Background(), r, "manual")
	clk.WaitForTimers(1) // the second run's timeout: it started, not ErrInProgress
	clk.Advance(time.Hour)
	if err := wait(t, done); errors.Is(err, ErrInProgress) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second reset after a hung rtcwake: %v", err)
	}
}

func TestRTCExitStatusAndOutputLogged(t *testing.T) {
	script, _ := fakeRTCWake(t, "echo 'wakeup using /dev/rtc1 at Sun Mar  1 04:01:31 2026'; exit 0")
	logger, logs := testLogger()
	if err := New(rtcConfig(script), Options{Clock: clock.NewFake(start), Logger: logger}).Reset(context.Background(), "manual"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"exit_status=0", "output=\"wakeup using /dev/rtc1"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}
