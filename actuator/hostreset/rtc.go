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

	"github.com/restartinator/restartinator/config"
)

// Runner runs a program with an argument list, never through a shell.
type Runner interface {
	// Run runs path with args and returns what it wrote to stderr.
	Run(ctx context.Context, path string, args []string) (stderr []byte, err error)
}

// ExecRunner runs programs with os/exec.
type ExecRunner struct{}

// Run runs path with args and waits for it.
func (ExecRunner) Run(ctx context.Context, path string, args []string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.Bytes(), err
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
