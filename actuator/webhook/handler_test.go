package webhook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestWebhook(t *testing.T) {
	errRefused := fmt.Errorf("plug %q (127.0.0.1:9999): connection refused: %w", "rack", ErrPlugUnreachable)
	cases := []struct {
		name  string
		body  func(t *testing.T) string
		setup func(f *fakeActions)

		wantCode    int
		wantStatus  string
		wantCalls   []string
		wantResults []string
		wantErr     string // in the reply's error
		wantLog     string
	}{
		{
			name:        "one firing alert",
			body:        func(t *testing.T) string { return payload(t, 0, deviceDown("cam")) },
			wantCode:    200,
			wantStatus:  "ok",
			wantCalls:   []string{"cycle cam"},
			wantResults: []string{"cam cycle started"},
			wantLog:     `msg="webhook alert" alertname=RestartinatorDeviceDown`,
		},
		{
			name: "many alerts for several devices and actions",
			body: func(t *testing.T) string {
				return payload(t, 0,
					deviceDown("cam"),
					deviceDown("nvr"),
					firing("alertname", "PowerCycleRequested", "target", "router"),
					firing("alertname", "NotifyDiskFull", "device", "nvr"),
					firing("alertname", "HostHung", "severity", "page"),
				)
			},
			wantCode:    200,
			wantStatus:  "ok",
			wantCalls:   []string{"cycle cam", "cycle nvr", "cycle router", "notify nvr", "host_reset"},
			wantResults: []string{"cam cycle started", "nvr cycle started", "router cycle started", "nvr notify notified", "- host_reset host_reset"},
		},
		{
			name: "firing mixed with resolved",
			body: func(t *testing.T) string {
				return payload(t, 0,
					resolved("alertname", "RestartinatorDeviceDown", "device", "cam"),
					deviceDown("nvr"),
					resolved("alertname", "HostHung", "severity", "critical"),
				)
			},
			wantCode:    200,
			wantStatus:  "ok",
			wantCalls:   []string{"cycle nvr"},
			wantResults: []string{"cam cycle resolved", "nvr cycle started", "- host_reset resolved"},
		},
		{
			name:        "unknown device answers 200 so Alertmanager does not retry",
			body:        func(t *testing.T) string { return payload(t, 0, deviceDown("ghost")) },
			wantCode:    200,
			wantStatus:  "ok",
			wantCalls:   []string{"cycle ghost"},
			wantResults: []string{"ghost cycle unknown_device"},
			wantLog:     `result=unknown_device`,
		},
		{
			name: "no matching route",
			body: func(t *testing.T) string {
				return payload(t, 0,
					firing("alertname", "DiskFull", "device", "cam"),
					firing("alertname", "HostHung", "severity", "warning"), // severity does not match
				)
			},
			wantCode:    200,
			wantStatus:  "ok",
			wantResults: []string{"- none no_route", "- none no_route"},
		},
		{
			name: "malformed JSON acts on nothing, even the valid part",
			body: func(t *testing.T) string {
				p := payload(t, 0, deviceDown("cam"), deviceDown("nvr"))
				return p[:strings.Index(p, `"device":"nvr"`)] + `"device":`
			},
			wantCode:   400,
			wantStatus: "error",
			wantErr:    "not valid JSON",
		},
		{
			name: "trailing garbage acts on nothing",
			body: func(t *testing.T) string {
				return payload(t, 0, deviceDown("cam")) + "}"
			},
			wantCode:   400,
			wantStatus: "error",
			wantErr:    "not valid JSON",
		},
		{
			name: "wrong field type acts on nothing",
			body: func(t *testing.T) string {
				p := payload(t, 0, deviceDown("cam"))
				return strings.Replace(p, `"truncatedAlerts":0`, `"truncatedAlerts":"many"`, 1)
			},
			wantCode:   400,
			wantStatus: "error",
			wantErr:    "not an Alertmanager webhook payload",
		},
		{
			name: "oversize body",
			body: func(t *testing.T) string {
				p := payload(t, 0, deviceDown("cam"))
				return strings.Replace(p, `"receiver":"restartinator"`, `"receiver":"`+strings.Repeat("x", testMaxBody)+`"`, 1)
			},
			wantCode:   413,
			wantStatus: "error",
			wantErr:    "larger than 8192 bytes (webhook.max_body_bytes)",
		},
		{
			name:        "truncated alerts are reported",
			body:        func(t *testing.T) string { return payload(t, 3, deviceDown("cam")) },
			wantCode:    200,
			wantStatus:  "ok",
			wantCalls:   []string{"cycle cam"},
			wantResults: []string{"cam cycle started"},
			wantLog:     "truncated_alerts=3",
		},
		{
			name: "wrong version",
			body: func(t *testing.T) string {
				return strings.Replace(payload(t, 0, deviceDown("cam")), `"version":"4"`, `"version":"3"`, 1)
			},
			wantCode:   400,
			wantStatus: "error",
			wantErr:    `payload version "3" is not supported`,
		},
		{
			name:       "no version",
			body:       func(t *testing.T) string { return `{"alerts":[]}` },
			wantCode:   400,
			wantStatus: "error",
			wantErr:    `payload version "" is not supported`,
		},
		{
			name: "unknown alert status acts on nothing",
			body: func(t *testing.T) string {
				a := deviceDown("nvr")
				a.Status = "pending"
				return payload(t, 0, deviceDown("cam"), a)
			},
			wantCode:   400,
			wantStatus: "error",
			wantErr:    `alerts[1]: status "pending"`,
		},
		{
			name: "missing device label",
			body: func(t *testing.T) string {
				return payload(t, 0,
					firing("alertname", "RestartinatorDeviceDown", "instance", "cam:80"),
					firing("alertname", "PowerCycleRequested", "device", "cam"), // this route reads "target"
				)
			},
			wantCode:    200,
			wantStatus:  "ok",
			wantResults: []string{"- cycle missing_label", "- cycle missing_label"},
			wantLog:     `detail="the alert has no \"target\" label naming the device to cycle"`,
		},
		{
			name:        "plug unreachable asks for a retry",
			body:        func(t *testing.T) string { return payload(t, 0, deviceDown("cam"), deviceDown("nvr")) },
			setup:       func(f *fakeActions) { f.failNext("cam", errRefused) },
			wantCode:    503,
			wantStatus:  "retry",
			wantCalls:   []string{"cycle cam", "cycle nvr"},
			wantResults: []string{"cam cycle failed", "nvr cycle started"},
			wantLog:     "answered 503 so Alertmanager retries",
		},
		{
			name:        "unexpected error asks for a retry",
			body:        func(t *testing.T) string { return payload(t, 0, deviceDown("cam")) },
			setup:       func(f *fakeActions) { f.failNext("cam", errors.New("state file is read-only")) },
			wantCode:    503,
			wantStatus:  "retry",
			wantCalls:   []string{"cycle cam"},
			wantResults: []string{"cam cycle failed"},
		},
		{
			name: "already cycling is skipped",
			body: func(t *testing.T) string { return payload(t, 0, deviceDown("cam")) },
			setup: func(f *fakeActions) {
				f.failNext("cam", fmt.Errorf("device %q is booting: %w", "cam", ErrAlreadyCycling))
			},
			wantCode:    200,
			wantStatus:  "ok",
			wantCalls:   []string{"cycle cam"},
			wantResults: []string{"cam cycle already_cycling"},
		},
		{
			name: "a peer instance cycling the outlet is skipped",
			body: func(t *testing.T) string { return payload(t, 0, deviceDown("cam")) },
			setup: func(f *fakeActions) {
				f.failNext("cam", fmt.Errorf("plug: the outlet is off: %w", ErrCycledByPeer))
			},
			wantCode:    200,
			wantStatus:  "ok",
			wantCalls:   []string{"cycle cam"},
			wantResults: []string{"cam cycle cycled_by_peer"},
		},
		{
			name: "host reset not configured is not retried",
			body: func(t *testing.T) string {
				return payload(t, 0, firing("alertname", "HostHung", "severity", "critical"))
			},
			setup:       func(f *fakeActions) { f.failNext("host", ErrNoHostReset) },
			wantCode:    200,
			wantStatus:  "ok",
			wantCalls:   []string{"host_reset"},
			wantResults: []string{"- host_reset failed"},
		},
		{
			name: "host reset failing asks for a retry",
			body: func(t *testing.T) string {
				return payload(t, 0, firing("alertname", "HostHung", "severity", "critical"))
			},
			setup:       func(f *fakeActions) { f.failNext("host", errors.New("opening /dev/watchdog: device or resource busy")) },
			wantCode:    503,
			wantStatus:  "retry",
			wantCalls:   []string{"host_reset"},
			wantResults: []string{"- host_reset failed"},
		},
		{
			name:       "empty alert list",
			body:       func(t *testing.T) string { return payload(t, 0) },
			wantCode:   200,
			wantStatus: "ok",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, testWebhookConfig(t))
			if tc.setup != nil {
				tc.setup(r.actions)
			}
			code, rep := r.postString(tc.body(t))
			if code != tc.wantCode || rep.Status != tc.wantStatus {
				t.Errorf("got %d %q, want %d %q (reply %+v)", code, rep.Status, tc.wantCode, tc.wantStatus, rep)
			}
			if got := r.actions.Calls(); !slices.Equal(got, tc.wantCalls) {
				t.Errorf("calls %q, want %q", got, tc.wantCalls)
			}
			if got := rep.results(); !slices.Equal(got, tc.wantResults) {
				t.Errorf("results %q, want %q", got, tc.wantResults)
			}
			if !strings.Contains(rep.Error, tc.wantErr) || (tc.wantErr == "") != (rep.Error == "") {
				t.Errorf("error %q, want it to contain %q", rep.Error, tc.wantErr)
			}
			if !strings.Contains(r.logs.String(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, r.logs)
			}
		})
	}
}

