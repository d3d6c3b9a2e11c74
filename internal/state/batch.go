package state

import "time"

// maxDedupKeys bounds the webhook dedup keys kept; past it the oldest go
// first, whatever their age.
const maxDedupKeys = 10000

// Batch gathers one webhook request's dedup and episode changes in memory
// and writes them with one save (Commit), instead of rewriting and syncing
// the whole file once per alert. It is used by one goroutine. Other writers
// of the Store (the Cycler's intents) still save at once, and their save
// writes whatever the batch changed so far too.
type Batch struct {
	s     *Store
	dirty bool
	swept bool
}

// Batch starts a batch of changes.
func (s *Store) Batch() *Batch { return &Batch{s: s} }

// SeenAlert records a dedup key in memory and reports whether it was
// already there. Keys older than ttl are forgotten (swept once a batch);
// past maxDedupKeys the oldest go first.
func (b *Batch) SeenAlert(key string, now time.Time, ttl time.Duration) bool {
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !b.swept {
		b.swept = true
		for k, t := range s.f.Dedup {
			if now.Sub(t) > ttl {
				delete(s.f.Dedup, k)
				b.dirty = true
			}
		}
	}
	if _, ok := s.f.Dedup[key]; ok {
		return true
	}
	if len(s.f.Dedup) >= maxDedupKeys {
		s.evictOldestDedup(len(s.f.Dedup) - maxDedupKeys + 1)
	}
	s.f.Dedup[key] = now
	b.dirty = true
	return false
}

// evictOldestDedup drops the n oldest dedup keys. Callers hold s.mu.
func (s *Store) evictOldestDedup(n int) {
	for range n {
		var oldest string
		var at time.Time
		for k, t := range s.f.Dedup {
			if oldest == "" || t.Before(at) || (t.Equal(at) && k < oldest) {
				oldest, at = k, t
			}
		}
		delete(s.f.Dedup, oldest)
	}
}

// ForgetAlert removes a dedup key in memory.
func (b *Batch) ForgetAlert(key string) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	if _, ok := b.s.f.Dedup[key]; ok {
		delete(b.s.f.Dedup, key)
		b.dirty = true
	}
}

// Episode returns the open episode of an alert fingerprint.
func (b *Batch) Episode(fingerprint string) (Episode, bool) { return b.s.Episode(fingerprint) }

// OpenEpisode records an episode in memory (see Store.OpenEpisode).
func (b *Batch) OpenEpisode(fingerprint string, ep Episode, ttl time.Duration) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	b.s.openEpisode(fingerprint, ep, ttl)
	b.dirty = true
}

// CloseEpisode ends an episode in memory.
func (b *Batch) CloseEpisode(fingerprint string) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	if _, ok := b.s.f.Episodes[fingerprint]; ok {
		delete(b.s.f.Episodes, fingerprint)
		b.dirty = true
	}
}

// Commit writes the batch's changes, if any, with one save. A batch may go
// on after a Commit (a host reset commits before it acts).
func (b *Batch) Commit() error {
	if !b.dirty {
		return nil
	}
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	b.dirty = false
	return b.s.save()
}
