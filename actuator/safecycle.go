package actuator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
)

// ErrOutletNotFound means an outlet selector matched no outlet of the plug.
var ErrOutletNotFound = errors.New("no such outlet")

// SelectOutlet picks the outlet sel names in st: by id, then alias, then
// 0-based index. The empty selector means the plug itself, which on a strip
// is an error listing the outlets to choose from.
func SelectOutlet(st Status, sel string) (Outlet, error) {
	if sel == "" {
		if !st.Strip && len(st.Outlets) == 1 {
			return st.Outlets[0], nil
		}
		return Outlet{}, fmt.Errorf("%w: %s is a strip; choose an outlet by alias, index or id: %s",
			ErrOutletNotFound, st.Model, describeOutlets(st.Outlets))
	}
	for _, o := range st.Outlets {
		if o.ID != "" && o.ID == sel {
			return o, nil
		}
	}
	for _, o := range st.Outlets {
		if o.Alias == sel {
			return o, nil
		}
	}
	for _, o := range st.Outlets {
		if strings.EqualFold(o.Alias, sel) {
			return o, nil
		}
	}
	if i, err := strconv.Atoi(sel); err == nil && i >= 0 && i < len(st.Outlets) {
		return st.Outlets[i], nil
	}
	return Outlet{}, fmt.Errorf("%w %q on %s; it has: %s", ErrOutletNotFound, sel, st.Model, describeOutlets(st.Outlets))
}

func describeOutlets(outs []Outlet) string {
	parts := make([]string, len(outs))
	for i, o := range outs {
		parts[i] = fmt.Sprintf("%d %q", o.Index, o.Alias)
		if o.ID != "" {
			parts[i] += " (id " + o.ID + ")"
		}
	}
	return strings.Join(parts, ", ")
}

// SafeCycleOptions tunes SafeCycle. The zero value works.
type SafeCycleOptions struct {
	Clock  clock.Clock  // default clock.Real{}
	Logger *slog.Logger // default slog.Default()
	// BeforeOff runs after the flip-back is armed and before the outlet is
	// switched off; the Cycler records its intent in the state file here.
	// If it fails, the outlet is not switched off.
	BeforeOff func() error
	// OnAttempts bounds our own tries to switch the outlet back on (default 4),
	// RetryDelay is the wait before the first retry, doubling after (default 2s).
	OnAttempts int
	RetryDelay time.Duration
	// RestoreTimeout bounds switching back on, retries included. Restoring
	// ignores ctx's cancellation (SIGTERM during the off time must still
	// bring power back), so this is its only limit (default 30s).
	RestoreTimeout time.Duration
	// FlipBack is the plug's flip_back policy: config.FlipBackAuto (the
	// default), FlipBackRequired or FlipBackOff.
	FlipBack string
}

// SafeCycleReport says what a power cycle did.
type SafeCycleReport struct {
	// FlipBackArmed: the plug's own timer was set to switch the outlet on
	// even if we die or lose the network during the off time.
	FlipBackArmed bool
	// FlipBackUnsupported: the plug refused the timer; the cycle went on as a
	// plain off/on. Callers count this.
	FlipBackUnsupported bool
	// FlipBackVerified: the plug read the armed timer back (FlipBackVerifier).
	FlipBackVerified bool
	SwitchedOff      bool
	// SwitchedOn and Verified: our own switch-on succeeded and a status read
	// afterwards showed the outlet on.
	SwitchedOn bool
	Verified   bool
	// FlipBackDisarmed: the timer was removed after power came back.
	FlipBackDisarmed bool
	OnAttempts       int
	Interrupted      bool // ctx ended during the off time; power was restored early
	// CycledByPeer: nothing was switched; another instance was already
	// cycling the outlet (the Cycler's peer check).
	CycledByPeer bool
	// FlipBackLost: the timer was gone after switching off (the firmware
	// cleared it); it was armed again, or the outlet was switched on at once.
	FlipBackLost bool
	// DeviceCycled: the device power-cycled the outlet itself (a PDU's
	// reboot, a BMC's power cycle; see DeviceCycler). FlipBackArmed is set
	// with it, since power returns without us; SwitchedOn then means a read
	// showed the outlet on again, whoever switched it.
	DeviceCycled bool
	// DeviceOffTime is how long the device said it keeps power off (0 when
	// it does not say).
	DeviceOffTime time.Duration
	Err           error
	// Reason is the step that failed (one of the Reason* constants), for the
	// failures metric; empty when the cycle succeeded.
	Reason string
}

