// Package filetrigger owns file triggers: a container that cannot reach the
// watchdog or a plug writes an indicator file on a shared volume, and we
// remove it and then act (reset this host, or cycle a device). It is how the
// py-stability-iot config.ini runs. The actions come in as callbacks, so
// this package knows neither the Cycler nor the host reset.
package filetrigger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/fsnotify/fsnotify"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
)

// Options are a Watcher's actions and collaborators.
type Options struct {
	// HostReset hard-resets this host; required when a trigger's action is
	// host_reset.
	HostReset func(ctx context.Context) error
	// Cycle power-cycles a device; required when a trigger's action is cycle.
	Cycle func(ctx context.Context, device string) error
	// Logger is discarded when nil.
	Logger *slog.Logger
	// Clock paces the polling; clock.Real{} when nil.
	Clock clock.Clock
	// PollOnly turns fsnotify off and only polls, for filesystems where
	// inotify sees nothing (some network and FUSE mounts). Polling at each
	// trigger's check_interval runs in any case, as the fallback.
	PollOnly bool
}

// Watcher watches a set of indicator files. On reload, cancel the context
// given to Run (or call the stop function Start returned), wait for it to
// return, and start a Watcher built from the new config.
type Watcher struct {
	triggers []*trigger
	opts     Options
}

type trigger struct {
	cfg  config.FileTrigger
	path string // absolute and clean, as fsnotify names it
	kick chan struct{}
	log  *slog.Logger

	mu      sync.Mutex // one check at a time, so one appearance acts once
	lastErr string
}

// New builds a Watcher for triggers. It checks that every trigger has the
// action it names; it starts nothing.
func New(triggers []config.FileTrigger, opts Options) (*Watcher, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	w := &Watcher{opts: opts}
	var errs []error
	for i, c := range triggers {
		c.Action = strings.ToLower(c.Action)
		where := fmt.Sprintf("file trigger %d (%s)", i, c.Path)
		switch {
		case c.Path == "":
			errs = append(errs, fmt.Errorf("file trigger %d: path is required", i))
			continue
		case c.CheckInterval <= 0:
			errs = append(errs, fmt.Errorf("%s: check_interval must be positive", where))
		}
		switch c.Action {
		case config.ActionHostReset:
			if opts.HostReset == nil {
				errs = append(errs, fmt.Errorf("%s: action host_reset, but host reset is not configured: add a host_reset section", where))
			}
		case config.ActionCycle:
			if c.Device == "" {
				errs = append(errs, fmt.Errorf("%s: action cycle needs device: NAME", where))
			}
			if opts.Cycle == nil {
				errs = append(errs, fmt.Errorf("%s: action cycle, but no Cycler was given to the file triggers", where))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: action %q is not one of host_reset, cycle", where, c.Action))
		}
		path, err := filepath.Abs(c.Path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		if err := checkDir(filepath.Dir(path)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		w.triggers = append(w.triggers, &trigger{
			cfg:  c,
			path: path,
			kick: make(chan struct{}, 1),
			log:  opts.Logger.With("path", path, "action", c.Action),
		})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return w, nil
}

// CheckOnce checks every indicator file once and acts on those present:
// single_run, for cron. acted says whether any action ran; err joins what
// failed, including files found but not removable (which are not acted on).
func (w *Watcher) CheckOnce(ctx context.Context) (acted bool, err error) {
	var errs []error
	for _, t := range w.triggers {
		a, err := w.check(ctx, t)
		acted = acted || a
		if err != nil {
			errs = append(errs, err)
		}
	}
	return acted, errors.Join(errs...)
}

// Start runs the Watcher in the background; stop ends it and waits until it
// has, including any action under way.
func (w *Watcher) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// Run checks every indicator file at once, then whenever fsnotify reports a
// change in its directory and every check_interval, until ctx ends. It
// returns once every trigger's goroutine has, so an action under way
// finishes (with ctx cancelled) before Run returns.
func (w *Watcher) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	fw := w.startNotify(ctx, &wg)
	for _, t := range w.triggers {
		t.log.Info("watching for indicator file", "check_interval", t.cfg.CheckInterval, "device", t.cfg.Device, "fsnotify", fw != nil,
			"acts_on_files_owned_by", fmt.Sprintf("root or uid %d (this service)", os.Geteuid()))
		wg.Go(func() { w.watch(ctx, t, fw) })
	}
	<-ctx.Done()
	if fw != nil {
		fw.Close()
	}
	wg.Wait()
}

func (w *Watcher) watch(ctx context.Context, t *trigger, fw *fsnotify.Watcher) {
	interval := t.cfg.CheckInterval.D()
	_, _ = w.check(ctx, t) // check logs and records its own failures
	timer := w.opts.Clock.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.kick:
		case <-timer.C():
			timer.Reset(interval)
			if err := w.rewatch(fw, t); err != nil {
				t.log.Debug("cannot watch the indicator file's directory with fsnotify; polling", "err", err)
			}
		}
		_, _ = w.check(ctx, t)
	}
}

// check removes the indicator file if it is there and then acts. The file
// goes first: if it outlived the action, the host would reset again as
// soon as it came back up. So if it cannot be removed, nothing is done.
func (w *Watcher) check(ctx context.Context, t *trigger) (acted bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	fi, err := os.Lstat(t.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			t.lastErr = ""
			return false, nil
		}
		return false, t.failed(fmt.Errorf("checking for indicator file %s: %w (check the permissions of %s)", t.path, err, filepath.Dir(t.path)))
	}
	// The directory may have been created (or loosened) since New.
	if err := checkDir(filepath.Dir(t.path)); err != nil {
		return false, t.failed(fmt.Errorf("indicator file %s present, not acting on it: %w", t.path, err))
	}
	if uid, ok := fileOwner(fi); ok && uid != 0 && uid != os.Geteuid() {
		// Any user may create files in a sticky world-writable directory
		// such as /tmp: such a file must not reset the host. Removed, so a
		// legitimate writer's next file is its own.
		rerr := os.Remove(t.path)
		err := fmt.Errorf("indicator file %s is owned by uid %d, neither root nor this service (uid %d): not acting on it%s — write it as root or as the service user, in a directory only they can write",
			t.path, uid, os.Geteuid(), map[bool]string{true: " (removed)", false: fmt.Sprintf(" (and it could not be removed: %v)", rerr)}[rerr == nil])
		return false, t.failed(err)
	}
	if err := os.Remove(t.path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil // another check took it first
		}
		return false, t.failed(fmt.Errorf("indicator file %s is present but could not be removed, so not acting on it (it would trigger again after the reset): %w (check the permissions of %s, or whether the path is a non-empty directory)", t.path, err, filepath.Dir(t.path)))
	}
	t.lastErr = ""
	// A hard reset may follow within seconds; make the removal durable so
	// the file does not come back with the host.
	if err := syncDir(filepath.Dir(t.path)); err != nil {
		t.log.Warn("removed the indicator file but could not sync its directory; it may reappear after a hard reset", "err", err)
	}
	t.log.Warn("indicator file found and removed; acting", "device", t.cfg.Device)
	switch t.cfg.Action {
	case config.ActionHostReset:
		err = w.opts.HostReset(ctx)
	case config.ActionCycle:
		err = w.opts.Cycle(ctx, t.cfg.Device)
	}
	if err != nil {
		err = fmt.Errorf("file trigger %s: %s: %w", t.path, t.cfg.Action, err)
		t.log.Error("file trigger action failed", "err", err)
		return true, err
	}
	t.log.Info("file trigger action done")
	return true, nil
}

