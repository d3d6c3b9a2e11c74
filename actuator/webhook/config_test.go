package webhook

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/restartinator/restartinator/config"
)

// A reload swaps the routes and keeps what the handler remembers and counts.
func TestSetConfigKeepsState(t *testing.T) {
	before := loadWebhookConfig(t, `
webhook:
  routes:
    - matchers: ['alertname="RestartinatorDeviceDown"']
      action: cycle
`)
	r := newRig(t, before)
	body := payload(t, 0, deviceDown("cam"), firing("alertname", "NotifyUPS"))
	if _, rep := r.postString(body); !slices.Equal(rep.results(), []string{"cam cycle started", "- none no_route"}) {
		t.Fatalf("before reload: %q", rep.results())
	}

	r.h.SetConfig(testWebhookConfig(t))
	if _, rep := r.postString(body); !slices.Equal(rep.results(), []string{"cam cycle duplicate", "- notify notified"}) {
		t.Errorf("after reload: %q", rep.results())
	}
	const want = `
# HELP restartinator_webhook_requests_total Alertmanager webhook requests, by HTTP status code of the reply.
# TYPE restartinator_webhook_requests_total counter
restartinator_webhook_requests_total{status="200"} 2
restartinator_webhook_requests_total{status="400"} 0
restartinator_webhook_requests_total{status="413"} 0
restartinator_webhook_requests_total{status="503"} 0
`
	if err := testutil.CollectAndCompare(r.h, strings.NewReader(want), "restartinator_webhook_requests_total"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(r.h.metrics.alerts.WithLabelValues("none", "no_route")); got != 1 {
		t.Errorf("no_route count %v after reload, want 1", got)
	}
}

func TestMetrics(t *testing.T) {
	r := newRig(t, testWebhookConfig(t))
	r.actions.failNext("nvr", ErrPlugUnreachable)
	r.postString(payload(t, 0, deviceDown("cam"), deviceDown("nvr"), firing("alertname", "Other"), firing("alertname", "Other2")))
	r.postString(`{"version":"4","alerts":[`)
	r.postString(payload(t, 0, deviceDown("cam")))

	const want = `
# HELP restartinator_webhook_alerts_total Alerts received through the webhook, by route action (none when no route matched) and result.
# TYPE restartinator_webhook_alerts_total counter
restartinator_webhook_alerts_total{action="cycle",result="already_cycling"} 0
restartinator_webhook_alerts_total{action="cycle",result="cycled_by_peer"} 0
restartinator_webhook_alerts_total{action="cycle",result="duplicate"} 1
restartinator_webhook_alerts_total{action="cycle",result="failed"} 1
restartinator_webhook_alerts_total{action="cycle",result="missing_label"} 0
restartinator_webhook_alerts_total{action="cycle",result="resolved"} 0
restartinator_webhook_alerts_total{action="cycle",result="started"} 1
restartinator_webhook_alerts_total{action="cycle",result="truncated"} 0
restartinator_webhook_alerts_total{action="cycle",result="unknown_device"} 0
restartinator_webhook_alerts_total{action="host_reset",result="duplicate"} 0
restartinator_webhook_alerts_total{action="host_reset",result="failed"} 0
restartinator_webhook_alerts_total{action="host_reset",result="host_reset"} 0
restartinator_webhook_alerts_total{action="host_reset",result="resolved"} 0
restartinator_webhook_alerts_total{action="host_reset",result="truncated"} 0
restartinator_webhook_alerts_total{action="none",result="no_route"} 2
restartinator_webhook_alerts_total{action="notify",result="duplicate"} 0
restartinator_webhook_alerts_total{action="notify",result="notified"} 0
restartinator_webhook_alerts_total{action="notify",result="resolved"} 0
restartinator_webhook_alerts_total{action="notify",result="truncated"} 0
# HELP restartinator_webhook_requests_total Alertmanager webhook requests, by HTTP status code of the reply.
# TYPE restartinator_webhook_requests_total counter
restartinator_webhook_requests_total{status="200"} 1
restartinator_webhook_requests_total{status="400"} 1
restartinator_webhook_requests_total{status="413"} 0
restartinator_webhook_requests_total{status="503"} 1
`
	if err := testutil.CollectAndCompare(r.h, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(r.h); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// Routes built by hand (not through config validation) are parsed here; a
// route that cannot be parsed is left out rather than matching everything.
func TestHandBuiltRoutes(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	s := compile(config.WebhookConfig{Routes: []config.WebhookRoute{
		{Matchers: []string{`alertname=~"(`}, Action: config.ActionNotify},
		{Matchers: []string{`alertname="X"`}, Action: "explode"},
		{Matchers: []string{`alertname="X"`, `site!="b"`}, Action: config.ActionCycle},
		{Action: config.ActionNotify}, // no matchers: every alert
	}}, logger)
	if s.maxBody != config.DefaultMaxBody {
		t.Errorf("maxBody %d, want the default", s.maxBody)
	}
	if len(s.routes) != 2 || s.routes[0].deviceLabel != "device" {
		t.Fatalf("routes %+v", s.routes)
	}
	for _, tc := range []struct {
		labels map[string]string
		want   action
	}{
		{map[string]string{"alertname": "X"}, actCycle},
		{map[string]string{"alertname": "X", "site": "a"}, actCycle},
		{map[string]string{"alertname": "X", "site": "b"}, actNotify},
		{map[string]string{"alertname": "Y"}, actNotify},
	} {
		if got := s.match(tc.labels); got == nil || got.action != tc.want {
			t.Errorf("%v: got %+v, want %v", tc.labels, got, tc.want)
		}
	}
	for _, want := range []string{"matchers do not parse", "unknown action"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestNewWithoutState(t *testing.T) {
	f := newFakeActions("cam")
	h := New(Options{Config: testWebhookConfig(t), Actions: f})
	body := payload(t, 0, deviceDown("cam"))
	for range 2 {
		rec := serve(h, body)
		if rec.Code != 200 {
			t.Errorf("got %d %s", rec.Code, rec.Body)
		}
	}
	if got := f.Calls(); len(got) != 1 {
		t.Errorf("calls %q, want one: dedup works in memory", got)
	}
}
