package actuator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/restartinator/restartinator/config"
)

// FlipBackVerifier is a Plug that can read back the flip-back timer it
// armed. With flip_back: required the safe cycle reads it before switching
// off; a plug without it counts the device's acknowledgement of the arm
// request (ArmFlipBack returning nil) as the proof.
type FlipBackVerifier interface {
	// FlipBackArmed reports whether the outlet's own timer is armed to switch
	// it on, and how long it has left.
	FlipBackArmed(ctx context.Context, outlet string) (remaining time.Duration, armed bool, err error)
}

// ErrFlipBackRequired is returned, before anything is switched, when a plug
// whose flip_back is required cannot arm and verify its timer.
var ErrFlipBackRequired = errors.New("flip_back is required but the plug's own timer could not be armed and verified: not switching off")

// armFlipBack applies the policy: off never arms; auto arms and goes on
// without the timer only when the device says it has none; required goes on
// only with a timer armed and, where the driver can, read back. Any other
// failure to arm stops the cycle before power goes off.
func armFlipBack(ctx context.Context, p Plug, outlet string, off time.Duration, policy string, rep *SafeCycleReport, log *slog.Logger) error {
	if policy == config.FlipBackOff {
		log.Info("flip_back is off: cycling without the plug's own timer; power returns only when we switch it on")
		return nil
	}
	err := p.ArmFlipBack(ctx, outlet, off)
	switch {
	case err == nil:
		rep.FlipBackArmed = true
	case errors.Is(err, ErrFlipBackUnsupported) && policy != config.FlipBackRequired:
		rep.FlipBackUnsupported = true
		log.Warn("plug refused the flip-back timer; cycling without it, power returns only if we switch it on", "err", err)
		return nil
	case errors.Is(err, ErrFlipBackUnsupported):
		rep.FlipBackUnsupported = true
		return fmt.Errorf("%w: %w — set flip_back: auto to cycle this plug without it", ErrFlipBackRequired, err)
	case policy == config.FlipBackRequired:
		return fmt.Errorf("%w: %w", ErrFlipBackRequired, err)
	default:
		// We could not reach the plug to arm it; switching off now could
		// strand the outlet, so don't.
		return fmt.Errorf("arming the flip-back timer before switching off: %w", err)
	}
	if policy != config.FlipBackRequired {
		return nil
	}
	v, ok := p.(FlipBackVerifier)
	if !ok {
		return nil
	}
	left, armed, err := v.FlipBackArmed(ctx, outlet)
	switch {
	case err != nil:
		err = fmt.Errorf("%w: reading the timer back: %w", ErrFlipBackRequired, err)
	case !armed:
		err = fmt.Errorf("%w: the plug accepted the timer but does not show it armed", ErrFlipBackRequired)
	case left <= 0 || left > off+time.Minute:
		err = fmt.Errorf("%w: the plug shows the timer firing in %s, not after the %s off time", ErrFlipBackRequired, left, off)
	default:
		rep.FlipBackVerified = true
		return nil
	}
	if derr := p.DisarmFlipBack(ctx, outlet); derr != nil {
		log.Warn("could not remove the flip-back timer; it switches on an outlet that is already on", "err", derr)
	}
	rep.FlipBackArmed = false
	return err
}
