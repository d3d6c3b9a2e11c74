package state

import "time"

// Pause is a device paused through the API: not cycled automatically
// until Until.
type Pause struct {
	Until  time.Time `json:"until"`
	Reason string    `json:"reason,omitempty"`
}

// SetPause keeps a device's pause; a zero Until removes it.
func (s *Store) SetPause(device string, p Pause) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Until.IsZero() {
		if _, ok := s.f.Pauses[device]; !ok {
			return nil
		}
		delete(s.f.Pauses, device)
		return s.save()
	}
	if s.f.Pauses == nil {
		s.f.Pauses = map[string]Pause{}
	}
	s.f.Pauses[device] = p
	return s.save()
}

// Pauses are the pauses not over at now, by device; ones over are
// forgotten (in memory; the file on its next write).
func (s *Store) Pauses(now time.Time) map[string]Pause {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Pause{}
	for d, p := range s.f.Pauses {
		if now.Before(p.Until) {
			out[d] = p
		} else {
			delete(s.f.Pauses, d)
		}
	}
	return out
}
