// Package webhook is the native JSON webhook channel: each notification is
// one POST of a documented JSON body (Payload) to the configured URL.
//
// A 2xx answer is delivered. A 4xx other than 408 and 429 means the
// receiver will never take this body: it is logged, counted as failed and
// dropped, not retried. 5xx, 408, 429 and network errors are retried with
// the pipeline's backoff. The URL and the headers are secrets: errors name
// the host only.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/notify"
)

// Version is the payload's version: it changes only when a field changes
// meaning or goes away (new fields may appear without a change).
const Version = "1"

// Payload is the JSON body of every POST.
type Payload struct {
	// Version of this schema, "1".
	Version string `json:"version"`
	// ID is the message's ID (always present), the same on every retry: a receiver can
	// drop a duplicate with it.
	ID string `json:"id,omitempty"`
	// Channel is the channel's name in restartinator's config.
	Channel string `json:"channel"`
	// Test is true for "restartinator notify test".
	Test bool `json:"test"`
	// Hostname is the host restartinator runs on.
	Hostname string `json:"hostname"`
	// StatusPage is --web.external-url; empty when it is not set.
	StatusPage string `json:"status_page,omitempty"`
	// Title and Message are the channel's templates rendered.
	Title   string `json:"title"`
	Message string `json:"message"`
	// Time is when the message was composed (RFC 3339).
	Time time.Time `json:"time"`
	// Events are the events the message reports, oldest first.
	Events []Event `json:"events"`
}

