// Package hostreset owns hard-resetting this host: through the Linux
// watchdog device (arm it, never feed it) or the RTC (rtcwake), with a
// fallback from one to the other. Nothing resets unless host_reset is
// configured, and a dry run only says what it would do.
package hostreset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
)

// ErrNotConfigured is returned by Reset when there is no host_reset section:
// resetting the host is strictly opt-in.
var ErrNotConfigured = errors.New("host reset is not configured: add a host_reset section (method: watchdog or rtc) to allow it")

// ErrInProgress is returned by Reset while another reset is under way.
var ErrInProgress = errors.New("a host reset is already in progress")

// Options are a Resetter's collaborators. Every side effect goes through
// one of them, so tests never touch this host's watchdog or RTC.
type Options struct {
	// DryRun logs what would be done (device, timeout, argv) and does nothing.
	DryRun bool
	// Opener opens the watchdog device; FileOpener{} when nil.
	Opener Opener
	// Runner runs rtcwake; ExecRunner{} when nil.
	Runner Runner
	// Clock times the wait past the watchdog's timeout; clock.Real{} when nil.
	Clock clock.Clock
	// Logger is discarded when nil.
	Logger *slog.Logger
	// Notifier hears event.HostReset before the reset; event.Discard{} when nil.
	Notifier event.Notifier
	// Metrics counts attempts and failures; a fresh NewMetrics() when nil.
	// Pass the same one across config reloads.
	Metrics *Metrics
}

// Resetter hard-resets this host as configured. It is safe for concurrent
// use; a second Reset while one is under way returns ErrInProgress.
type Resetter struct {
	cfg  *config.HostResetConfig // nil: not configured
	opts Options
	host string

	mu         sync.Mutex
	inProgress bool
}

