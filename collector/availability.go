package collector

import (
	"time"

	"github.com/restartinator/restartinator/internal/state"
)

// The availability timeline: each device's up/down transitions over the
// last historyKeep, in the state file. A transition is kept only when the
// value changes, so a steady device costs one entry whatever its probe
// rate; a flapping one is capped at maxTransitions (the oldest go).
const (
	historyKeep    = 7 * 24 * time.Hour
	maxTransitions = 2000
	// historyFlush is how often changed timelines are written at most
	// (and at every reload and stop).
	historyFlush = time.Minute
	// BarSegments is how many segments the 24-hour bar has (15 min each).
	BarSegments = 96
)

// addTransition appends v at now to ts if it differs from the last
// value, then bounds ts: entries older than historyKeep go, except the
// last of them, which says what the value was when the window begins.
func addTransition(ts []state.Transition, now time.Time, v int8) ([]state.Transition, bool) {
	if n := len(ts); n > 0 && ts[n-1].Up == v {
		return ts, false
	}
	ts = append(ts, state.Transition{At: now.Unix(), Up: v})
	return trimTransitions(ts, now), true
}

func trimTransitions(ts []state.Transition, now time.Time) []state.Transition {
	cut := now.Add(-historyKeep).Unix()
	i := 0
	for i+1 < len(ts) && ts[i+1].At <= cut {
		i++
	}
	if len(ts)-i > maxTransitions {
		i = len(ts) - maxTransitions
	}
	if i > 0 {
		ts = append(ts[:0:0], ts[i:]...)
	}
	return ts
}

// Availability is the share of [from, to) the timeline was up, counting
// only the time it was known (up or down); ok is false when none was.
func Availability(ts []state.Transition, from, to time.Time) (ratio float64, ok bool) {
	up, known := spans(ts, from, to, func(_ int, v int8, d time.Duration) {})
	if known == 0 {
		return 0, false
	}
	return float64(up) / float64(known), true
}

// spans walks the timeline over [from, to), calling f for each piece with
// its index, value and length; it returns the up and the known time.
func spans(ts []state.Transition, from, to time.Time, f func(i int, v int8, d time.Duration)) (up, known time.Duration) {
	for i, t := range ts {
		start := time.Unix(t.At, 0)
		end := to
		if i+1 < len(ts) {
			end = time.Unix(ts[i+1].At, 0)
		}
		if start.Before(from) {
			start = from
		}
		if end.After(to) {
			end = to
		}
		if !end.After(start) {
			continue
		}
		d := end.Sub(start)
		f(i, t.Up, d)
		switch t.Up {
		case state.Up:
			up += d
			known += d
		case state.Down:
			known += d
		}
	}
	return up, known
}

// Bar renders the 24 hours before now as BarSegments characters, oldest
// first: 'u' up all the known time, 'd' down all of it, 'p' partly down,
// '-' unknown.
func Bar(ts []state.Transition, now time.Time) string {
	b := make([]byte, BarSegments)
	seg := 24 * time.Hour / BarSegments
	from := now.Add(-24 * time.Hour)
	for i := range b {
		s := from.Add(time.Duration(i) * seg)
		up, known := spans(ts, s, s.Add(seg), func(int, int8, time.Duration) {})
		switch {
		case known == 0:
			b[i] = '-'
		case up == known:
			b[i] = 'u'
		case up == 0:
			b[i] = 'd'
		default:
			b[i] = 'p'
		}
	}
	return string(b)
}