// Event is one event in a Payload.
type Event struct {
	// Kind is offline, cycle_started, recovered, cycle_failed, gave_up,
	// held, plug_unreachable, host_reset, notify, channel_failing or
	// channel_recovered.
	Kind string    `json:"kind"`
	Time time.Time `json:"time"`
	// Device is the device's name; empty for events about no device.
	Device string `json:"device,omitempty"`
	// State is the device's state after the event: up, failing, cycling,
	// booting, gave_up or held.
	State string `json:"state,omitempty"`
	// Status is the kind in capitals (OFFLINE, ONLINE, ...); Summary,
	// WhatHappened, WhatWasDone and Next are sentences.
	Status       string `json:"status"`
	Summary      string `json:"summary"`
	Detail       string `json:"detail,omitempty"`
	WhatHappened string `json:"what_happened"`
	WhatWasDone  string `json:"what_was_done"`
	Next         string `json:"next"`
	// Trigger is what asked for a cycle: auto, webhook, schedule, manual
	// or file.
	Trigger             string `json:"trigger,omitempty"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	CyclesInWindow      int    `json:"cycles_in_window"`
	// LastCycle is the last power cycle; absent if none.
	LastCycle *time.Time `json:"last_cycle,omitempty"`
	Plug      string     `json:"plug,omitempty"`
	Outlet    string     `json:"outlet,omitempty"`
	// NotifyChannel is the notification channel a channel_failing or
	// channel_recovered event is about (another one than this).
	NotifyChannel string `json:"notify_channel,omitempty"`
	// Reading is the plug's last reading; absent if none.
	Reading *Reading `json:"reading,omitempty"`
	// Labels are the Alertmanager alert's labels for webhook events.
	Labels map[string]string `json:"labels,omitempty"`
}

// Reading is a plug's reading; the power fields are present when Metered.
type Reading struct {
	RelayOn   bool     `json:"relay_on"`
	Metered   bool     `json:"metered"`
	Watts     *float64 `json:"watts,omitempty"`
	Volts     *float64 `json:"volts,omitempty"`
	Amperes   *float64 `json:"amperes,omitempty"`
	WattHours *float64 `json:"watt_hours,omitempty"`
}

// NewPayload builds the body for d (without the ID, which the message gets
// after it is composed).
func NewPayload(channel string, d *notify.Data, title, message string) Payload {
	p := Payload{Version: Version, Channel: channel, Test: d.Test, Hostname: d.Hostname,
		StatusPage: d.ExternalURL, Title: title, Message: message, Time: d.Time.UTC(), Events: []Event{}}
	for _, e := range d.Events {
		p.Events = append(p.Events, newEvent(e))
	}
	return p
}

func newEvent(e notify.EventData) Event {
	out := Event{Kind: string(e.Kind), Time: e.Time.UTC(), Device: e.Device, State: e.State,
		Status: e.Status, Summary: e.Summary, Detail: e.Detail, WhatHappened: e.WhatHappened,
		WhatWasDone: e.WhatWasDone, Next: e.Then, Trigger: e.Trigger,
		ConsecutiveFailures: e.ConsecutiveFailures, CyclesInWindow: e.CyclesInWindow,
		Plug: e.Plug, Outlet: e.Outlet, NotifyChannel: e.Channel, Labels: e.Labels}
	if !e.LastCycle.IsZero() {
		t := e.LastCycle.UTC()
		out.LastCycle = &t
	}
	if r := e.Reading; r != nil {
		out.Reading = reading(r)
	}
	return out
}

func reading(r *event.Reading) *Reading {
	out := &Reading{RelayOn: r.RelayOn, Metered: r.Metered}
	if r.Metered {
		out.Watts, out.Volts, out.Amperes, out.WattHours = &r.Watts, &r.Volts, &r.Amperes, &r.WattHours
	}
	return out
}

// Sender POSTs to one URL.
type Sender struct {
	name     string
	url      string
	host     string
	headers  map[string]string
	client   *http.Client
	tmpl     *notify.TextTemplates
	defaults *notify.TextTemplates
	logger   *slog.Logger
}

var _ notify.Sender = (*Sender)(nil)

// Options configure a Sender.
type Options struct {
	// Name is the channel's name; Where names it in errors.
	Name, Where                    string
	Config                         *config.ChannelWebhook
	TitleTemplate, MessageTemplate string
	Logger                         *slog.Logger
}

// New reads the URL (or its file), checks it and the templates, and builds
// the HTTP client from http_client_config.
func New(o Options) (*Sender, error) {
	raw, err := config.ReadSecret(string(o.Config.URL), o.Config.URLFile)
	if err != nil {
		return nil, fmt.Errorf("%s: webhook.url_file: %w — check the path and that restartinator may read it", o.Where, err)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: webhook.url must be an http:// or https:// URL with a host", o.Where)
	}
	client, err := commoncfg.NewClientFromConfig(o.Config.HTTPClientConfig, "restartinator-webhook-"+o.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: webhook.http_client_config: %w", o.Where, err)
	}
	s := &Sender{name: o.Name, url: raw, host: u.Host, client: client, headers: map[string]string{}, logger: o.Logger}
	for k, v := range o.Config.Headers {
		s.headers[k] = string(v)
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.tmpl, err = notify.ParseTextTemplates(o.Where, o.TitleTemplate, o.MessageTemplate); err != nil {
		return nil, err
	}
	if s.defaults, err = notify.ParseTextTemplates(o.Where, "", ""); err != nil {
		return nil, err
	}
	return s, nil
}

// Settings: one POST per message, a refused one dropped at once.
func (s *Sender) Settings() notify.Settings { return notify.Settings{Batch: 1, MaxRejections: 1} }

// Destination says where a test message goes, without the path.
func (s *Sender) Destination() string { return "a test message to the webhook at " + s.host }

// Compose renders the JSON body (the message's ID goes in at send time).
func (s *Sender) Compose(d *notify.Data) (string, string) {
	title, msg, err := s.tmpl.Render(d)
	if err != nil {
		s.logger.Error("channel template failed; sending this message with the default templates", "channel", s.name, "err", err)
		title, msg, _ = s.defaults.Render(d)
	}
	b, err := json.Marshal(NewPayload(s.name, d, title, msg))
	if err != nil { // cannot happen: every field marshals
		b = []byte(`{}`)
	}
	return title, string(b)
}

// Notify POSTs msgs one by one (Settings.Batch is 1).
func (s *Sender) Notify(ctx context.Context, msgs []*notify.Message) []notify.Result {
	out := make([]notify.Result, len(msgs))
	for i, m := range msgs {
		out[i] = s.post(ctx, m)
		if out[i].Err != nil {
			for j := i + 1; j < len(msgs); j++ {
				out[j] = notify.Result{Retry: true, Err: errors.New("not tried: an earlier message failed")}
			}
			break
		}
	}
	return out
}

// withID puts the message's ID into the composed body.
func withID(body, id string) []byte {
	idJSON, _ := json.Marshal(id)
	if !strings.HasPrefix(body, "{") {
		return []byte(body)
	}
	rest := body[1:]
	sep := ","
	if strings.HasPrefix(rest, "}") {
		sep = ""
	}
	return []byte(`{"id":` + string(idJSON) + sep + rest)
}

func (s *Sender) post(ctx context.Context, m *notify.Message) notify.Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(withID(m.Body, m.ID)))
	if err != nil {
		return notify.Result{Retry: false, Err: &Error{Host: s.host, What: "could not make the request: " + err.Error()}}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "restartinator")
	for k, v := range s.headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		e := &Error{Host: s.host, Hint: "is the receiver up and reachable?"}
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
			e.What = "did not answer in time"
		default:
			e.What = "could not be reached (" + cause(err) + ")"
		}
		return notify.Result{Retry: true, Err: e}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return notify.Result{}
	}
	e := &Error{Host: s.host, Status: resp.StatusCode, What: strings.TrimSpace(string(body))}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		e.Hint = "rate limited; will retry"
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		e.Hint = "the receiver failed; will retry"
	default:
		e.Hint = "the receiver refused this message; it is dropped, not retried"
		if resp.StatusCode == 401 || resp.StatusCode == 403 {
			e.Hint = "check the credentials (http_client_config, headers); this message is dropped"
		}
		return notify.Result{Retry: false, Err: e}
	}
	return notify.Result{Retry: true, Err: e}
}

// cause is the innermost error's text: "connection refused", without the
// URL Go's client puts in front.
func cause(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	return err.Error()
}

// Error is a failed POST told in a sentence:
// "webhook: 500 from hooks.example.com (oops) — the receiver failed; will retry".
type Error struct {
	Host   string
	Status int
	What   string
	Hint   string
}

func (e *Error) Error() string {
	s := "webhook: "
	if e.Status != 0 {
		s += fmt.Sprintf("%d from %s", e.Status, e.Host)
		if e.What != "" {
			s += " (" + notify.Truncate(e.What, 200) + ")"
		}
	} else {
		s += e.Host + " " + e.What
	}
	if e.Hint != "" {
		s += " — " + e.Hint
	}
	return s
}
