package webhook

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/alertmanager/template"
)

// benchPayload is n firing alerts that match no route: the cost of the
// webhook itself, with no action and no state write.
func benchPayload(b *testing.B, n int) string {
	alerts := make([]template.Alert, n)
	for i := range alerts {
		alerts[i] = firing("alertname", "DiskFull", "device", fmt.Sprintf("dev%03d", i),
			"instance", fmt.Sprintf("site-a:%d", 9100+i), "job", "node", "severity", "warning")
	}
	return payload(b, 0, alerts...)
}

func benchmarkWebhook(b *testing.B, n int) {
	body := benchPayload(b, n)
	h := New(Options{Config: loadWebhookConfig(b, fmt.Sprintf(testConfig, 1<<20)), Actions: newFakeActions(), Logger: slog.New(slog.DiscardHandler)})
	if rec := serve(h, body); rec.Code != 200 || strings.Count(rec.Body.String(), `"result":"no_route"`) != n {
		b.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	benchmarkHandler(b, h, body)
}

// minimalHandler is the least a webhook receiver does: decode the payload.
func minimalHandler(w http.ResponseWriter, r *http.Request) {
	var d template.Data
	if err := json.NewDecoder(r.Body).Decode(&d); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func benchmarkMinimal(b *testing.B, n int) {
	body := benchPayload(b, n)
	benchmarkHandler(b, http.HandlerFunc(minimalHandler), body)
}

func benchmarkHandler(b *testing.B, h http.Handler, body string) {
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body)))
		if rec.Code != 200 {
			b.Fatalf("got %d", rec.Code)
		}
	}
}

func BenchmarkWebhook1Alert(b *testing.B)           { benchmarkWebhook(b, 1) }
func BenchmarkWebhook100Alerts(b *testing.B)        { benchmarkWebhook(b, 100) }
func BenchmarkMinimalHandler1Alert(b *testing.B)    { benchmarkMinimal(b, 1) }
func BenchmarkMinimalHandler100Alerts(b *testing.B) { benchmarkMinimal(b, 100) }
