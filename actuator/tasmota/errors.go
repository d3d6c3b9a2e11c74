package tasmota

import (
	"context"
	"errors"

	"github.com/restartinator/restartinator/actuator"
)

// wrap names the device in err and adds the hint for its cause.
func wrap(plug, op string, err error) error {
	return actuator.WrapPlugError("tasmota", plug, op, err, hint)
}

func hint(err error) string {
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
	}
	return actuator.NetworkHint(err)
}
