package state

import (
	"encoding/json"
	"fmt"
)

// Transition is a change of a device's availability: at At (Unix
// seconds) it became Up (1), down (0) or unknown (-1: not watched, e.g.
// restartinator stopped). Kept as [at, up] for a compact file.
type Transition struct {
	At int64
	Up int8
}

// Availability values.
const (
	Down    int8 = 0
	Up      int8 = 1
	Unknown int8 = -1
)

func (t Transition) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "[%d,%d]", t.At, t.Up), nil
}

func (t *Transition) UnmarshalJSON(b []byte) error {
	var a [2]int64
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("an availability transition is [unix_seconds, 1|0|-1]: %w", err)
	}
	if a[1] < -1 || a[1] > 1 {
		return fmt.Errorf("an availability transition's value is 1, 0 or -1, got %d", a[1])
	}
	t.At, t.Up = a[0], int8(a[1])
	return nil
}

// SetAvailability replaces the availability timelines of the devices in
// m (the caller bounds them) and writes the file once.
func (s *Store) SetAvailability(m map[string][]Transition) error {
	if len(m) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f.Availability == nil {
		s.f.Availability = map[string][]Transition{}
	}
	for d, ts := range m {
		s.f.Availability[d] = append([]Transition(nil), ts...)
	}
	return s.save()
}

// Availability is a device's kept timeline, oldest first.
func (s *Store) Availability(device string) []Transition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Transition(nil), s.f.Availability[device]...)
}
