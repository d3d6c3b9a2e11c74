package hostreset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// Device is an open watchdog. Opening it arms it. There is deliberately no
// Write and no Close: any write feeds it, and a write of 'V' before close
// disarms it, which is the one thing a reset must never do.
type Device interface {
	// SetTimeout asks the driver (WDIOC_SETTIMEOUT) to reset the host once d
	// passes without a keepalive, and returns the timeout it chose; drivers
	// round to what the hardware can do.
	SetTimeout(d time.Duration) (time.Duration, error)
}

// Opener opens a watchdog device. Tests pass a fake so that nothing here
// ever touches this host's /dev/watchdog.
type Opener interface {
	Open(path string) (Device, error)
}

// FileOpener opens real device files. Every device it opens stays open, in
// a table that lives as long as the process, so neither a dropped Resetter
// nor the garbage collector's finalizer closes it: the host resets when the
// driver times out, or at the latest when the process dies without having
// written the magic close. Opening a path this process already holds hands
// back the same device, since /dev/watchdog is single-open.
type FileOpener struct{}

var held = struct {
	sync.Mutex
	devices map[string]*fileDevice
}{devices: map[string]*fileDevice{}}

// ErrNotWatchdog is a watchdog path that names something other than a
// character device (a regular file, a directory).
var ErrNotWatchdog = errors.New("not a character device, so not a watchdog")

// CheckWatchdog tells whether path can be a watchdog: it must exist and be
// a character device. It opens nothing, so it never arms one; the service
// calls it when it loads a config.
func CheckWatchdog(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return openError(path, err)
	}
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return fmt.Errorf("watchdog %s is a %s: %w — point host_reset.watchdog.device at the watchdog (e.g. /dev/watchdog0)", path, fileKind(fi.Mode()), ErrNotWatchdog)
	}
	return nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "file of another kind"
}

// Open opens path write-only, which arms a watchdog. A path that is not a
// character device is refused before it is opened.
func (FileOpener) Open(path string) (Device, error) {
	held.Lock()
	defer held.Unlock()
	if d, ok := held.devices[path]; ok {
		return d, nil
	}
	if err := CheckWatchdog(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	d := &fileDevice{f: f}
	held.devices[path] = d
	return d, nil
}

type fileDevice struct{ f *os.File }

// wholeSeconds rounds d up to whole seconds, at least one.
func wholeSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// survivalMargin is how long past the watchdog's timeout the host may still
// be alive before we call the watchdog broken: drivers fire late, and some
// hardware counts down twice (pretimeout, then reset).
func survivalMargin(timeout time.Duration) time.Duration {
	return max(30*time.Second, timeout/2)
}
