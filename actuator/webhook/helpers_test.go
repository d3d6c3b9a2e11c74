package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/internal/state"
	"github.com/restartinator/restartinator/internal/testlog"
)

const testConfig = `
host_reset: {method: rtc, rtc: {device: /dev/rtc0, wake_after: 60s}}
webhook:
  max_body_bytes: %d
  routes:
    - matchers: ['alertname="RestartinatorDeviceDown"']
      action: cycle
    - matchers: ['alertname="HostHung"', 'severity=~"critical|page"']
      action: host_reset
    - matchers: ['alertname="PowerCycleRequested"']
      action: cycle
      device_label: target
    - matchers: ['alertname=~"Notify.*"']
      action: notify
`

// testMaxBody is small so the oversize case stays small.
const testMaxBody = 8 << 10

func loadWebhookConfig(t testing.TB, yml string) config.WebhookConfig {
	t.Helper()
	c, err := config.Load([]byte(yml), "test.yml")
	if err != nil {
		t.Fatal(err)
	}
	return c.Webhook
}

func testWebhookConfig(t testing.TB) config.WebhookConfig {
	return loadWebhookConfig(t, fmt.Sprintf(testConfig, testMaxBody))
}

// fakeActions records what the webhook asked for. Devices it knows are
// cycled unless an error is scripted for them.
type fakeActions struct {
	mu      sync.Mutex
	devices []string
	calls   []string
	events  []event.Event
	// errs are returned in order, one per call, keyed by device or "host".
	errs map[string][]error
	// upSince is when each device came back up; absent means not up.
	upSince map[string]time.Time
}

func (f *fakeActions) setUpSince(device string, t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.upSince == nil {
		f.upSince = map[string]time.Time{}
	}
	f.upSince[device] = t
}

func (f *fakeActions) DeviceUpSince(device string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.upSince[device]
	return t, ok
}

func newFakeActions(devices ...string) *fakeActions {
	return &fakeActions{devices: devices, errs: map[string][]error{}}
}

func (f *fakeActions) failNext(key string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[key] = append(f.errs[key], errs...)
}

func (f *fakeActions) next(key string) error {
	if q := f.errs[key]; len(q) > 0 {
		f.errs[key] = q[1:]
		return q[0]
	}
	return nil
}

func (f *fakeActions) CycleDevice(ctx context.Context, device, trigger string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if trigger != Trigger {
		return fmt.Errorf("trigger %q, want %q", trigger, Trigger)
	}
	f.calls = append(f.calls, "cycle "+device)
	if !slices.Contains(f.devices, device) {
		return fmt.Errorf("cycling %q: %w", device, ErrUnknownDevice)
	}
	return f.next(device)
}

func (f *fakeActions) ResetHost(ctx context.Context, trigger string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if trigger != Trigger {
		return fmt.Errorf("trigger %q, want %q", trigger, Trigger)
	}
	f.calls = append(f.calls, "host_reset")
	return f.next("host")
}

func (f *fakeActions) Notify(e event.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "notify "+e.Device)
	f.events = append(f.events, e)
}

func (f *fakeActions) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// rig is a Handler over a state file, served on loopback.
type rig struct {
	t       testing.TB
	actions *fakeActions
	path    string
	store   *state.Store
	clock   *clock.Fake
	h       *Handler
	srv     *httptest.Server
	logs    *syncBuffer
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newRig(t testing.TB, cfg config.WebhookConfig) *rig {
	t.Helper()
	r := &rig{
		t:       t,
		actions: newFakeActions("cam", "nvr", "router"),
		path:    filepath.Join(t.TempDir(), "s.json"),
		clock:   clock.NewFake(t0),
		logs:    &syncBuffer{},
	}
	r.start(cfg)
	return r
}

// start (re)opens the state file and serves a new Handler over it, as a
// restarted process would.
func (r *rig) start(cfg config.WebhookConfig) {
	r.t.Helper()
	if r.srv != nil {
		r.srv.Close()
	}
	logger := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := state.Open(r.path, logger)
	if err != nil {
		r.t.Fatal(err)
	}
	r.store = st
	r.h = New(Options{Config: cfg, Actions: r.actions, State: st, Clock: r.clock, Logger: logger})
	mux := http.NewServeMux()
	mux.Handle("/webhook", r.h)
	r.srv = httptest.NewServer(mux)
	r.t.Cleanup(r.srv.Close)
}

// post sends body to /webhook and decodes the reply.
func (r *rig) post(body io.Reader) (int, reply) {
	r.t.Helper()
	resp, err := http.Post(r.srv.URL+"/webhook", "application/json", body)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, decodeReply(r.t, resp)
}

func (r *rig) postString(s string) (int, reply) {
	r.t.Helper()
	return r.post(bytes.NewReader([]byte(s)))
}

// reply is the response body.
type reply struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Alerts []struct {
		Fingerprint string `json:"fingerprint"`
		Alertname   string `json:"alertname"`
		Device      string `json:"device"`
		Action      string `json:"action"`
		Result      string `json:"result"`
		Detail      string `json:"detail"`
	} `json:"alerts"`
	TruncatedAlerts uint64 `json:"truncated_alerts"`
}

func decodeReply(t testing.TB, resp *http.Response) reply {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var rep reply
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("reply is not the documented JSON: %v\n%s", err, body)
	}
	return rep
}

// results lists the reply's alerts as "device action result".
func (rep reply) results() []string {
	var out []string
	for _, a := range rep.Alerts {
		d := a.Device
		if d == "" {
			d = "-"
		}
		out = append(out, d+" "+a.Action+" "+a.Result)
	}
	return out
}

// alert builds a payload alert as Alertmanager does, fingerprint included.
func alert(status string, startsAt time.Time, kv ...string) template.Alert {
	ls := template.KV{}
	for i := 0; i+1 < len(kv); i += 2 {
		ls[kv[i]] = kv[i+1]
	}
	mls := model.LabelSet{}
	for k, v := range ls {
		mls[model.LabelName(k)] = model.LabelValue(v)
	}
	a := template.Alert{
		Status:       status,
		Labels:       ls,
		Annotations:  template.KV{"summary": "Device " + ls["device"] + " is down"},
		StartsAt:     startsAt,
		GeneratorURL: "http://prometheus.example/graph",
		Fingerprint:  mls.Fingerprint().String(),
	}
	if status == statusResolved {
		a.EndsAt = startsAt.Add(10 * time.Minute)
	}
	return a
}

func firing(kv ...string) template.Alert   { return alert(statusFiring, t0.Add(-time.Minute), kv...) }
func resolved(kv ...string) template.Alert { return alert(statusResolved, t0.Add(-time.Hour), kv...) }

func deviceDown(device string) template.Alert {
	return firing("alertname", "RestartinatorDeviceDown", "device", device, "severity", "warning")
}

// payload is Alertmanager's version 4 webhook body for alerts.
func payload(t testing.TB, truncated uint64, alerts ...template.Alert) string {
	t.Helper()
	m := message{
		Data: template.Data{
			Receiver:          "restartinator",
			Status:            statusFiring,
			Alerts:            alerts,
			GroupLabels:       template.KV{"alertname": "RestartinatorDeviceDown"},
			CommonLabels:      template.KV{},
			CommonAnnotations: template.KV{},
			ExternalURL:       "http://alertmanager.example",
		},
		Version:         "4",
		GroupKey:        `{}:{alertname="RestartinatorDeviceDown"}`,
		TruncatedAlerts: truncated,
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type syncBuffer = testlog.Buffer

// serve runs one request in-process.
func serve(h http.Handler, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body))
	h.ServeHTTP(rec, req)
	return rec
}