// New returns a Resetter for cfg. A nil cfg gives a Resetter whose Reset
// always returns ErrNotConfigured. cfg is copied; missing watchdog or rtc
// sections take the config package's defaults.
func New(cfg *config.HostResetConfig, opts Options) *Resetter {
	if opts.Opener == nil {
		opts.Opener = FileOpener{}
	}
	if opts.Runner == nil {
		opts.Runner = ExecRunner{}
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Notifier == nil {
		opts.Notifier = event.Discard{}
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	r := &Resetter{opts: opts}
	r.host, _ = os.Hostname()
	if cfg != nil {
		c := *cfg
		c.Method, c.Fallback = strings.ToLower(c.Method), strings.ToLower(c.Fallback)
		w, rtc := config.DefaultWatchdog, config.DefaultRTC
		if c.Watchdog != nil {
			w = *c.Watchdog
		}
		if c.RTC != nil {
			rtc = *c.RTC
		}
		c.Watchdog, c.RTC = &w, &rtc
		if c.Fallback == c.Method {
			c.Fallback = ""
		}
		r.cfg = &c
		opts.Metrics.init(c.Method, c.Fallback)
	}
	return r
}

// Collector exposes restartinator_host_resets_total and
// restartinator_host_reset_failures_total.
func (r *Resetter) Collector() prometheus.Collector { return r.opts.Metrics }

// Configured reports whether this Resetter may reset the host at all.
func (r *Resetter) Configured() bool { return r.cfg != nil }

// Describe says in one line what Reset would do, for logs and warnings.
func (r *Resetter) Describe() string {
	if r.cfg == nil {
		return "nothing (host_reset is not configured)"
	}
	s := r.describe(r.cfg.Method)
	if r.cfg.Fallback != "" {
		s += ", falling back to " + r.describe(r.cfg.Fallback)
	}
	return s
}

func (r *Resetter) describe(method string) string {
	switch method {
	case config.ResetWatchdog:
		w := r.cfg.Watchdog
		return fmt.Sprintf("watchdog %s (timeout %s, never fed)", w.Device, w.Timeout)
	case config.ResetRTC:
		return fmt.Sprintf("rtc: %s", strings.Join(append([]string{r.cfg.RTC.RTCWake}, rtcArgs(r.cfg.RTC)...), " "))
	}
	return fmt.Sprintf("unknown method %q", method)
}

// Reset hard-resets this host. trigger says who asked (file, webhook,
// manual) for the metrics, the event and the log.
//
// With method watchdog it arms the watchdog and, since a working watchdog
// resets the host, waits: it returns only if the host is still alive well
// past the timeout (then falling back when configured), or when ctx ends.
// The watchdog stays armed and held in every case. With method rtc it
// returns once rtcwake has.
func (r *Resetter) Reset(ctx context.Context, trigger string) error {
	if r.cfg == nil {
		return ErrNotConfigured
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("host reset not started: %w", err) // opening a watchdog cannot be undone
	}
	r.mu.Lock()
	if r.inProgress {
		r.mu.Unlock()
		return ErrInProgress
	}
	r.inProgress = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inProgress = false
		r.mu.Unlock()
	}()

	log := r.opts.Logger.With("trigger", trigger)
	if r.opts.DryRun {
		r.dryRun(log, trigger)
		return nil
	}
	if err := platformErr(); err != nil {
		return err
	}

	next := "the host should reset now"
	if r.cfg.Method == config.ResetWatchdog {
		next = fmt.Sprintf("the host should reset within %s", r.cfg.Watchdog.Timeout)
	}
	if r.cfg.Fallback != "" {
		next += "; otherwise falling back to " + r.cfg.Fallback
	}
	r.opts.Notifier.Notify(event.Event{
		Kind:    event.HostReset,
		Time:    r.opts.Clock.Now(),
		Device:  r.host,
		Trigger: trigger,
		Detail:  "hard-resetting this host via " + r.describe(r.cfg.Method),
		Next:    next,
	})
	log.Warn("hard-resetting this host", "host", r.host, "how", r.Describe())

	err := r.attempt(ctx, log, r.cfg.Method, trigger)
	if err == nil || r.cfg.Fallback == "" || ctx.Err() != nil {
		return err
	}
	log.Error("host reset failed; trying the fallback", "method", r.cfg.Method, "fallback", r.cfg.Fallback, "err", err)
	if ferr := r.attempt(ctx, log, r.cfg.Fallback, trigger); ferr != nil {
		return errors.Join(err, fmt.Errorf("fallback: %w", ferr))
	}
	return nil
}

// attempt runs one method and counts it.
func (r *Resetter) attempt(ctx context.Context, log *slog.Logger, method, trigger string) error {
	r.opts.Metrics.resets.WithLabelValues(method, trigger).Inc()
	var err error
	switch method {
	case config.ResetWatchdog:
		err = r.watchdog(ctx, log)
	case config.ResetRTC:
		err = r.rtc(ctx, log)
	default:
		err = fmt.Errorf("host_reset method %q is not one of watchdog, rtc", method)
	}
	if err != nil && ctx.Err() == nil {
		r.opts.Metrics.failures.WithLabelValues(method).Inc()
	}
	return err
}

func (r *Resetter) watchdog(ctx context.Context, log *slog.Logger) error {
	w := r.cfg.Watchdog
	log = log.With("method", config.ResetWatchdog, "device", w.Device)
	dev, err := r.opts.Opener.Open(w.Device)
	if err != nil {
		return openError(w.Device, err)
	}
	timeout := w.Timeout.D()
	if got, err := dev.SetTimeout(timeout); notWatchdogIoctl(err) {
		// Not a watchdog driver: nothing will reset the host, so waiting
		// out a timeout would only delay the fallback.
		return fmt.Errorf("watchdog %s does not answer watchdog ioctls (ENOTTY): it is not a watchdog — check host_reset.watchdog.device: %w", w.Device, err)
	} else if err != nil {
		log.Warn(timeoutNote(err), "timeout", timeout, "err", err)
	} else {
		if got != time.Duration(wholeSeconds(timeout))*time.Second {
			log.Info("the driver chose its own timeout", "asked", timeout, "set", got)
		}
		timeout = got
	}
	margin := survivalMargin(timeout)
	log.Warn("watchdog armed and no longer fed: the host resets when it times out", "timeout", timeout)

	select {
	case <-ctx.Done():
		log.Warn("stopped waiting for the watchdog; it stays armed and held until this process exits", "err", ctx.Err())
		return fmt.Errorf("waiting for watchdog %s to reset the host: %w", w.Device, ctx.Err())
	case <-r.opts.Clock.After(timeout + margin):
	}
	log.Error("host still alive well past the watchdog timeout", "timeout", timeout, "waited", timeout+margin)
	return fmt.Errorf("watchdog %s: host still alive %s after arming it with a %s timeout: the driver may not reset on expiry (check dmesg, the driver's nowayout and action settings, and that nothing else feeds it)", w.Device, timeout+margin, timeout)
}

func (r *Resetter) rtc(ctx context.Context, log *slog.Logger) error {
	c := r.cfg.RTC
	if err := checkRTCMode(c.Mode); err != nil {
		return err
	}
	args := rtcArgs(c)
	log = log.With("method", config.ResetRTC, "argv", append([]string{c.RTCWake}, args...))
	timeout := rtcTimeout(c)
	log.Warn("running rtcwake", "timeout", timeout)
	// The timeout runs on the Clock, so a hung rtcwake is killed and does
	// not hold every later reset (Reset allows one at a time).
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timedOut := make(chan struct{})
	go func() {
		select {
		case <-r.opts.Clock.After(timeout):
			close(timedOut)
			cancel()
		case <-rctx.Done():
		}
	}()
	output, err := r.opts.Runner.Run(rctx, c.RTCWake, args)
	if err != nil {
		select {
		case <-timedOut:
			err = fmt.Errorf("rtcwake did not finish within %s and was killed (%v): %w", timeout, err, context.DeadlineExceeded)
		default:
		}
	}
	log.Info("rtcwake finished", "exit_status", exitStatus(err), "output", strings.TrimSpace(string(output)))
	if err != nil {
		return rtcError(c, args, output, err)
	}
	log.Warn("rtcwake accepted; the host should power down now", "wake_after", c.WakeAfter)
	return nil
}

func (r *Resetter) dryRun(log *slog.Logger, trigger string) {
	for i, method := range []string{r.cfg.Method, r.cfg.Fallback} {
		msg := "dry run: would hard-reset this host"
		if i == 1 {
			if method == "" {
				break
			}
			msg = "dry run: would fall back to"
		}
		switch method {
		case config.ResetWatchdog:
			w := r.cfg.Watchdog
			log.Warn(msg, "method", method, "device", w.Device, "timeout", w.Timeout.D(), "then", "never feed it and never write the magic close", "fallback_after", w.Timeout.D()+survivalMargin(w.Timeout.D()))
		case config.ResetRTC:
			log.Warn(msg, "method", method, "argv", append([]string{r.cfg.RTC.RTCWake}, rtcArgs(r.cfg.RTC)...))
			if err := checkRTCMode(r.cfg.RTC.Mode); err != nil {
				log.Error("dry run: this would fail", "method", method, "err", err)
			}
		}
	}
	r.opts.Notifier.Notify(event.Event{
		Kind:    event.Held,
		Time:    r.opts.Clock.Now(),
		Device:  r.host,
		Trigger: trigger,
		Detail:  "dry run: would hard-reset this host via " + r.Describe(),
		Next:    "nothing is done in dry run",
	})
}
