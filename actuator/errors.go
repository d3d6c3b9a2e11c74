package actuator

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
)

// PlugError is a failed operation on one plug: which plug, what we tried,
// the cause (a driver's own error type carries the device's code and
// message) and a hint saying what to check. Every driver returns its
// failures as one, so errors.As(err, &pe) finds the plug and the hint
// whatever the brand, and errors.Is sees the driver's sentinel errors
// through it.
type PlugError struct {
	// Kind names the device in the message: "plug", "shelly", "tasmota",
	// "BMC".
	Kind string
	Plug string // host:port, a BMC's URL, or the configured name
	Op   string // what we tried, e.g. "switch outlet 2 on"; may be empty
	Err  error
	Hint string // what to check; empty when there is nothing to add
}

// Error reads "kind plug: op: cause — hint", leaving out an empty op or
// hint.
func (e *PlugError) Error() string {
	msg := e.Kind + " " + e.Plug + ": "
	if e.Op != "" {
		msg += e.Op + ": "
	}
	msg += e.Err.Error()
	if e.Hint != "" {
		msg += " — " + e.Hint
	}
	return msg
}

func (e *PlugError) Unwrap() error { return e.Err }

// WrapPlugError returns err as a *PlugError for plug, with the hint that
// hint chooses from the cause. nil stays nil, and an error that already is
// a *PlugError is returned as it is: the innermost operation names the
// plug and the step that failed.
func WrapPlugError(kind, plug, op string, err error, hint func(error) string) error {
	if err == nil {
		return nil
	}
	var pe *PlugError
	if errors.As(err, &pe) {
		return err
	}
	return &PlugError{Kind: kind, Plug: plug, Op: op, Err: err, Hint: hint(err)}
}

// NetworkHint is the hint for a device that could not be reached: a name
// that does not resolve, a refused connection, no answer in time, or
// anything else. Drivers check their own causes first and fall back on it.
func NetworkHint(err error) string {
	var (
		ne     net.Error
		dnsErr *net.DNSError
	)
	switch {
	case errors.As(err, &dnsErr):
		return "check the host name"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "is the device on the network, and is the port right?"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "is the device powered and on the network?"
	}
	return "is the device on the network?"
}
