package webhook

import (
	"context"
	"errors"
	"time"

	"github.com/restartinator/restartinator/internal/event"
)

// Actions is what the webhook can make happen.
type Actions interface {
	// CycleDevice power-cycles the named device's outlet in the background,
	// after checking the plug answers. Errors: ErrUnknownDevice, ErrAlreadyCycling
	// (the device is cycling or booting: skip), ErrCycledByPeer (a peer instance
	// is cycling it: skip), ErrPlugUnreachable (retry helps), others.
	CycleDevice(ctx context.Context, device, trigger string) error
	// ResetHost hard-resets this host (ErrNoHostReset when not configured).
	ResetHost(ctx context.Context, trigger string) error
	// Notify sends an event through the notifier (never blocks).
	Notify(event.Event)
	// DeviceUpSince says since when the named device has been up, and
	// false when it is not up (or unknown); it closes quiet episodes.
	DeviceUpSince(device string) (time.Time, bool)
}

var (
	ErrUnknownDevice   = errors.New("unknown device")
	ErrAlreadyCycling  = errors.New("already cycling")
	ErrPlugUnreachable = errors.New("plug unreachable")
	ErrNoHostReset     = errors.New("host reset is not configured")
	// ErrCycledByPeer: another restartinator is already cycling the device's
	// outlet (a redundant pair); skipped, answered 200.
	ErrCycledByPeer = errors.New("cycled by a peer")
)

// Trigger is the trigger name the webhook passes to Actions.
const Trigger = "webhook"
