package statuspage

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/internal/event"
)

type eventT = event.Event

var eventKinds = []event.Kind{event.Offline, event.CycleStarted, event.Recovered}

// Children follow their parent, indented; the 24-hour bar is a few
// rectangles; blocked and paused say why.
func TestStatusPageTreeBarsAndPause(t *testing.T) {
	bar := strings.Repeat("u", 48) + strings.Repeat("d", 24) + strings.Repeat("u", 24)
	ds := []collector.DeviceStatus{
		{Name: "cam", State: "blocked", Mode: "auto", Plug: "p", DependsOn: []string{"router"}, ParentsDown: []string{"modem", "router"}},
		{Name: "modem", State: "failing", Mode: "auto", Plug: "p", Bar24h: bar, Availability24h: ptr(0.75), Availability7d: ptr(0.9642)},
		{Name: "nas", State: "paused", Mode: "monitor", Paused: true, PausedUntil: ptr(now.Add(time.Hour)), PauseReason: "disk swap"},
		{Name: "router", State: "failing", Mode: "auto", Plug: "p", DependsOn: []string{"modem"}},
	}
	_, doc := page(t, newTestPage(&fakeSource{devices: ds}, ""), "/")
	var order []string
	depth := map[string]string{}
	for _, tr := range all(doc, byClass("device")) {
		name, _ := attr(tr, "data-device")
		order = append(order, name)
		depth[name], _ = attr(tr, "data-depth")
	}
	if want := []string{"modem", "router", "cam", "nas"}; !slices.Equal(order, want) {
		t.Errorf("row order %v, want %v (children under their parent)", order, want)
	}
	if depth["modem"] != "0" || depth["router"] != "1" || depth["cam"] != "2" {
		t.Errorf("depths %v", depth)
	}
	_, rows := deviceRows(t, doc)
	rects := all(rows["modem"], byTag("rect"))
	if len(rects) != 3 {
		t.Fatalf("modem's bar has %d rectangles, want 3 runs", len(rects))
	}
	if w, _ := attr(rects[1], "width"); w != "24" {
		t.Errorf("the down run is %s quarter-hours wide, want 24", w)
	}
	if c, _ := attr(rects[1], "class"); c != "b-down" {
		t.Errorf("the down run's class %q", c)
	}
	if got := text(first(t, rows["modem"], "avail", byClass("c-avail"))); !strings.Contains(got, "24 h 75.0% · 7 d 96.4%") {
		t.Errorf("availability text %q", got)
	}
	if got := text(first(t, rows["cam"], "state", byClass("c-state"))); !strings.Contains(got, "waiting for modem, router") {
		t.Errorf("blocked state %q", got)
	}
	if got := text(first(t, rows["nas"], "state", byClass("c-state"))); !strings.Contains(got, "paused, ends in 1h 0m: disk swap") {
		t.Errorf("paused state %q", got)
	}
	if b := first(t, rows["nas"], "pause", byClass("pause")); text(b) != "Resume" {
		t.Errorf("a paused device's button says %q", text(b))
	}
}

// manyDevices is a fleet of n devices: a tenth behind a parent, each with
// a day of history and a few events.
func manyDevices(n int) []collector.DeviceStatus {
	ds := make([]collector.DeviceStatus, n)
	bar := strings.Repeat("u", 40) + "pd" + strings.Repeat("u", 30) + strings.Repeat("d", 4) + strings.Repeat("u", 20)
	for i := range ds {
		d := collector.DeviceStatus{
			Name: fmt.Sprintf("device-%04d", i), State: "up", Mode: "auto", Probe: "tcp", Target: fmt.Sprintf("10.0.%d.%d:80", i/250, i%250),
			Plug: fmt.Sprintf("plug-%d", i/4), Outlet: fmt.Sprint(i % 4), CyclesInWindow: 1,
			LastProbe:       &collector.ProbeStatus{Time: now.Add(-3 * time.Second), Success: true, DurationSeconds: 0.0012},
			LastCycle:       ptr(now.Add(-5 * time.Hour)),
			Availability24h: ptr(0.95), Availability7d: ptr(0.991), Bar24h: bar,
		}
		if i%10 == 9 {
			d.DependsOn = []string{fmt.Sprintf("device-%04d", i-9)}
		}
		for k := range 3 {
			d.Events = append(d.Events, collectorEvent(k))
		}
		ds[i] = d
	}
	return ds
}

// BenchmarkStatusPage1000 renders the page for 1,000 devices and reports
// the HTML's size, gzipped and not, and the devices API's JSON size.
func BenchmarkStatusPage1000(b *testing.B) {
	ds := manyDevices(1000)
	h := newTestPage(&fakeSource{devices: ds}, "")
	var size int
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
		size = rec.Body.Len()
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	js, _ := json.MarshalIndent(map[string]any{"devices": ds}, "", "  ")
	b.ReportMetric(float64(size), "html-bytes")
	b.ReportMetric(float64(gzSize(rec.Body.Bytes())), "html-gzip-bytes")
	b.ReportMetric(float64(len(js)), "json-bytes")
	b.ReportMetric(float64(gzSize(js)), "json-gzip-bytes")
}

func gzSize(b []byte) int {
	var n countWriter
	w, _ := gzip.NewWriterLevel(&n, gzip.BestSpeed)
	w.Write(b)
	w.Close()
	return int(n)
}

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)

func collectorEvent(k int) (e eventT) {
	e.Kind, e.Time, e.State, e.Detail = eventKinds[k%len(eventKinds)], now.Add(-time.Duration(k+1)*time.Hour), "up", "connection refused"
	return e
}
