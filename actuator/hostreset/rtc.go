package hostreset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/restartinator/restartinator/config"
)

// Runner runs a program with an argument list, never through a shell.
type Runner interface {
	// Run runs path with args until it exits or ctx ends (then it is
	// killed), and returns what it wrote to stdout and stderr.
	Run(ctx context.Context, path string, args []string) (output []byte, err error)
}

// ExecRunner runs programs with os/exec.
type ExecRunner struct{}

// maxOutput bounds what is kept of a program's output for the log.
const maxOutput = 64 << 10

// waitDelay is how long Run waits, after killing a program whose ctx ended,
// for a child that inherited its output to let go of it.
const waitDelay = 5 * time.Second

// Run runs path with args and waits for it; ctx ending kills it.
func (ExecRunner) Run(ctx context.Context, path string, args []string) ([]byte, error) {
	out := &limitedBuffer{max: maxOutput}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	return out.b.Bytes(), err
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	b   bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// rtcTimeout bounds a run of rtcwake: with mode off it returns once the
// shutdown is under way; with mode mem it returns after the wake-up, so
// wake_after counts too.
func rtcTimeout(cfg *config.RTCConfig) time.Duration {
	return cfg.WakeAfter.D() + time.Minute
}

// exitStatus is a finished program's exit status for the log: 0, its exit
// code, or -1 when it did not exit normally (not started, killed).
func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.ExitCode()
	}
	return -1
}

// rtcwake modes that leave the host running, so cannot reset it.
var rtcModesNoReset = []string{"no", "on", "disable", "show"}

// rtcArgs is rtcwake's argument list for cfg.
func rtcArgs(cfg *config.RTCConfig) []string {
	return []string{"-d", cfg.Device, "-m", cfg.Mode, "-s", strconv.FormatInt(wholeSeconds(cfg.WakeAfter.D()), 10)}
}

// rtcError says what went wrong running rtcwake and what to check.
func rtcError(cfg *config.RTCConfig, args []string, stderr []byte, err error) error {
	argv := strings.Join(append([]string{cfg.RTCWake}, args...), " ")
	msg := strings.TrimSpace(string(stderr))
	var exitErr *exec.ExitError
	switch {
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("running %s: rtcwake not found: install util-linux or set host_reset.rtc.rtcwake: %w", argv, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("running %s: may not execute %s: check its permissions: %w", argv, cfg.RTCWake, err)
	case errors.As(err, &exitErr) && msg != "":
		return fmt.Errorf("running %s: %w: %s (check that %s exists and supports mode %q)", argv, err, msg, cfg.Device, cfg.Mode)
	case errors.As(err, &exitErr):
		return fmt.Errorf("running %s: %w (check that %s exists and supports mode %q)", argv, err, cfg.Device, cfg.Mode)
	}
	return fmt.Errorf("running %s: %w", argv, err)
}

func checkRTCMode(mode string) error {
	if slices.Contains(rtcModesNoReset, strings.ToLower(mode)) {
		return fmt.Errorf("rtc mode %q leaves the host running: use off (or mem, where the RTC cannot power off)", mode)
	}
	return nil
}