// Reasons a power cycle failed, the reason label of
// restartinator_power_cycle_failures_total.
const (
	ReasonFlipBack     = "flip_back"      // arming the plug's timer failed: not switched off
	ReasonBeforeOff    = "before_off"     // recording the intent failed: not switched off
	ReasonSwitchOff    = "switch_off"     // switching off failed
	ReasonFlipBackLost = "flip_back_lost" // the timer vanished after switching off; switched on early
	ReasonSwitchOn     = "switch_on"      // switching back on (or verifying it) failed
	ReasonInterrupted  = "interrupted"    // shutdown or cancellation during the off time
	ReasonPlug         = "plug"           // the plug could not be found or built
)

// Reasons lists every reason, for exporting the counters at 0.
var Reasons = []string{ReasonFlipBack, ReasonBeforeOff, ReasonSwitchOff, ReasonFlipBackLost, ReasonSwitchOn, ReasonInterrupted, ReasonPlug}

// SafeCycle power-cycles one outlet of p so that no path leaves it off when
// we can help it: it arms the plug's own flip-back timer for the off time,
// switches off, waits, switches on and verifies, then removes the timer.
// If the plug refuses the timer, it cycles plainly and says so. If ctx ends
// during the off time, it switches on at once, with a fresh short timeout.
// The returned error is also in the report.
func SafeCycle(ctx context.Context, p Plug, outlet string, off time.Duration, opt SafeCycleOptions) (SafeCycleReport, error) {
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.OnAttempts <= 0 {
		opt.OnAttempts = 4
	}
	if opt.RetryDelay <= 0 {
		opt.RetryDelay = 2 * time.Second
	}
	if opt.RestoreTimeout <= 0 {
		opt.RestoreTimeout = 30 * time.Second
	}
	if opt.FlipBack == "" {
		opt.FlipBack = config.FlipBackAuto
	}
	log := opt.Logger.With("outlet", outlet)
	var rep SafeCycleReport
	fail := func(reason string, err error) (SafeCycleReport, error) {
		rep.Err, rep.Reason = err, reason
		return rep, err
	}

	// A device that cycles the outlet itself needs no timer of ours;
	// flip_back: off asks for our own off and on.
	if dc, ok := p.(DeviceCycler); ok && opt.FlipBack != config.FlipBackOff {
		if handled, err := deviceCycle(ctx, dc, p, outlet, off, opt, &rep, log); handled {
			return rep, err
		}
	}

	if err := armFlipBack(ctx, p, outlet, off, opt.FlipBack, &rep, log); err != nil {
		// Unreachable, session trouble, or an error the plug did not
		// explain: switching off now could strand the outlet, so don't.
		log.Error("could not arm the plug's flip-back timer; not switching off", "err", err)
		return fail(ReasonFlipBack, err)
	}

	if opt.BeforeOff != nil {
		if err := opt.BeforeOff(); err != nil {
			err = fmt.Errorf("not switching off: %w", err)
			if rep.FlipBackArmed {
				if derr := p.DisarmFlipBack(ctx, outlet); derr != nil {
					log.Warn("could not remove the flip-back timer; the plug will switch the outlet on when it fires", "err", derr)
				} else {
					rep.FlipBackDisarmed = true
				}
			}
			return fail(ReasonBeforeOff, err)
		}
	}

	if err := p.Switch(ctx, outlet, false); err != nil {
		// The switch may have happened with the answer lost: make sure it's on.
		log.Warn("switching off failed; making sure the outlet is on", "err", err)
		restoreErr := restore(ctx, p, outlet, opt, &rep, log)
		return fail(ReasonSwitchOff, errors.Join(fmt.Errorf("switching off: %w", err), restoreErr))
	}
	rep.SwitchedOff = true
	log.Info("outlet switched off", "off_time", off, "flip_back_armed", rep.FlipBackArmed)

	if lost := checkFlipBack(ctx, p, outlet, off, &rep, log); lost != nil {
		restoreErr := restore(ctx, p, outlet, opt, &rep, log)
		return fail(ReasonFlipBackLost, errors.Join(lost, restoreErr))
	}

	t := opt.Clock.NewTimer(off)
	select {
	case <-t.C():
	case <-ctx.Done():
		t.Stop()
		rep.Interrupted = true
		log.Warn("cycle interrupted during the off time; switching the outlet on now", "err", ctx.Err())
	}

	restoreErr := restore(ctx, p, outlet, opt, &rep, log)
	switch {
	case restoreErr != nil && rep.FlipBackArmed:
		return fail(ReasonSwitchOn, fmt.Errorf("%w; the plug's own flip-back timer will switch it on", restoreErr))
	case restoreErr != nil:
		return fail(ReasonSwitchOn, fmt.Errorf("%w; the outlet may be left off, and the plug has no flip-back timer", restoreErr))
	case rep.Interrupted:
		return fail(ReasonInterrupted, fmt.Errorf("cycle interrupted, power restored early: %w", ctx.Err()))
	}
	return rep, nil
}

