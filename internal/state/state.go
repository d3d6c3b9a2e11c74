// Package state owns the state file: pending power-cycle intents, cycle
// history, webhook dedup keys and queued notifications. It is written atomically
// (temp file, fsync, rename) so a crash never leaves half a file, with a
// backup copy written before each replace; a damaged file is set aside with
// a warning and the state restored from the backup, instead of stopping the
// program or losing pending intents.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
)

// Intent is a cycle in progress: the outlet was (or is about to be)
// switched off. On start-up every intent left behind is reconciled by
// switching the outlet on.
type Intent struct {
	Plug    string    `json:"plug"`
	Outlet  string    `json:"outlet"`
	Devices []string  `json:"devices"`
	Trigger string    `json:"trigger"`
	Started time.Time `json:"started"`
}

// Cycle is one finished power cycle.
type Cycle struct {
	Device  string    `json:"device"`
	Trigger string    `json:"trigger"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	OK      bool      `json:"ok"`
	Detail  string    `json:"detail,omitempty"`
}

type file struct {
	Version   int                  `json:"version"`
	Intents   map[string]Intent    `json:"intents"`
	History   []Cycle              `json:"history"`
	Dedup     map[string]time.Time `json:"webhook_dedup"`
	MailQueue json.RawMessage      `json:"mail_queue,omitempty"` // the first version's email queue: Open moves it to NotifyQueues["email"]

	// Episodes are the webhook's open alert episodes by alert fingerprint.
	Episodes map[string]Episode `json:"webhook_episodes,omitempty"`

	// NotifyQueues are the notification channels' queues by channel name.
	NotifyQueues map[string]json.RawMessage `json:"notify_queues,omitempty"`

	// Pauses are the devices paused through the API, by device name.
	Pauses map[string]Pause `json:"pauses,omitempty"`

	// Availability are the devices' up/down timelines of the last days,
	// as transitions, by device name (the collector bounds them).
	Availability map[string][]Transition `json:"availability,omitempty"`

	// RemovedSince dates, by device name, when a device that has state
	// here was found missing from the config; its state is dropped
	// RemovedGrace later (prune.go).
	RemovedSince map[string]time.Time `json:"removed_since,omitempty"`
}

// emailChannel is the name the first version's mail queue is kept under.
const emailChannel = "email"

// maxHistory bounds the history kept per device.
const maxHistory = 100

// Store is the state file in memory; every change is written through.
type Store struct {
	path   string
	logger *slog.Logger
	mu     sync.Mutex
	f      file
	saves  int64 // files written, for tests and diagnostics

	// configured are the config's devices (SetConfigured); nil until
	// known, and then nothing is dropped.
	configured map[string]bool
	clock      clock.Clock
}

// Open reads the state file at path. A missing file is an empty state. A
// damaged one is renamed aside with a warning, and the state is taken from
// the backup (path.bak, written before every replace of the main file), so
// pending power-cycle intents survive: an outlet left off is switched back
// on at reconcile.
func Open(path string, logger *slog.Logger) (*Store, error) {
	s := &Store{path: path, logger: logger, f: emptyFile()}
	if path == "" {
		return s, nil
	}
	data, err := os.ReadFile(path)
	missing := errors.Is(err, os.ErrNotExist)
	if err != nil && !missing {
		return nil, fmt.Errorf("reading state file: %w", err)
	}
	var damaged error
	if !missing {
		f, err := parse(data)
		if err == nil {
			s.f = f
			return s, nil
		}
		damaged = err
		aside := fmt.Sprintf("%s.damaged-%s", path, time.Now().UTC().Format("20060102T150405Z"))
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("state file %s is damaged (%v) and cannot be moved aside: %w", path, err, rerr)
		}
		logger.Warn("state file was damaged; moved it aside", "file", path, "moved_to", aside, "err", err)
	}
	bak := backupPath(path)
	bdata, berr := os.ReadFile(bak)
	if berr == nil {
		f, perr := parse(bdata)
		if perr == nil {
			s.f = f
			logger.Warn("state restored from the backup", "file", path, "backup", bak, "main_file_damaged", damaged != nil,
				"intents", len(f.Intents), "cycles", len(f.History))
			if err := s.save(); err != nil {
				logger.Error("cannot rewrite the state file from its backup", "file", path, "err", err)
			}
			return s, nil
		}
		berr = perr
	}
	if damaged != nil {
		logger.Warn("no usable state backup: started with an empty state; an outlet a cycle left off stays off unless its plug's timer switches it on",
			"file", path, "backup", bak, "err", berr)
	}
	return s, nil
}

// backupPath is where the last good copy of the state file is kept.
func backupPath(path string) string { return path + ".bak" }

// parse decodes a state file and fills in what older versions lack.
func parse(data []byte) (file, error) {
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return file{}, err
	}
	if f.Intents == nil {
		f.Intents = map[string]Intent{}
	}
	if f.Dedup == nil {
		f.Dedup = map[string]time.Time{}
	}
	if len(f.MailQueue) > 0 {
		if f.NotifyQueues == nil {
			f.NotifyQueues = map[string]json.RawMessage{}
		}
		if _, ok := f.NotifyQueues[emailChannel]; !ok {
			f.NotifyQueues[emailChannel] = f.MailQueue
		}
		f.MailQueue = nil
	}
	return f, nil
}

func emptyFile() file {
	return file{Version: 1, Intents: map[string]Intent{}, Dedup: map[string]time.Time{}}
}

// save writes the state atomically, first to the backup and then to the
// main file, so a main file damaged later (a disk error, an editor) can be
// restored by Open with everything it had. Callers hold s.mu.
func (s *Store) save() error {
	if s.path == "" {
		return nil
	}
	s.sweepLocked()
	data, err := json.Marshal(s.f)
	if err != nil {
		return err
	}
	s.saves++
	if err := writeAtomic(backupPath(s.path), data); err != nil {
		return err
	}
	if err := writeAtomic(s.path, data); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(s.path)); err == nil {
		_ = d.Sync() // best effort: not every file system syncs directories
		d.Close()
	}
	return nil
}

// writeAtomic replaces path with data: temp file, fsync, rename.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing state file: %w — is %s writable?", err, dir)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing state file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing state file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing state file %s: %w", path, err)
	}
	return nil
}

// Saves is how many times the state has been written (backup and main
// file counting as one).
func (s *Store) Saves() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}

// IntentKey names an outlet in the intent table.
func IntentKey(plug, outlet string) string { return plug + "/" + outlet }

// AddIntent records, durably, that an outlet is about to go off.
func (s *Store) AddIntent(in Intent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f.Intents[IntentKey(in.Plug, in.Outlet)] = in
	return s.save()
}

// ClearIntent records that an outlet is back on.
func (s *Store) ClearIntent(plug, outlet string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.f.Intents, IntentKey(plug, outlet))
	return s.save()
}

// Intents lists pending intents, oldest first.
func (s *Store) Intents() []Intent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Intent, 0, len(s.f.Intents))
	for _, in := range s.f.Intents {
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}

// AddCycle appends to a device's history, keeping the newest maxHistory.
func (s *Store) AddCycle(c Cycle) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addCycleLocked(c)
	return s.save()
}

// FinishCycle records a finished cycle in one write: the devices' history
// entries and, when clear is true, the outlet's intent removed. Two writes
// would leave a window in which a crash loses the cycle: the intent gone
// (nothing to reconcile) and the history not yet written.
func (s *Store) FinishCycle(plug, outlet string, clear bool, cycles []Cycle) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if clear {
		delete(s.f.Intents, IntentKey(plug, outlet))
	}
	for _, c := range cycles {
		s.addCycleLocked(c)
	}
	return s.save()
}

func (s *Store) addCycleLocked(c Cycle) {
	s.f.History = append(s.f.History, c)
	n := 0
	for i := len(s.f.History) - 1; i >= 0; i-- {
		if s.f.History[i].Device == c.Device {
			n++
			if n > maxHistory {
				s.f.History = append(s.f.History[:i], s.f.History[i+1:]...)
			}
		}
	}
}

// History returns a device's cycles, oldest first.
func (s *Store) History(device string) []Cycle {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Cycle
	for _, c := range s.f.History {
		if c.Device == device {
			out = append(out, c)
		}
	}
	return out
}

// SeenAlert records a webhook dedup key; it reports whether the key was
// already there. Keys older than ttl are forgotten.
func (s *Store) SeenAlert(key string, now time.Time, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.f.Dedup {
		if now.Sub(t) > ttl {
			delete(s.f.Dedup, k)
		}
	}
	if _, ok := s.f.Dedup[key]; ok {
		return true, nil
	}
	s.f.Dedup[key] = now
	return false, s.save()
}

// ForgetAlert removes a dedup key, so an alert whose action failed is acted
// on when Alertmanager retries.
func (s *Store) ForgetAlert(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.f.Dedup, key)
	return s.save()
}

// LoadQueue and SaveQueue keep a notification channel's queue (an opaque
// blob owned by package notify) under the channel's name.
func (s *Store) LoadQueue(channel string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.f.NotifyQueues[channel]...), nil
}

// QueueChannels names the channels that have a queue saved.
func (s *Store) QueueChannels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for ch := range s.f.NotifyQueues {
		out = append(out, ch)
	}
	sort.Strings(out)
	return out
}

func (s *Store) SaveQueue(channel string, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(b) == 0 {
		delete(s.f.NotifyQueues, channel)
	} else {
		if s.f.NotifyQueues == nil {
			s.f.NotifyQueues = map[string]json.RawMessage{}
		}
		s.f.NotifyQueues[channel] = append(json.RawMessage(nil), b...)
	}
	return s.save()
}
