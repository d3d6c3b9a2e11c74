package shellysim

import (
	"time"

	"github.com/restartinator/restartinator/internal/clock"
)

// relay is one output with its meter and flip-back timer.
type relay struct {
	name   string
	on     bool
	source string // what switched it last: "init", "http", "WS_in", "timer", "button"

	// The running flip-back timer: at started+dur the relay returns to the
	// state it had before the timed command.
	timer   clock.Timer
	stop    chan struct{}
	started time.Time
	dur     float64 // seconds

	wh        float64 // energy counted, Wh
	lastTally time.Time
}

// tally adds the energy drawn since the last tally.
func (r *relay) tally(now time.Time, metered bool) {
	if metered && r.on && now.After(r.lastTally) {
		r.wh += loadWatts * now.Sub(r.lastTally).Hours()
	}
	r.lastTally = now
}

func (r *relay) watts(metered bool) float64 {
	if metered && r.on {
		return loadWatts
	}
	return 0
}

// switchLocked sets relay i, replacing any running timer (as both Gen1 turn
// and Gen2 Switch.Set do); a positive flipAfter starts a timer that flips
// the relay back after that many seconds. d.mu is held.
func (d *Device) switchLocked(i int, on bool, flipAfter float64, source string) (wasOn bool) {
	r := d.relays[i]
	now := d.clock.Now()
	r.tally(now, d.m.metered)
	wasOn = r.on
	r.on, r.source = on, source
	d.cancelTimerLocked(r)
	if flipAfter > 0 {
		d.startTimerLocked(i, flipAfter)
	}
	return wasOn
}

func (d *Device) cancelTimerLocked(r *relay) {
	if r.timer == nil {
		return
	}
	r.timer.Stop()
	close(r.stop)
	r.timer, r.stop = nil, nil
}

func (d *Device) startTimerLocked(i int, secs float64) {
	r := d.relays[i]
	back := !r.on // a flip-back returns to the state before the timed command
	t := d.clock.NewTimer(time.Duration(secs * float64(time.Second)))
	stop := make(chan struct{})
	r.timer, r.stop, r.started, r.dur = t, stop, d.clock.Now(), secs
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		select {
		case <-t.C():
		case <-stop:
			return
		case <-d.done:
			t.Stop()
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if r.stop != stop { // replaced while we woke up
			return
		}
		r.timer, r.stop = nil, nil
		r.tally(d.clock.Now(), d.m.metered)
		r.on, r.source = back, "timer"
	}()
}

// remaining is the timer's seconds left, 0 without one.
func (r *relay) remaining(now time.Time) float64 {
	if r.timer == nil {
		return 0
	}
	return max(0, r.dur-now.Sub(r.started).Seconds())
}
