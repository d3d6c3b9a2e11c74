package webhook

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/alertmanager/template"
)

// notifyAlerts are n firing alerts on the notify route, each its own
// fingerprint: every one acts (a notify event), none touches a device.
func notifyAlerts(n int) []template.Alert {
	alerts := make([]template.Alert, n)
	for i := range alerts {
		alerts[i] = firing("alertname", "NotifyDiskFull", "device", fmt.Sprintf("dev%04d", i), "severity", "warning")
	}
	return alerts
}

// A request's alerts are recorded with one state-file save, not one (or
// two) per alert.
func TestOneStateSavePerRequest(t *testing.T) {
	r := newRig(t, loadWebhookConfig(t, fmt.Sprintf(testConfig, 1<<20)))
	before := r.store.Saves()
	code, rep := r.postString(payload(t, 0, notifyAlerts(15)...))
	if code != 200 || strings.Count(strings.Join(rep.results(), "\n"), "notified") != 15 {
		t.Fatalf("%d %v", code, rep.results())
	}
	if got := r.store.Saves() - before; got != 1 {
		t.Errorf("a 15-alert request wrote the state file %d times, want once", got)
	}
	// A repeat is all duplicates: the episodes are remembered.
	before = r.store.Saves()
	if code, rep = r.postString(payload(t, 0, notifyAlerts(15)...)); code != 200 || strings.Count(strings.Join(rep.results(), "\n"), "duplicate") != 15 {
		t.Fatalf("repeat: %d %v", code, rep.results())
	}
	if got := r.store.Saves() - before; got > 1 {
		t.Errorf("a repeat wrote the state file %d times, want at most once", got)
	}
}

// Past webhook.max_alerts_per_request the alerts are answered truncated
// with a 503; on Alertmanager's retry the ones that acted are duplicates
// and the next ones act, until all have.
func TestAlertsPerRequestCapped(t *testing.T) {
	cfg := loadWebhookConfig(t, fmt.Sprintf(testConfig, 1<<20)+"  max_alerts_per_request: 4\n")
	r := newRig(t, cfg)
	body := payload(t, 0, notifyAlerts(10)...)
	var notified int
	for i, want := range []struct {
		code                int
		notified, truncated int
	}{{503, 4, 6}, {503, 4, 2}, {200, 2, 0}} {
		code, rep := r.postString(body)
		got := strings.Join(rep.results(), "\n")
		if code != want.code || strings.Count(got, " notified") != want.notified || strings.Count(got, " truncated") != want.truncated {
			t.Fatalf("delivery %d: %d\n%s\nwant %d with %d notified, %d truncated", i, code, got, want.code, want.notified, want.truncated)
		}
		notified += want.notified
	}
	if got := len(r.actions.Calls()); got != 10 || notified != 10 {
		t.Errorf("%d notify events, want each of the 10 alerts once", got)
	}
	if !strings.Contains(r.logs.String(), "max_alerts_per_request=4") {
		t.Errorf("the truncation is not logged:\n%s", r.logs.String())
	}
}

// BenchmarkWebhook1000AlertsStateFile is issue 12's figure: one request of
// 1,000 firing alerts that each act (notify route), recorded in a real state
// file on disk (fsync included), then Alertmanager's repeat of it.
func BenchmarkWebhook1000AlertsStateFile(b *testing.B) {
	cfg := loadWebhookConfig(b, fmt.Sprintf(testConfig, 4<<20)+"  max_alerts_per_request: 1000\n")
	body := payload(b, 0, notifyAlerts(1000)...)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var saves int64
	for b.Loop() {
		b.StopTimer()
		r := newRig(b, cfg) // a fresh state file: every alert acts
		before := r.store.Saves()
		b.StartTimer()
		if code, rep := r.postString(body); code != 200 || len(rep.Alerts) != 1000 {
			b.Fatalf("got %d with %d alerts", code, len(rep.Alerts))
		}
		saves += r.store.Saves() - before
	}
	b.ReportMetric(float64(saves)/float64(b.N), "saves/op")
}

// A notify alert's annotation is cut before it is queued and mailed.
func TestNotifyDetailCapped(t *testing.T) {
	r := newRig(t, loadWebhookConfig(t, fmt.Sprintf(testConfig, 1<<20)))
	a := firing("alertname", "NotifyHuge", "device", "cam")
	a.Annotations["summary"] = strings.Repeat("ü", 100<<10)
	if code, _ := r.postString(payload(t, 0, a)); code != 200 {
		t.Fatalf("code %d", code)
	}
	r.actions.mu.Lock()
	defer r.actions.mu.Unlock()
	if len(r.actions.events) != 1 || len(r.actions.events[0].Detail) > maxDetail+16 || !strings.HasSuffix(r.actions.events[0].Detail, "… (cut)") {
		t.Fatalf("events %d, detail of %d bytes", len(r.actions.events), len(r.actions.events[0].Detail))
	}
}
