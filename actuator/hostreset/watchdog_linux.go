package hostreset

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// platformErr is nil: host reset works here.
func platformErr() error { return nil }

// notWatchdogIoctl tells whether a SetTimeout error says the device does
// not know watchdog ioctls at all (ENOTTY).
func notWatchdogIoctl(err error) bool { return errors.Is(err, unix.ENOTTY) }

func (d *fileDevice) SetTimeout(t time.Duration) (time.Duration, error) {
	// The ioctl takes a C int of seconds and writes back what the driver set.
	v := int32(wholeSeconds(t))
	rc, err := d.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var errno unix.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, uintptr(unix.WDIOC_SETTIMEOUT), uintptr(unsafe.Pointer(&v)))
	}); err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return time.Duration(v) * time.Second, nil
}

// openError says what an open failure means for a watchdog.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, ErrNotWatchdog):
		return err
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("watchdog %s is held by another process, e.g. systemd's watchdog (RuntimeWatchdogSec= in /etc/systemd/system.conf) or the watchdog daemon: stop it, use another watchdog device, or use method rtc: %w", path, err)
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("no watchdog at %s: load the driver (for a software one, modprobe softdog) or set host_reset.watchdog.device: %w", path, err)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return fmt.Errorf("may not open watchdog %s: run as root or give this user write access to the device: %w", path, err)
	}
	return fmt.Errorf("opening watchdog %s: %w", path, err)
}

// timeoutNote says, for the log, why the driver's timeout is used instead of
// the configured one.
func timeoutNote(err error) string {
	switch {
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP):
		return "the driver refused this timeout (out of its range, or not settable): continuing with the driver's own timeout"
	}
	return "setting the timeout failed: continuing with the driver's own timeout"
}
