package tasmota

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"

	"github.com/restartinator/restartinator/actuator"
)

// Error is a failed operation on one device, with a hint saying what to check.
type Error struct {
	Plug string // host:port
	Op   string
	Err  error
	Hint string
}

func (e *Error) Error() string {
	msg := "tasmota " + e.Plug + ": "
	if e.Op != "" {
		msg += e.Op + ": "
	}
	msg += e.Err.Error()
	if e.Hint != "" {
		msg += " — " + e.Hint
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

func wrap(plug, op string, err error) error {
	if err == nil {
		return nil
	}
	var te *Error
	if errors.As(err, &te) {
		return err
	}
	return &Error{Plug: plug, Op: op, Err: err, Hint: hint(err)}
}

func hint(err error) string {
	var ne net.Error
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, actuator.ErrOutletNotFound):
		return ""
	case errors.Is(err, ErrAuthRequired):
		return "set the plug's password (key \"password\"; the web user is admin)"
	case errors.Is(err, ErrAuthRejected):
		return "check the plug's \"username\" and \"password\" keys (Tasmota's web user is always admin)"
	case errors.Is(err, actuator.ErrFlipBackUnsupported):
		return "use a shorter off time, or accept a cycle without the device-side flip-back"
	case errors.Is(err, ErrUnknownCommand):
		return "the firmware may be too old or a minimal build; update it"
	case errors.Is(err, ErrNotTasmota):
		return "is this a Tasmota device with its web server on, and is the port right?"
	case errors.As(err, &dnsErr):
		return "check the host name"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "is the device on the network, and is the port right?"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "is the device powered and on the network?"
	}
	return "is the device on the network?"
}
