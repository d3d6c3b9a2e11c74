package state

import "time"

// Episode is one alert episode the webhook acted on: it opens with the
// first firing notification of an alert fingerprint and closes with its
// resolved notification, or when the device has been up for a while. Every
// firing notification while it is open is the same episode, whatever its
// startsAt (Prometheus replicas each give their own).
type Episode struct {
	Device string `json:"device,omitempty"`
	// Acted is when the webhook acted on the episode; an alert whose
	// startsAt is later began after that, so it is a new outage.
	Acted time.Time `json:"acted"`
	// StartsAt is the startsAt of the notification that opened it.
	StartsAt time.Time `json:"starts_at"`
}

// maxEpisodes bounds the open episodes kept; the oldest go first.
const maxEpisodes = 10000

// Episode returns the open episode of an alert fingerprint.
func (s *Store) Episode(fingerprint string) (Episode, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep, ok := s.f.Episodes[fingerprint]
	return ep, ok
}

// OpenEpisode records an episode for fingerprint, replacing an older one,
// and forgets episodes that acted more than ttl ago.
func (s *Store) OpenEpisode(fingerprint string, ep Episode, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.openEpisode(fingerprint, ep, ttl)
	return s.save()
}

// openEpisode is OpenEpisode in memory. Callers hold s.mu.
func (s *Store) openEpisode(fingerprint string, ep Episode, ttl time.Duration) {
	if s.f.Episodes == nil {
		s.f.Episodes = map[string]Episode{}
	}
	var oldest string
	for k, e := range s.f.Episodes {
		if ep.Acted.Sub(e.Acted) > ttl {
			delete(s.f.Episodes, k)
			continue
		}
		if oldest == "" || e.Acted.Before(s.f.Episodes[oldest].Acted) {
			oldest = k
		}
	}
	if _, ok := s.f.Episodes[fingerprint]; !ok && len(s.f.Episodes) >= maxEpisodes {
		delete(s.f.Episodes, oldest)
	}
	s.f.Episodes[fingerprint] = ep
}

// CloseEpisode ends the episode of fingerprint, if one is open.
func (s *Store) CloseEpisode(fingerprint string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.f.Episodes[fingerprint]; !ok {
		return nil
	}
	delete(s.f.Episodes, fingerprint)
	return s.save()
}
