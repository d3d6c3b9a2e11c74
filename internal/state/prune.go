package state

import (
	"slices"
	"sort"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
)

// RemovedGrace is how long the state of a device removed from the config
// (its cycle history, availability timeline and pause) is kept. A device
// put back within it carries on with its history, as after a config
// mistake undone or a device taken out for repair; after it, the state is
// dropped at the next save.
const RemovedGrace = 7 * 24 * time.Hour

// SetClock sets the clock that dates removals; the real one by default.
func (s *Store) SetClock(c clock.Clock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock = c
}

// SetConfigured tells the store which devices the config has, at start and
// at every applied reload. Until it is called nothing is dropped. A device
// with state but not configured is marked removed now (kept in the file, so
// the grace survives restarts); one configured again is unmarked. Past
// RemovedGrace a removed device's state is dropped by the next save, except
// while an open power-cycle intent names it: that intent is reconciled
// (power back on) first. Writes the file when something changed.
func (s *Store) SetConfigured(devices []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.configured = map[string]bool{}
	changed := false
	for _, d := range devices {
		s.configured[d] = true
		if _, ok := s.f.RemovedSince[d]; ok {
			delete(s.f.RemovedSince, d)
			changed = true
		}
	}
	if s.sweepLocked() || changed {
		return s.save()
	}
	return nil
}

// RemovedSince is when each device with state but no longer configured was
// found removed.
func (s *Store) RemovedSince() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]time.Time, len(s.f.RemovedSince))
	for d, t := range s.f.RemovedSince {
		out[d] = t
	}
	return out
}

// sweepLocked marks devices with state that the config lacks as removed,
// and drops the state of those removed longer than RemovedGrace ago that no
// open intent names. It reports whether the file changed. Callers hold s.mu.
func (s *Store) sweepLocked() bool {
	if s.configured == nil {
		return false
	}
	now := s.now()
	changed := false
	withState := s.devicesWithStateLocked()
	for d := range withState {
		if s.configured[d] {
			continue
		}
		if _, ok := s.f.RemovedSince[d]; !ok {
			if s.f.RemovedSince == nil {
				s.f.RemovedSince = map[string]time.Time{}
			}
			s.f.RemovedSince[d] = now
			changed = true
		}
	}
	var dropped []string
	for d, since := range s.f.RemovedSince {
		switch {
		case s.configured[d] || !withState[d]:
			delete(s.f.RemovedSince, d) // nothing left to keep, or back
			changed = true
		case now.Sub(since) >= RemovedGrace && !s.inOpenIntentLocked(d):
			s.dropLocked(d)
			dropped = append(dropped, d)
			changed = true
		}
	}
	if len(dropped) > 0 && s.logger != nil {
		sort.Strings(dropped)
		s.logger.Info("dropped the state (cycle history, availability, pause) of devices removed from the config more than the grace period ago",
			"devices", dropped, "grace", RemovedGrace)
	}
	return changed
}

func (s *Store) now() time.Time {
	if s.clock == nil {
		return time.Now()
	}
	return s.clock.Now()
}

// devicesWithStateLocked names every device the file keeps anything for.
func (s *Store) devicesWithStateLocked() map[string]bool {
	out := map[string]bool{}
	for _, c := range s.f.History {
		out[c.Device] = true
	}
	for d := range s.f.Availability {
		out[d] = true
	}
	for d := range s.f.Pauses {
		out[d] = true
	}
	return out
}

func (s *Store) inOpenIntentLocked(device string) bool {
	for _, in := range s.f.Intents {
		if slices.Contains(in.Devices, device) {
			return true
		}
	}
	return false
}

func (s *Store) dropLocked(device string) {
	s.f.History = slices.DeleteFunc(s.f.History, func(c Cycle) bool { return c.Device == device })
	delete(s.f.Availability, device)
	delete(s.f.Pauses, device)
	delete(s.f.RemovedSince, device)
}
