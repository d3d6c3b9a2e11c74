package statuspage

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// rawGet fetches url over a real loopback connection without the Go
// client's transparent gzip, so the test sees what is on the wire.
func rawGet(t testing.TB, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("bad gzip: %v", err)
	}
	return out
}

// The page, its assets and an API behind Gzip give the same bytes to a
// client that accepts gzip and to one that does not, and say so in Vary.
func TestGzipSameBodyEitherWay(t *testing.T) {
	page := newTestPage(&fakeSource{devices: manyDevices(50)}, "/r")
	js, _ := json.Marshal(map[string]any{"devices": manyDevices(50)})
	mux := http.NewServeMux()
	mux.Handle("/r/", page)
	mux.Handle("/api", Gzip(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(js)
	})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, path := range []string{"/r/", "/r/static/statuspage.js", "/r/static/statuspage.css", "/api"} {
		t.Run(path, func(t *testing.T) {
			plainRes, plain := rawGet(t, srv.URL+path, nil)
			gzRes, gz := rawGet(t, srv.URL+path, map[string]string{"Accept-Encoding": "gzip"})
			if plainRes.StatusCode != http.StatusOK || gzRes.StatusCode != http.StatusOK {
				t.Fatalf("status %d and %d", plainRes.StatusCode, gzRes.StatusCode)
			}
			if ce := plainRes.Header.Get("Content-Encoding"); ce != "" {
				t.Errorf("without Accept-Encoding: Content-Encoding %q", ce)
			}
			if ce := gzRes.Header.Get("Content-Encoding"); ce != "gzip" {
				t.Fatalf("with Accept-Encoding: gzip: Content-Encoding %q", ce)
			}
			for _, res := range []*http.Response{plainRes, gzRes} {
				if v := strings.Join(res.Header.Values("Vary"), ","); !strings.Contains(v, "Accept-Encoding") {
					t.Errorf("Vary %q lacks Accept-Encoding", v)
				}
			}
			if got := gunzip(t, gz); !bytes.Equal(got, plain) {
				t.Errorf("gunzipped body (%d bytes) differs from the plain one (%d bytes)", len(got), len(plain))
			}
			if len(gz) >= len(plain)/2 {
				t.Errorf("gzipped %d bytes of %d", len(gz), len(plain))
			}
			if gzRes.Header.Get("Content-Type") != plainRes.Header.Get("Content-Type") {
				t.Errorf("Content-Type %q gzipped, %q plain", gzRes.Header.Get("Content-Type"), plainRes.Header.Get("Content-Type"))
			}
		})
	}
	// gzip;q=0 refuses gzip; other codings are not offered.
	for _, ae := range []string{"gzip;q=0", "br", "zstd", "identity"} {
		res, body := rawGet(t, srv.URL+"/r/", map[string]string{"Accept-Encoding": ae})
		if ce := res.Header.Get("Content-Encoding"); ce != "" || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("<!doctype html>")) {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, body starts %q", ae, ce, body[:min(20, len(body))])
		}
	}
	// A small answer (the 404) goes as it is.
	res, body := rawGet(t, srv.URL+"/r/nothing", map[string]string{"Accept-Encoding": "gzip"})
	if res.StatusCode != http.StatusNotFound || res.Header.Get("Content-Encoding") != "" || !strings.Contains(string(body), "not found") {
		t.Errorf("404: %d %q %q", res.StatusCode, res.Header.Get("Content-Encoding"), body)
	}
}

// Each form of an asset has its own ETag, and revalidating either gives
// a 304.
func TestGzipAssetRevalidates(t *testing.T) {
	srv := httptest.NewServer(newTestPage(&fakeSource{}, ""))
	defer srv.Close()
	url := srv.URL + "/static/statuspage.js"
	plain, _ := rawGet(t, url, nil)
	gz, _ := rawGet(t, url, map[string]string{"Accept-Encoding": "gzip"})
	pe, ge := plain.Header.Get("ETag"), gz.Header.Get("ETag")
	if pe == "" || ge == "" || pe == ge {
		t.Fatalf("ETags %q plain and %q gzipped: want two different ones", pe, ge)
	}
	for _, c := range []struct {
		etag, ae string
		want     int
	}{
		{pe, "", http.StatusNotModified},
		{ge, "gzip", http.StatusNotModified},
		{pe, "gzip", http.StatusOK}, // holds the plain form, now accepts gzip
		{ge, "", http.StatusOK},
	} {
		res, _ := rawGet(t, url, map[string]string{"If-None-Match": c.etag, "Accept-Encoding": c.ae})
		if res.StatusCode != c.want {
			t.Errorf("If-None-Match %s, Accept-Encoding %q: %d, want %d", c.etag, c.ae, res.StatusCode, c.want)
		}
	}
}

// BenchmarkDevicesRefresh1000 is one refresh of the status page's script
// at 1,000 devices: the devices JSON through Gzip over loopback. It
// reports the bytes on the wire per refresh, gzipped and not.
func BenchmarkDevicesRefresh1000(b *testing.B) {
	js, _ := json.MarshalIndent(map[string]any{"devices": manyDevices(1000)}, "", "  ") // as the API writes it
	srv := httptest.NewServer(Gzip(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(js)
	})))
	defer srv.Close()
	for _, ae := range []string{"", "gzip"} {
		b.Run(fmt.Sprintf("accept-encoding=%s", ae), func(b *testing.B) {
			var wire int
			for b.Loop() {
				_, body := rawGet(b, srv.URL, map[string]string{"Accept-Encoding": ae})
				wire = len(body)
			}
			b.ReportMetric(float64(wire), "wire-bytes/refresh")
			b.ReportMetric(float64(len(js)), "json-bytes")
		})
	}
}
