package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/internal/state"
)

func TestAvailabilityAndBar(t *testing.T) {
	now := st0.Add(48 * time.Hour)
	at := func(d time.Duration) int64 { return now.Add(-d).Unix() }
	// Up from 30h ago, down for the 6 hours from 12h ago, up again.
	ts := []state.Transition{{At: at(30 * time.Hour), Up: state.Up}, {At: at(12 * time.Hour), Up: state.Down}, {At: at(6 * time.Hour), Up: state.Up}}
	a, ok := Availability(ts, now.Add(-24*time.Hour), now)
	if !ok || a != 0.75 {
		t.Errorf("24h availability %v %v, want 0.75", a, ok)
	}
	a, ok = Availability(ts, now.Add(-historyKeep), now)
	if want := 24.0 / 30; !ok || a != want {
		t.Errorf("7d availability %v, want %v (only the 30 known hours count)", a, want)
	}
	bar := Bar(ts, now)
	want := strings.Repeat("u", 48) + strings.Repeat("d", 24) + strings.Repeat("u", 24)
	if bar != want {
		t.Errorf("bar\n%s, want\n%s", bar, want)
	}
	// A segment with both, and an unknown start.
	ts = []state.Transition{{At: at(time.Hour), Up: state.Up}, {At: at(50 * time.Minute), Up: state.Down}, {At: at(40 * time.Minute), Up: state.Up}}
	bar = Bar(ts, now)
	if !strings.HasPrefix(bar, strings.Repeat("-", 92)) || bar[92:] != "ppuu" {
		t.Errorf("bar %s", bar)
	}
	if _, ok := Availability(nil, now.Add(-time.Hour), now); ok {
		t.Errorf("an empty timeline has an availability")
	}
}

// The timeline keeps only changes, drops what is older than 7 days but
// the entry that says the value at the window's start, and caps a
// flapping device's.
func TestTransitionsBounded(t *testing.T) {
	var ts []state.Transition
	now := st0
	ts, _ = addTransition(ts, now, state.Up)
	for range 10 {
		now = now.Add(time.Minute)
		var changed bool
		if ts, changed = addTransition(ts, now, state.Up); changed {
			t.Fatalf("the same value twice was kept")
		}
	}
	now = now.Add(8 * 24 * time.Hour)
	ts, _ = addTransition(ts, now, state.Down)
	if len(ts) != 2 || ts[0].Up != state.Up {
		t.Fatalf("after 8 days: %+v, want the up before the window and the down", ts)
	}
	if a, _ := Availability(ts, now.Add(-historyKeep), now.Add(time.Hour)); a != float64(historyKeep)/float64(historyKeep+time.Hour) {
		t.Errorf("availability %v: the value at the window's start was lost", a)
	}
	for i := range 3 * maxTransitions {
		now = now.Add(time.Second)
		ts, _ = addTransition(ts, now, int8(i%2))
	}
	if len(ts) != maxTransitions || ts[len(ts)-1].At != now.Unix() {
		t.Errorf("a flapping device keeps %d transitions, want %d ending now", len(ts), maxTransitions)
	}
}