// failed logs err once per distinct failure, so a file that cannot be
// removed does not fill the log every check_interval.
func (t *trigger) failed(err error) error {
	if msg := err.Error(); msg != t.lastErr {
		t.lastErr = msg
		t.log.Error("file trigger", "err", err)
	} else {
		t.log.Debug("file trigger", "err", err)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// startNotify watches the triggers' directories with fsnotify and kicks a
// trigger whenever its file changes. It returns nil, leaving polling alone,
// when fsnotify is off or unavailable.
func (w *Watcher) startNotify(ctx context.Context, wg *sync.WaitGroup) *fsnotify.Watcher {
	if w.opts.PollOnly || len(w.triggers) == 0 {
		return nil
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		w.opts.Logger.Warn("fsnotify unavailable; file triggers poll only", "err", err)
		return nil
	}
	byPath := map[string][]*trigger{}
	for _, t := range w.triggers {
		byPath[t.path] = append(byPath[t.path], t)
		if err := w.rewatch(fw, t); err != nil {
			t.log.Info("cannot watch the indicator file's directory with fsnotify (yet); polling, and retrying at each check", "err", err)
		}
	}
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-fw.Events:
				if !ok {
					return
				}
				if ev.Op == fsnotify.Remove {
					continue // our own removal, most likely
				}
				for _, t := range byPath[filepath.Clean(ev.Name)] {
					kick(t)
				}
			case err, ok := <-fw.Errors:
				if !ok {
					return
				}
				w.opts.Logger.Warn("fsnotify; file triggers keep polling", "err", err)
				if errors.Is(err, fsnotify.ErrEventOverflow) {
					for _, t := range w.triggers {
						kick(t)
					}
				}
			}
		}
	})
	return fw
}

// rewatch adds the trigger's directory to fw unless it is watched already:
// at start, and after the directory was removed and perhaps recreated.
func (w *Watcher) rewatch(fw *fsnotify.Watcher, t *trigger) error {
	if fw == nil {
		return nil
	}
	dir := filepath.Dir(t.path)
	if slices.Contains(fw.WatchList(), dir) {
		return nil
	}
	if err := fw.Add(dir); err != nil {
		return fmt.Errorf("watching %s: %w", dir, err)
	}
	t.log.Debug("watching directory with fsnotify", "dir", dir)
	return nil
}

func kick(t *trigger) {
	select {
	case t.kick <- struct{}{}:
	default: // a check is already due
	}
}

// checkDir refuses an indicator directory that every user may write and
// that has no sticky bit: anyone could create, replace or rename the file
// there. (A sticky world-writable directory such as /tmp is allowed: the
// owner check in check refuses other users' files.) A directory that does
// not exist yet is watched for.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil
	}
	if m := fi.Mode(); m&0o002 != 0 && m&fs.ModeSticky == 0 {
		return fmt.Errorf("directory %s is writable by every user and has no sticky bit (mode %s): anyone could create or replace the indicator file; "+
			"use a directory only root and the service user can write, such as /run/restartinator (systemd: RuntimeDirectory=restartinator), or chmod o-w %s", dir, m.Perm(), dir)
	}
	return nil
}
