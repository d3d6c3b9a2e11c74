package actuator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// DeviceCycler is a Plug whose device power-cycles an outlet by itself: a
// switched PDU's reboot command (APC immediateReboot) or a BMC's chassis
// power cycle (IPMI, Redfish PowerCycle). The device switches power back on
// without us, so it is at least as safe as a flip-back timer: SafeCycle
// records the intent, sends the one command, waits the device's off time
// and reads the outlet back, switching it on itself only if the device did
// not.
type DeviceCycler interface {
	// CanDeviceCycle says, before anything is switched, whether the device
	// can cycle this outlet by itself: nil when it can, an error wrapping
	// ErrDeviceCycleUnsupported when it cannot (SafeCycle then switches off
	// and on itself, with the flip_back policy), any other error when the
	// device could not be asked (then nothing is switched).
	CanDeviceCycle(ctx context.Context, outlet string) error
	// DeviceCycle sends the device's own power-cycle command. off is the
	// configured off time; the device may use its own. It returns how long
	// the device keeps power off, or 0 when the device does not say.
	DeviceCycle(ctx context.Context, outlet string, off time.Duration) (time.Duration, error)
}

// ErrDeviceCycleUnsupported means the device cannot power-cycle the outlet
// by itself.
var ErrDeviceCycleUnsupported = errors.New("the device has no power-cycle command of its own")

// deviceCycleSettle is added to the device's off time before the outlet is
// read back: the device reports the command done a moment after power returns.
const deviceCycleSettle = 2 * time.Second

// deviceCycle runs a cycle done by the device itself. handled is false when
// the device cannot (SafeCycle then cycles the outlet itself).
func deviceCycle(ctx context.Context, dc DeviceCycler, p Plug, outlet string, off time.Duration, opt SafeCycleOptions, rep *SafeCycleReport, log *slog.Logger) (handled bool, err error) {
	fail := func(reason string, err error) (bool, error) {
		rep.Err, rep.Reason = err, reason
		return true, err
	}
	if err := dc.CanDeviceCycle(ctx, outlet); errors.Is(err, ErrDeviceCycleUnsupported) {
		log.Info("the device cannot power-cycle this outlet by itself; switching it off and on ourselves", "reason", err)
		return false, nil
	} else if err != nil {
		log.Error("could not ask the device about its power-cycle command; not switching off", "err", err)
		return fail(ReasonFlipBack, fmt.Errorf("asking the device before its power cycle: %w", err))
	}
	if opt.BeforeOff != nil {
		if err := opt.BeforeOff(); err != nil {
			return fail(ReasonBeforeOff, fmt.Errorf("not switching off: %w", err))
		}
	}
	devOff, err := dc.DeviceCycle(ctx, outlet, off)
	if err != nil {
		// The command may have been taken with the answer lost: make sure
		// the outlet is on.
		log.Warn("the device's power-cycle command failed; making sure the outlet is on", "err", err)
		restoreErr := restore(ctx, p, outlet, opt, rep, log)
		return fail(ReasonSwitchOff, errors.Join(fmt.Errorf("sending the device's power-cycle command: %w", err), restoreErr))
	}
	// From here the device switches power back on by itself, like a
	// flip-back timer: the Cycler counts on it if we cannot verify.
	rep.DeviceCycled, rep.SwitchedOff, rep.FlipBackArmed = true, true, true
	rep.DeviceOffTime = devOff
	wait := devOff
	if wait <= 0 {
		wait = off
	}
	log.Info("the device is power-cycling the outlet itself", "device_off_time", devOff, "wait", wait+deviceCycleSettle)
	t := opt.Clock.NewTimer(wait + deviceCycleSettle)
	select {
	case <-t.C():
	case <-ctx.Done():
		t.Stop()
		rep.Interrupted = true
		log.Warn("interrupted while the device power-cycles the outlet; switching it on now", "err", ctx.Err())
	}
	if !rep.Interrupted {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opt.RestoreTimeout)
		st, err := p.Status(rctx)
		cancel()
		if err == nil {
			if o, serr := SelectOutlet(st, outlet); serr == nil && o.On {
				rep.SwitchedOn, rep.Verified = true, true
				log.Info("the device switched the outlet back on; verified")
				return true, nil
			}
			log.Warn("the outlet is still off after the device's power cycle; switching it on ourselves")
		} else {
			log.Warn("could not read the outlet after the device's power cycle; switching it on ourselves", "err", err)
		}
	}
	if err := restore(ctx, p, outlet, opt, rep, log); err != nil {
		return fail(ReasonSwitchOn, fmt.Errorf("%w; the device was told to switch it on by itself", err))
	}
	if rep.Interrupted {
		return fail(ReasonInterrupted, fmt.Errorf("cycle interrupted, power restored early: %w", ctx.Err()))
	}
	return true, nil
}

// BMCStatus is a server's state as its BMC sees it.
type BMCStatus struct {
	PowerOn bool
	// Health is the BMC's rollup of the system's health (Redfish
	// Status.Health: OK, Warning, Critical); empty when it does not say.
	Health string
}

// BMCStatusReader is a plug that is a server's BMC; the bmc probe uses it.
type BMCStatusReader interface {
	BMCStatus(ctx context.Context) (BMCStatus, error)
}