func TestTruncatedAlertsInReply(t *testing.T) {
	r := newRig(t, testWebhookConfig(t))
	code, rep := r.postString(payload(t, 42, deviceDown("cam")))
	if code != 200 || rep.TruncatedAlerts != 42 {
		t.Errorf("got %d with truncated_alerts %d, want 200 and 42", code, rep.TruncatedAlerts)
	}
}

// A retry of a notification whose plug was unreachable acts; the alert that
// already started is not cycled again.
func TestPlugUnreachableRetryActs(t *testing.T) {
	r := newRig(t, testWebhookConfig(t))
	r.actions.failNext("cam", fmt.Errorf("plug: %w", ErrPlugUnreachable))
	body := payload(t, 0, deviceDown("cam"), deviceDown("nvr"))

	if code, rep := r.postString(body); code != 503 {
		t.Fatalf("first delivery: %d %v, want 503", code, rep.results())
	}
	code, rep := r.postString(body)
	if want := []string{"cam cycle started", "nvr cycle duplicate"}; code != 200 || !slices.Equal(rep.results(), want) {
		t.Errorf("retry: %d %q, want 200 %q", code, rep.results(), want)
	}
	if got, want := r.actions.Calls(), []string{"cycle cam", "cycle nvr", "cycle cam"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

func TestOversizeBodyWithoutContentLength(t *testing.T) {
	r := newRig(t, testWebhookConfig(t))
	p := payload(t, 0, deviceDown("cam"))
	big := strings.Replace(p, `"receiver":"restartinator"`, `"receiver":"`+strings.Repeat("x", testMaxBody)+`"`, 1)
	// A reader of unknown length makes the client send it chunked.
	code, rep := r.post(struct{ io.Reader }{strings.NewReader(big)})
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(rep.Error, "webhook.max_body_bytes") {
		t.Errorf("got %d %q, want 413 naming webhook.max_body_bytes", code, rep.Error)
	}
	// Just under the limit is fine.
	code, _ = r.post(struct{ io.Reader }{strings.NewReader(p)})
	if code != 200 {
		t.Errorf("small chunked body: %d, want 200", code)
	}
	if got := r.actions.Calls(); !slices.Equal(got, []string{"cycle cam"}) {
		t.Errorf("calls %q", got)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	r := newRig(t, testWebhookConfig(t))
	resp, err := http.Get(r.srv.URL + "/webhook")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rep := decodeReply(t, resp)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" || rep.Status != "error" {
		t.Errorf("GET: %d Allow=%q %+v", resp.StatusCode, resp.Header.Get("Allow"), rep)
	}
}

func TestNotifyEvent(t *testing.T) {
	r := newRig(t, testWebhookConfig(t))
	a := firing("alertname", "NotifyUPSOnBattery", "device", "nvr", "site", "a")
	a.Annotations = map[string]string{"summary": "UPS on battery", "description": "Mains power lost 3m ago."}
	b := firing("alertname", "NotifyDiskFull")
	b.Annotations = map[string]string{"description": "Disk 95% full."}
	if code, rep := r.postString(payload(t, 0, a, b)); code != 200 {
		t.Fatalf("got %d %+v", code, rep)
	}
	r.actions.mu.Lock()
	defer r.actions.mu.Unlock()
	if len(r.actions.events) != 2 {
		t.Fatalf("events %+v", r.actions.events)
	}
	e := r.actions.events[0]
	if e.Kind != "notify" || e.Device != "nvr" || e.Trigger != "webhook" || !e.Time.Equal(t0) ||
		e.Detail != "UPS on battery — Mains power lost 3m ago." || e.Labels["site"] != "a" {
		t.Errorf("event %+v", e)
	}
	if e := r.actions.events[1]; e.Device != "" || e.Detail != "Disk 95% full." {
		t.Errorf("event without device or summary: %+v", e)
	}
}

// A resolved alert never acts, even when its route would, and whatever its
// labels say.
func TestResolvedNeverActs(t *testing.T) {
	r := newRig(t, testWebhookConfig(t))
	body := payload(t, 0,
		resolved("alertname", "RestartinatorDeviceDown", "device", "cam"),
		resolved("alertname", "HostHung", "severity", "page"),
		resolved("alertname", "NotifyX", "device", "cam"),
		resolved("alertname", "RestartinatorDeviceDown"),
	)
	code, rep := r.postString(body)
	if code != 200 || len(r.actions.Calls()) != 0 {
		t.Errorf("got %d, calls %q", code, r.actions.Calls())
	}
	for _, a := range rep.Alerts {
		if a.Result != "resolved" {
			t.Errorf("result %+v", a)
		}
	}
}

// The JSON reply survives label values that need escaping.
func TestReplyEscapes(t *testing.T) {
	r := newRig(t, testWebhookConfig(t))
	odd := "cam \"quoted\" \\ <tag> & \n\t\x01 \u2028 é \xff"
	code, rep := r.postString(payload(t, 0, deviceDown(odd)))
	if code != 200 || len(rep.Alerts) != 1 {
		t.Fatalf("got %d %+v", code, rep)
	}
	// encoding/json turned the invalid byte into U+FFFD on the way in.
	if want := strings.ToValidUTF8(odd, "\uFFFD"); rep.Alerts[0].Device != want {
		t.Errorf("device %q, want %q", rep.Alerts[0].Device, want)
	}
	if !bytes.Contains([]byte(rep.Alerts[0].Detail), []byte(`device "cam \"quoted\"`)) {
		t.Errorf("detail %q", rep.Alerts[0].Detail)
	}
}
