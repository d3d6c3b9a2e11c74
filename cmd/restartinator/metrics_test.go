package main

import (
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// /metrics as Prometheus asks for it (OpenMetrics, gzip): the per-device
// families written straight into the body come before "# EOF", the body is
// gzipped; as curl asks (text, no compression) it passes promtool.
func TestMetricsHandlerFormats(t *testing.T) {
	s, _, _, logs := newTestService(t, goodConfig)
	device := func(w io.Writer) error {
		_, err := io.WriteString(w, "# HELP restartinator_device_state_code The state.\n# TYPE restartinator_device_state_code gauge\nrestartinator_device_state_code{device=\"cam\"} 1\n")
		return err
	}
	srv := httptest.NewServer(metricsHandler{reg: s.reg, log: slog.New(slog.NewTextHandler(logs, nil)),
		writes: func() []func(io.Writer) error { return []func(io.Writer) error{device} }})
	t.Cleanup(srv.Close)
	req, err := http.NewRequest("GET", srv.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.1")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Type %q, Content-Encoding %q", ct, resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	dev := strings.Index(text, `restartinator_device_state_code{device="cam"}`)
	if dev < 0 || !strings.HasSuffix(text, "# EOF\n") || strings.Count(text, "# EOF") != 1 {
		t.Fatalf("OpenMetrics body without the device families before one final # EOF:\n%s", text)
	}
	if !strings.Contains(text, "restartinator_build_info") {
		t.Errorf("the registry's families are missing:\n%s", text)
	}

	_, plain := get(t, srv.URL+"/metrics")
	if !strings.Contains(plain, `restartinator_device_state_code{device="cam"} 1`) || strings.Contains(plain, "# EOF") {
		t.Fatalf("plain text /metrics:\n%s", plain)
	}
	promtoolCheckMetrics(t, plain)
}
