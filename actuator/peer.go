package actuator

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrCycledByPeer answers a cycle request for an outlet that another
// restartinator (or a person) is already cycling: the plug says so.
var ErrCycledByPeer = errors.New("cycled by a peer")

// PeerOptions make the Cycler one of a redundant pair on the same plugs.
type PeerOptions struct {
	// Check asks the plug, before switching an outlet off, whether a peer is
	// already cycling it.
	Check bool
	// Instance names this restartinator in its log lines.
	Instance string
	// Delay is waited before the check, so a standby instance told at the
	// same moment as the primary sees the primary's cycle.
	Delay time.Duration
}

// ownOnTolerance is how far the plug's on-time may be from the moment this
// instance switched the outlet on and still be taken for our own doing: the
// plug counts whole seconds and is read some time after.
const ownOnTolerance = 15 * time.Second

// peerTimeout bounds the plug reads of the peer check.
const peerTimeout = 5 * time.Second

// SetPeer changes the peer options on reload.
func (c *Cycler) SetPeer(p PeerOptions) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opt.Peer = p
}

func (c *Cycler) peerOptions() PeerOptions {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opt.Peer
}

// CheckPeer asks the plug whether a peer is cycling r's outlet now, without
// waiting the configured delay: the webhook uses it to answer at once. It
// returns an error wrapping ErrCycledByPeer when one is, and the plug's read
// error when the plug cannot be asked.
func (c *Cycler) CheckPeer(ctx context.Context, r Request) error {
	if !c.peerOptions().Check {
		p, err := c.opt.Plugs.Plug(r.Plug)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, peerTimeout)
		defer cancel()
		_, err = p.Status(cctx)
		return err
	}
	return c.peerCycling(ctx, r)
}

// peerCycling reads the plug and says whether someone else is cycling r's
// outlet: it is off, a flip-back timer is armed (we are not cycling it: the
// Cycler holds the outlet), or power came on less than r.Boot ago and not by
// us.
func (c *Cycler) peerCycling(ctx context.Context, r Request) error {
	p, err := c.opt.Plugs.Plug(r.Plug)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, peerTimeout)
	defer cancel()
	st, err := p.Status(cctx)
	if err != nil {
		return err
	}
	o, err := SelectOutlet(st, r.Outlet)
	if err != nil {
		return err
	}
	if !o.On {
		return fmt.Errorf("%w: the outlet is off — another instance is mid-cycle, or it was switched off by hand", ErrCycledByPeer)
	}
	// A timer on the plug while this instance is not cycling the outlet is
	// a peer's (drivers that read their timer back implement the verifier).
	if v, ok := p.(FlipBackVerifier); ok {
		if left, armed, err := v.FlipBackArmed(cctx, r.Outlet); err == nil && armed && left > 0 {
			return fmt.Errorf("%w: a flip-back timer another instance armed switches the outlet on in %s", ErrCycledByPeer, left.Round(time.Second))
		}
	}
	if o.OnTime > 0 && o.OnTime < r.Boot {
		onAt := c.opt.Clock.Now().Add(-o.OnTime)
		c.mu.Lock()
		own, ok := c.lastOn[r.key()]
		c.mu.Unlock()
		if !ok || onAt.Sub(own).Abs() > ownOnTolerance {
			return fmt.Errorf("%w: power came on %s ago, within boot_time %s, and not by this instance", ErrCycledByPeer, o.OnTime.Round(time.Second), r.Boot)
		}
	}
	return nil
}

// skipForPeer runs the delayed peer check of a cycle about to start. A peer's
// cycle gives the devices their boot grace, as if we had cycled them.
func (c *Cycler) skipForPeer(r Request) (Update, bool) {
	peer := c.peerOptions()
	if !peer.Check {
		return Update{}, false
	}
	if peer.Delay > 0 {
		t := c.opt.Clock.NewTimer(peer.Delay)
		select {
		case <-t.C():
		case <-c.ctx.Done():
			t.Stop()
		}
	}
	err := c.peerCycling(c.ctx, r)
	if !errors.Is(err, ErrCycledByPeer) {
		if err != nil {
			c.log.Warn("could not ask the plug whether a peer is cycling it; cycling", "plug", r.Plug, "outlet", r.Outlet, "err", err)
		}
		return Update{}, false
	}
	now := c.opt.Clock.Now()
	c.log.Info("not cycling: a peer already is", "plug", r.Plug, "outlet", r.Outlet, "devices", r.Devices,
		"trigger", r.Trigger, "reason", err, "boot_time", r.Boot)
	for _, d := range r.Devices {
		c.skipped.WithLabelValues(d, "cycled_by_peer").Inc()
	}
	c.mu.Lock()
	until := now.Add(r.Boot)
	c.busy[r.key()] = busy{phase: PhaseBooting, until: until}
	c.mu.Unlock()
	return Update{Request: r, Phase: PhaseBooting, Report: SafeCycleReport{CycledByPeer: true}, Time: now, BootUntil: until}, true
}

// poweredOn records when this instance last saw an outlet switched on by its
// own doing, so the peer check does not take our own cycle for a peer's.
func (c *Cycler) poweredOn(key string, at time.Time) {
	c.mu.Lock()
	c.lastOn[key] = at
	c.mu.Unlock()
}
