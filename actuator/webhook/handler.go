package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/internal/state"
)

// DefaultDedupTTL is how long an alert (fingerprint + startsAt) that acted
// is remembered. Alertmanager repeats a firing alert every repeat_interval
// (4h by default); a week outlasts any sensible setting.
const DefaultDedupTTL = 7 * 24 * time.Hour

// Options configure a Handler.
type Options struct {
	Config  config.WebhookConfig
	Actions Actions
	// State remembers which alerts acted, across restarts. Nil keeps that
	// in memory only.
	State *state.Store
	// Clock defaults to the wall clock.
	Clock clock.Clock
	// Logger defaults to discarding.
	Logger *slog.Logger
	// DedupTTL defaults to DefaultDedupTTL.
	DedupTTL time.Duration
}

// Handler is the Alertmanager webhook receiver (POST /webhook). It is safe
// for concurrent use, and a prometheus.Collector of its own counters.
type Handler struct {
	actions  Actions
	state    *state.Store
	clock    clock.Clock
	logger   *slog.Logger
	dedupTTL time.Duration
	metrics  *metrics
	settings atomic.Pointer[settings]
}

// New builds a Handler. It panics when opts.Actions is nil: a webhook that
// cannot act is a wiring mistake.
func New(opts Options) *Handler {
	if opts.Actions == nil {
		panic("webhook.New: Options.Actions is nil")
	}
	h := &Handler{
		actions:  opts.Actions,
		state:    opts.State,
		clock:    opts.Clock,
		logger:   opts.Logger,
		dedupTTL: opts.DedupTTL,
		metrics:  newMetrics(),
	}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if h.clock == nil {
		h.clock = clock.Real{}
	}
	if h.dedupTTL <= 0 {
		h.dedupTTL = DefaultDedupTTL
	}
	if h.state == nil {
		// An empty path is a store that never touches the disk.
		st, err := state.Open("", h.logger)
		if err != nil {
			panic(fmt.Sprintf("webhook.New: in-memory state: %v", err))
		}
		h.state = st
	}
	h.SetConfig(opts.Config)
	return h
}

// SetConfig takes a reloaded webhook config. Requests in flight finish with
// the config they started with; the dedup memory and the counters stay.
func (h *Handler) SetConfig(cfg config.WebhookConfig) {
	h.settings.Store(compile(cfg, h.logger))
}

// bufPool holds buffers for the request body and then the reply.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuf keeps one huge body from pinning its buffer in the pool.
const maxPooledBuf = 4 << 20

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBuf {
			bufPool.Put(buf)
		}
	}()
	s := h.settings.Load()

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, buf, http.StatusMethodNotAllowed, "the webhook takes POST requests from Alertmanager")
		return
	}
	if r.ContentLength > s.maxBody {
		h.refuse(w, buf, http.StatusRequestEntityTooLarge, tooLarge(s.maxBody))
		return
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.maxBody)); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.refuse(w, buf, http.StatusRequestEntityTooLarge, tooLarge(s.maxBody))
			return
		}
		h.refuse(w, buf, http.StatusBadRequest, fmt.Sprintf("reading the request body: %v", err))
		return
	}
	var m message
	if err := decode(buf.Bytes(), &m); err != nil {
		h.refuse(w, buf, http.StatusBadRequest, err.Error())
		return
	}

	if m.TruncatedAlerts > 0 {
		h.logger.Warn("Alertmanager left alerts out of this notification (max_alerts); they are not visible here",
			"truncated_alerts", m.TruncatedAlerts, "group_key", m.GroupKey, "receiver", m.Receiver)
	}
	now := h.clock.Now()
	outs := make([]outcome, len(m.Alerts))
	var t tally
	retry := false
	// One state-file save for the whole request, not one per alert.
	req := &request{batch: h.state.Batch(), budget: s.maxActions}
	for i := range m.Alerts {
		o, again := h.handleAlert(r.Context(), s, req, &m.Alerts[i], now)
		outs[i] = o
		t[o.action][o.result]++
		retry = retry || again
	}
	if err := req.batch.Commit(); err != nil {
		h.logger.Warn("cannot record the webhook's alerts in the state file; they acted anyway, but after a restart a repeat of them may act again", "err", err)
	}
	if req.truncated > 0 {
		// Alertmanager retries a 503; the alerts that acted are then
		// duplicates, so each retry acts on the next ones.
		retry = true
		h.logger.Warn("webhook request carried more alerts to act on than webhook.max_alerts_per_request; the rest are answered truncated and act on Alertmanager's retry",
			"max_alerts_per_request", s.maxActions, "truncated", req.truncated, "group_key", m.GroupKey)
	}
	h.metrics.add(&t)

	code, status := http.StatusOK, replyOK
	if retry {
		code, status = http.StatusServiceUnavailable, replyRetry
	}
	buf.Reset()
	buf.Write(appendSummary(buf.AvailableBuffer(), status, outs, m.TruncatedAlerts))
	h.reply(w, buf, code)
	if h.logger.Enabled(r.Context(), slog.LevelDebug) {
		h.logger.Debug("webhook request handled", "receiver", m.Receiver, "group_key", m.GroupKey, "alerts", len(m.Alerts), "status", code)
	}
}

