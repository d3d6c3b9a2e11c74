package shelly

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/restartinator/restartinator/actuator"
)

// RPCError is an error object in a Gen2+ answer, or a Gen1 error status.
type RPCError struct {
	Method  string
	Code    int
	Message string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("device refused %s: %s (code %d)", e.Method, e.Message, e.Code)
}

var (
	// ErrAuthRequired: the device has authentication on and we sent no password.
	ErrAuthRequired = errors.New("the device requires a password and none is configured")
	// ErrAuthRejected: the device refused our username/password.
	ErrAuthRejected = errors.New("the device rejected the username/password")
	// ErrNotShelly: the answer is not from a Shelly API.
	ErrNotShelly = errors.New("answer is not from a Shelly device")
	// ErrNoTimer: the device switched off but shows no flip-back timer.
	ErrNoTimer = errors.New("the device switched off but shows no flip-back timer running")
)

// wrap names the device in err and adds the hint for its cause.
func wrap(plug, op string, err error) error {
	return actuator.WrapPlugError("shelly", plug, op, err, hint)
}

func hint(err error) string {
	var re *RPCError
	switch {
	case errors.Is(err, context.Canceled):
		return ""
	case errors.Is(err, ErrAuthRequired):
		return "set the plug's password (key \"password\"; username defaults to admin)"
	case errors.Is(err, ErrAuthRejected):
		return "check the plug's \"username\" and \"password\" keys (Gen2+ devices always use username admin)"
	case errors.Is(err, ErrNoTimer):
		return "its firmware may not support the relay timer; update it or set flip_back: off"
	case errors.Is(err, ErrNotShelly):
		return "is this a Shelly device, and is the port right?"
	case errors.As(err, &re):
		return "the device rejected the request; check the outlet and the firmware"
	}
	return actuator.NetworkHint(err)
}

var errNoChallenge = errors.New("the device answered 401 without a digest challenge")

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
