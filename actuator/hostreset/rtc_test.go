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