// checkFlipBack reads the armed timer back after switching off, when the
// plug can tell (FlipBackVerifier). If the firmware cleared it as the relay
// changed, it arms it again for the whole off time; if that fails, it
// returns an error and the caller switches on at once. A failed read is
// only logged: our own switch-on still comes.
func checkFlipBack(ctx context.Context, p Plug, outlet string, off time.Duration, rep *SafeCycleReport, log *slog.Logger) error {
	v, ok := p.(FlipBackVerifier)
	if !ok || !rep.FlipBackArmed {
		return nil
	}
	_, armed, err := v.FlipBackArmed(ctx, outlet)
	if err != nil {
		log.Warn("could not read the flip-back timer back after switching off", "err", err)
		return nil
	}
	if armed {
		return nil
	}
	rep.FlipBackLost = true
	log.Warn("the plug cleared its flip-back timer when the outlet switched off; arming it again")
	if err := p.ArmFlipBack(ctx, outlet, off); err != nil {
		rep.FlipBackArmed = false
		log.Error("could not arm the flip-back timer again; switching the outlet on now", "err", err)
		return fmt.Errorf("the plug cleared its flip-back timer after switching off and it could not be armed again: %w", err)
	}
	return nil
}

// restore switches the outlet on and verifies it, retrying a few times, then
// removes the flip-back timer. It runs on a context detached from ctx's
// cancellation (bounded by RestoreTimeout), so a shutdown or a caller giving
// up still restores power.
func restore(ctx context.Context, p Plug, outlet string, opt SafeCycleOptions, rep *SafeCycleReport, log *slog.Logger) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opt.RestoreTimeout)
	defer cancel()
	var lastErr error
	delay := opt.RetryDelay
	for attempt := 1; attempt <= opt.OnAttempts; attempt++ {
		if attempt > 1 {
			t := opt.Clock.NewTimer(delay)
			select {
			case <-t.C():
			case <-rctx.Done():
				t.Stop()
				return fmt.Errorf("gave up after %s: %w", opt.RestoreTimeout, lastErr)
			}
			delay *= 2
		}
		rep.OnAttempts = attempt
		if err := p.Switch(rctx, outlet, true); err != nil {
			lastErr = fmt.Errorf("switching on: %w", err)
			log.Warn("switching the outlet on failed", "attempt", attempt, "err", err)
			continue
		}
		rep.SwitchedOn = true
		st, err := p.Status(rctx)
		if err != nil {
			lastErr = fmt.Errorf("verifying the outlet is on: %w", err)
			log.Warn("could not read the outlet back after switching on", "attempt", attempt, "err", err)
			continue
		}
		o, err := SelectOutlet(st, outlet)
		if err != nil {
			lastErr = fmt.Errorf("verifying the outlet is on: %w", err)
			continue
		}
		if !o.On {
			lastErr = errors.New("the plug reports the outlet still off after switching on")
			log.Warn("outlet still off after switching on", "attempt", attempt)
			continue
		}
		rep.Verified = true
		log.Info("outlet switched on and verified", "attempts", attempt)
		if rep.FlipBackArmed {
			if err := p.DisarmFlipBack(rctx, outlet); err != nil {
				// Harmless: the timer switches on what is already on.
				log.Warn("could not remove the flip-back timer", "err", err)
			} else {
				rep.FlipBackDisarmed = true
			}
		}
		return nil
	}
	return lastErr
}
