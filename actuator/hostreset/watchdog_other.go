//go:build !linux

package hostreset

import (
	"errors"
	"fmt"
	"runtime"
	"time"
)

// platformErr says host reset cannot work on this system: it needs Linux's
// watchdog ioctls or rtcwake. The rest of restartinator (probes, plugs,
// the CLI) works here.
func platformErr() error {
	return fmt.Errorf("host reset works only on Linux (watchdog ioctls, rtcwake), not on %s: remove host_reset or run restartinator on the Linux host itself", runtime.GOOS)
}

func notWatchdogIoctl(error) bool { return false }

func (d *fileDevice) SetTimeout(time.Duration) (time.Duration, error) { return 0, platformErr() }

func openError(path string, err error) error {
	if errors.Is(err, ErrNotWatchdog) {
		return err
	}
	return fmt.Errorf("opening watchdog %s: %w", path, err)
}

func timeoutNote(error) string {
	return "setting the timeout failed: continuing with the driver's own timeout"
}