func tooLarge(limit int64) string {
	return fmt.Sprintf("the request body is larger than %d bytes (webhook.max_body_bytes); lower max_alerts in Alertmanager's webhook_configs or raise webhook.max_body_bytes", limit)
}

// refuse answers a request that acts on nothing.
func (h *Handler) refuse(w http.ResponseWriter, buf *bytes.Buffer, code int, msg string) {
	h.logger.Warn("webhook request refused", "status", code, "err", msg)
	buf.Reset()
	buf.Write(appendError(buf.AvailableBuffer(), msg))
	h.reply(w, buf, code)
}

func (h *Handler) reply(w http.ResponseWriter, buf *bytes.Buffer, code int) {
	buf.WriteByte('\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	w.Write(buf.Bytes())
	h.metrics.requests.WithLabelValues(strconv.Itoa(code)).Inc()
}

// request is one webhook request's state: its batch of state-file changes
// and how many more alerts it may act on.
type request struct {
	batch     *state.Batch
	budget    int
	truncated int
}

// handleAlert decides and acts on one alert. retry reports a failure that a
// retry of the notification could mend; the alert's dedup key is then
// forgotten so the retry acts.
func (h *Handler) handleAlert(ctx context.Context, s *settings, req *request, a *template.Alert, now time.Time) (o outcome, retry bool) {
	o = outcome{fingerprint: a.Fingerprint, alertname: a.Labels["alertname"]}
	rt := s.match(a.Labels)
	if rt == nil {
		o.action, o.result = actNone, resNoRoute
		if h.logger.Enabled(ctx, slog.LevelDebug) { // spare the arguments' allocations
			h.logger.Debug("webhook alert matches no route", "alertname", o.alertname, "fingerprint", o.fingerprint)
		}
		return o, false
	}
	o.action = rt.action
	o.device = a.Labels[rt.deviceLabel]
	if o.fingerprint == "" {
		// Alertmanager always sends one; a hand-written payload may not.
		// Alertmanager's fingerprint is this hash of the labels.
		o.fingerprint = labelFingerprint(a.Labels)
	}
	if a.Status != statusFiring {
		// The episode is over: the next firing notification is a new outage.
		o.result = resResolved
		req.batch.CloseEpisode(o.fingerprint)
		if h.logger.Enabled(ctx, slog.LevelDebug) {
			h.logger.Debug("webhook alert resolved; nothing to do", "alertname", o.alertname, "fingerprint", o.fingerprint, "action", o.action.String())
		}
		return o, false
	}
	if rt.action == actCycle && o.device == "" {
		o.result = resMissingLabel
		o.detail = fmt.Sprintf("the alert has no %q label naming the device to cycle", rt.deviceLabel)
		h.logAction(slog.LevelWarn, o)
		return o, false
	}

	// The key holds startsAt in UTC: HA peers in other time zones send the
	// same instant written differently. Every startsAt of an episode that
	// acted is kept, so a stale repeat of one arriving after the episode
	// closed is still known.
	key := o.fingerprint + "@" + a.StartsAt.UTC().Format(time.RFC3339Nano)
	if open, why := h.openEpisode(s, req.batch, o, a.StartsAt, now); open {
		// Prometheus replicas give one outage several startsAt, and
		// Alertmanager merges them over time: all one episode.
		req.batch.SeenAlert(key, now, h.dedupTTL)
		o.result = resDuplicate
		o.detail = why
		h.logAction(slog.LevelDebug, o)
		return o, false
	}
	if req.batch.SeenAlert(key, now, h.dedupTTL) {
		// Alertmanager's repeats and HA peers make these routine.
		o.result = resDuplicate
		o.detail = "this alert (fingerprint and startsAt) already acted"
		h.logAction(slog.LevelDebug, o)
		return o, false
	}
	if req.budget <= 0 {
		// Forgotten, so the retry Alertmanager makes acts on it.
		req.batch.ForgetAlert(key)
		req.truncated++
		o.result = resTruncated
		o.detail = "not acted on: this request has more alerts to act on than webhook.max_alerts_per_request; answered 503 so Alertmanager retries"
		return o, false
	}
	req.budget--
	req.batch.OpenEpisode(o.fingerprint, state.Episode{Device: o.device, Acted: now, StartsAt: a.StartsAt}, h.dedupTTL)
	if rt.action == actHostReset {
		// Without a record that survives the reset, the repeat of this
		// alert after reboot would reset the host again, and again.
		if err := req.batch.Commit(); err != nil {
			h.forget(req.batch, o.fingerprint, key)
			o.result = resFailed
			o.detail = fmt.Sprintf("not resetting the host: cannot record the alert in the state file: %v", err)
			h.logAction(slog.LevelError, o)
			return o, true
		}
	}

	switch rt.action {
	case actCycle:
		return h.cycle(ctx, req.batch, o, key)
	case actHostReset:
		return h.resetHost(ctx, req.batch, o, key)
	default:
		h.actions.Notify(event.Event{
			Kind:    event.Notify,
			Time:    now,
			Device:  o.device,
			Trigger: Trigger,
			Detail:  alertDetail(a),
			Labels:  a.Labels,
		})
		o.result = resNotified
		h.logAction(slog.LevelInfo, o)
		return o, false
	}
}

func (h *Handler) cycle(ctx context.Context, b *state.Batch, o outcome, key string) (outcome, bool) {
	err := h.actions.CycleDevice(ctx, o.device, Trigger)
	switch {
	case err == nil:
		o.result = resStarted
		h.logAction(slog.LevelInfo, o)
		return o, false
	case errors.Is(err, ErrAlreadyCycling):
		// Skipped on purpose and remembered: the cycle under way is the
		// remedy, and a repeat of this alert must not cycle the device again.
		o.result = resAlreadyCycling
		o.detail = err.Error()
		h.logAction(slog.LevelInfo, o)
		return o, false
	case errors.Is(err, ErrCycledByPeer):
		// The peer's cycle is the remedy; a repeat of this alert must not
		// cycle the device again either.
		o.result = resCycledByPeer
		o.detail = err.Error()
		h.logAction(slog.LevelInfo, o)
		return o, false
	case errors.Is(err, ErrUnknownDevice):
		// A retry cannot help, so the reply is 200; forgotten, so a repeat
		// acts once the device is configured.
		h.forget(b, o.fingerprint, key)
		o.result = resUnknownDevice
		o.detail = fmt.Sprintf("device %q: %v — check the route's device_label and the devices section", o.device, err)
		h.logAction(slog.LevelWarn, o)
		return o, false
	default:
		// ErrPlugUnreachable or anything unexpected: Alertmanager retries.
		h.forget(b, o.fingerprint, key)
		o.result = resFailed
		o.detail = err.Error() + " (answered 503 so Alertmanager retries)"
		h.logAction(slog.LevelError, o)
		return o, true
	}
}

func (h *Handler) resetHost(ctx context.Context, b *state.Batch, o outcome, key string) (outcome, bool) {
	err := h.actions.ResetHost(ctx, Trigger)
	switch {
	case err == nil:
		o.result = resHostReset
		h.logAction(slog.LevelInfo, o)
		return o, false
	case errors.Is(err, ErrNoHostReset):
		// A config problem: a retry cannot help; a repeat after a fix may.
		h.forget(b, o.fingerprint, key)
		o.result = resFailed
		o.detail = fmt.Sprintf("%v: add a host_reset section (method: watchdog or rtc)", err)
		h.logAction(slog.LevelError, o)
		return o, false
	default:
		h.forget(b, o.fingerprint, key)
		o.result = resFailed
		o.detail = err.Error() + " (answered 503 so Alertmanager retries)"
		h.logAction(slog.LevelError, o)
		return o, true
	}
}

// forget undoes the record of an alert that did not act, so its retry acts.
func (h *Handler) forget(b *state.Batch, fingerprint, key string) {
	b.CloseEpisode(fingerprint)
	b.ForgetAlert(key)
}

// openEpisode reports whether a firing alert belongs to an episode that
// already acted, and why. An episode ends with its resolved notification
// (closeEpisode), when the alert's startsAt is after the episode acted (the
// outage began after the remedy: a new one), when its device has been up
// for episode_quiet, or after the dedup TTL.
func (h *Handler) openEpisode(s *settings, b *state.Batch, o outcome, startsAt, now time.Time) (bool, string) {
	ep, ok := b.Episode(o.fingerprint)
	switch {
	case !ok:
		return false, ""
	case startsAt.After(ep.Acted), now.Sub(ep.Acted) > h.dedupTTL:
		return false, ""
	}
	if ep.Device != "" {
		if since, up := h.actions.DeviceUpSince(ep.Device); up && since.After(ep.Acted) && now.Sub(since) >= s.episodeQuiet {
			return false, ""
		}
	}
	return true, fmt.Sprintf("this alert's episode already acted at %s (startsAt %s); it ends with the resolved notification or %s after the device is up again",
		ep.Acted.UTC().Format(time.RFC3339), startsAt.UTC().Format(time.RFC3339), s.episodeQuiet)
}

func (h *Handler) logAction(level slog.Level, o outcome) {
	if !h.logger.Enabled(context.Background(), level) {
		return
	}
	h.logger.Log(context.Background(), level, "webhook alert",
		"alertname", o.alertname, "fingerprint", o.fingerprint, "device", o.device,
		"action", o.action.String(), "result", o.result.String(), "detail", o.detail)
}

// alertDetail is the sentence a notify event carries: the summary and the
// description annotations, whichever are set.
func alertDetail(a *template.Alert) string {
	sum, desc := strings.TrimSpace(a.Annotations["summary"]), strings.TrimSpace(a.Annotations["description"])
	var d string
	switch {
	case sum != "" && desc != "":
		d = sum + " — " + desc
	case sum != "":
		d = sum
	default:
		d = desc
	}
	return capDetail(d)
}

// maxDetail bounds the text a notify event carries: it is queued in the
// state file and mailed, and an annotation can be as large as the body.
const maxDetail = 4 << 10

func capDetail(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	return strings.ToValidUTF8(s[:maxDetail], "") + "… (cut)"
}

// labelFingerprint is Alertmanager's fingerprint of an alert's labels.
func labelFingerprint(kv template.KV) string {
	ls := make(model.LabelSet, len(kv))
	for k, v := range kv {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.Fingerprint().String()
}
