package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The real binary gzips the devices API, /config and the status page for a
// client that asks, and a client that does not gets the same bytes plain.
func TestGzipAnswersAsTheClientAsks(t *testing.T) {
	var cfg strings.Builder
	cfg.WriteString("defaults: {check_interval: 1h, retry_interval: 1h}\ndevices:\n")
	for i := range 40 {
		fmt.Fprintf(&cfg, "  - {name: device-%02d, host: 127.0.0.1, port: 1, mode: monitor}\n", i)
	}
	path := filepath.Join(t.TempDir(), "r.yml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, addr, logs := startBinary(t, "--config.file", path)
	waitFor(t, "ready", func() bool { code, _ := rawGet(t, "http://"+addr+"/-/ready"); return code == http.StatusOK })

	for _, p := range []string{"/api/v1/devices", "/config", "/"} {
		// A device's first probe may land between two requests: the plain
		// answers before and after the gzipped one must agree for the
		// comparison to count.
		var plain, gz []byte
		for try := 0; ; try++ {
			_, before := rawGet(t, "http://"+addr+p)
			gz = rawGetGzip(t, "http://"+addr+p)
			_, after := rawGet(t, "http://"+addr+p)
			if before == after {
				plain = []byte(before)
				break
			}
			if try == 5 {
				t.Fatalf("%s changed between every pair of requests", p)
			}
		}
		if !bytes.Equal(gz, plain) {
			t.Errorf("%s: the gunzipped answer differs from the plain one (%d and %d bytes)", p, len(gz), len(plain))
		}
		if !bytes.Contains(plain, []byte("device-39")) {
			t.Errorf("%s does not list device-39:\n%.300s", p, plain)
		}
	}
	terminate(t, cmd, logs)
}

// rawGet: no Accept-Encoding, and a failure if the answer is gzipped anyway.
func rawGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		t.Errorf("%s without Accept-Encoding: Content-Encoding %q", url, ce)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rawGetGzip asks for gzip and returns the gunzipped body, failing unless
// the answer is gzipped and says Vary: Accept-Encoding.
func rawGetGzip(t *testing.T, url string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("%s with Accept-Encoding: gzip: %d, Content-Encoding %q", url, resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	if v := strings.Join(resp.Header.Values("Vary"), ","); !strings.Contains(v, "Accept-Encoding") {
		t.Errorf("%s: Vary %q", url, v)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
