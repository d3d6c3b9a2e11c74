package kasa

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/restartinator/restartinator/actuator"
)

// DeviceError is a non-zero error code in a device's answer.
type DeviceError struct {
	Method  string // e.g. "system.set_relay_state" or "set_device_info"
	Code    int
	Message string // the device's own message, or the known name of the code
}

func (e *DeviceError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("device refused %s with error code %d", e.Method, e.Code)
	}
	return fmt.Sprintf("device refused %s: %s (error code %d)", e.Method, e.Message, e.Code)
}

// ErrAuth means no credentials we know of were accepted by a KLAP device.
var ErrAuth = errors.New("KLAP login refused")

// ErrNotAPlug means the device answered but is not something with a relay
// (a bulb, a camera, a hub).
var ErrNotAPlug = errors.New("device has no relay to switch")

// errProtocol marks an answer that is not the protocol we spoke, so protocol
// auto-detection moves on to the next one.
var errProtocol = errors.New("answer is not in the expected protocol")

// wrap names the plug in err and adds the hint for its cause.
func wrap(plug, op string, err error) error {
	return actuator.WrapPlugError("plug", plug, op, err, hint)
}

func hint(err error) string {
	var de *DeviceError
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.Canceled):
		return ""
	case errors.Is(err, ErrAuth):
		return "check --username and --password-file (the TP-Link cloud account the plug was set up with)"
	case errors.Is(err, errUnsupportedTransport):
		return "restartinator cannot talk to this firmware; see the README's Kasa and Tapo firmware section"
	case errors.Is(err, ErrNotAPlug):
		return "is this host a plug or power strip?"
	case errors.As(err, &de):
		return "the plug rejected the request; check the outlet and the plug's firmware"
	case errors.As(err, &dnsErr):
		return "check the host name"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "is the plug on the network, and is the port or protocol right?"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "is the plug on the network? check the address and routing"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return "is the plug powered and on the network?"
	case errors.Is(err, errProtocol):
		return "is this a Kasa plug, and is --protocol right?"
	}
	return "is the plug on the network?"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
