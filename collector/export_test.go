package collector

import "time"

// InitialDelay exposes when a device's first probe is due, so tests can
// advance the fake clock to exactly that instant.
func (s *Supervisor) InitialDelay(name string) time.Duration {
	s.mu.RLock()
	d := s.devices[name]
	s.mu.RUnlock()
	if d == nil {
		return -1
	}
	return s.initialDelay(d)
}

// Workers is the bound on probes at once.
func (s *Supervisor) Workers() int { return s.sched.workers() }
