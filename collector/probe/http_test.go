package probe

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/restartinator/restartinator/config"
)

// device is an http-probed device with the given probe settings.
func httpDevice(p config.ProbeConfig) *config.DeviceConfig {
	p.Type = config.ProbeHTTP
	return &config.DeviceConfig{
		Name:     "web",
		Probe:    &p,
		Settings: config.DeviceSettings{Timeout: config.Duration(10 * time.Second)},
	}
}

func mustNew(t *testing.T, d *config.DeviceConfig) Prober {
	t.Helper()
	p, err := New(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func noRedirects() *commoncfg.HTTPClientConfig {
	c := commoncfg.DefaultHTTPClientConfig
	c.FollowRedirects = false
	return &c
}

func TestHTTPStatusCodes(t *testing.T) {
	var lastMethod atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		lastMethod.Store(r.Method)
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "db down", http.StatusInternalServerError) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusMovedPermanently) })
	mux.HandleFunc("/teapot", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	mux.HandleFunc("/locked", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, tc := range []struct {
		name   string
		probe  config.ProbeConfig
		ok     bool
		errHas string
	}{
		{name: "200 is up", probe: config.ProbeConfig{URL: srv.URL + "/ok"}, ok: true},
		{name: "500 is down", probe: config.ProbeConfig{URL: srv.URL + "/fail"},
			errHas: "GET " + srv.URL + "/fail: status 500 Internal Server Error, want 2xx — the web server answers but the application behind it fails"},
		{name: "404 is down", probe: config.ProbeConfig{URL: srv.URL + "/nowhere"}, errHas: "status 404 Not Found, want 2xx — check probe.url"},
		{name: "401 asks for credentials", probe: config.ProbeConfig{URL: srv.URL + "/locked"}, errHas: "check the credentials in http_client_config"},
		{name: "301 is followed by default", probe: config.ProbeConfig{URL: srv.URL + "/moved"}, ok: true},
		{name: "301 not followed is judged by its code", probe: config.ProbeConfig{URL: srv.URL + "/moved", HTTPClientConfig: noRedirects()},
			errHas: "status 301 Moved Permanently, want 2xx — a redirect to /ok: add 301 to valid_status_codes"},
		{name: "301 not followed, listed as valid", probe: config.ProbeConfig{URL: srv.URL + "/moved", HTTPClientConfig: noRedirects(), ValidStatusCodes: []int{301}}, ok: true},
		{name: "custom valid code 418", probe: config.ProbeConfig{URL: srv.URL + "/teapot", ValidStatusCodes: []int{418}}, ok: true},
		{name: "custom valid codes exclude 200", probe: config.ProbeConfig{URL: srv.URL + "/ok", ValidStatusCodes: []int{201, 204}},
			errHas: "status 200 OK, want one of 201, 204"},
		{name: "method HEAD", probe: config.ProbeConfig{URL: srv.URL + "/ok", Method: "head"}, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := mustNew(t, httpDevice(tc.probe)).Probe(context.Background())
			if tc.ok {
				wantSuccess(t, res)
				return
			}
			wantFailure(t, res, tc.errHas)
		})
	}
	if got := lastMethod.Load(); got != http.MethodHead {
		t.Errorf("last method seen %v, want HEAD", got)
	}
}

func TestHTTPDefaultURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	host, port := splitHostPort(t, srv.Listener.Addr().String())
	d := httpDevice(config.ProbeConfig{})
	d.Host, d.Port = host, port
	p := mustNew(t, d)
	if want := srv.URL + "/"; p.Target() != want {
		t.Errorf("target %q, want %q", p.Target(), want)
	}
	wantSuccess(t, p.Probe(context.Background()))
}

func TestHTTPBodyRegexp(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"status":"healthy"}`) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		// The needle sits after MaxBodyBytes and must not be found.
		w.Write([]byte(strings.Repeat("x", MaxBodyBytes+1024)))
		w.Write([]byte(`"status":"healthy"`))
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		// A camera's endless stream: the match comes first, then nothing
		// more until the client goes away.
		fmt.Fprint(w, `{"status":"healthy"}`)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	mux.HandleFunc("/cut", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status":`)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, tc := range []struct {
		name, path, re string
		timeout        time.Duration
		ok             bool
		errHas         string
	}{
		{name: "match", path: "/health", re: `"status":\s*"healthy"`, ok: true},
		{name: "mismatch", path: "/health", re: `degraded`,
			errHas: "the body (20 bytes read) does not match body_regexp \"degraded\" — is the device serving an error page?"},
		{name: "only the first MiB is read", path: "/big", re: `healthy`, timeout: 30 * time.Second, errHas: "(1048576 bytes read) does not match"},
		{name: "a stream is read only up to the match", path: "/stream", re: `healthy`, ok: true},
		{name: "a body cut off by the timeout is a timeout", path: "/cut", re: `healthy`, timeout: 300 * time.Millisecond, errHas: "no answer within"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := httpDevice(config.ProbeConfig{URL: srv.URL + tc.path, BodyRegexp: tc.re, BodyRE: regexp.MustCompile(tc.re)})
			if tc.timeout != 0 {
				d.Settings.Timeout = config.Duration(tc.timeout)
			}
			res := mustNew(t, d).Probe(context.Background())
			if tc.ok {
				// The stream never ends: success means the probe stopped at the match.
				wantSuccess(t, res)
				return
			}
			wantFailure(t, res, tc.errHas)
		})
	}
}

func TestHTTPTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // hung: accepts, reads the request, never answers
	}))
	defer srv.Close()
	const timeout = 200 * time.Millisecond
	d := httpDevice(config.ProbeConfig{URL: srv.URL})
	d.Settings.Timeout = config.Duration(timeout)
	res := mustNew(t, d).Probe(context.Background())
	wantFailure(t, res, "GET "+srv.URL+": no answer within 200ms — is the device or its web server hung")
	if !errors.Is(res.Err, ErrTimeout) {
		t.Errorf("errors.Is(%v, ErrTimeout) = false", res.Err)
	}
	wantDuration(t, res.Duration, timeout)
}

func TestHTTPRefused(t *testing.T) {
	addr := closedPort(t)
	res := mustNew(t, httpDevice(config.ProbeConfig{URL: "http://" + addr + "/"})).Probe(context.Background())
	wantFailure(t, res, "GET http://"+addr+"/: connect: connection refused — nothing listens on that port")
}

func TestHTTPS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemCert, 0o600); err != nil {
		t.Fatal(err)
	}
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()

	withTLS := func(tc commoncfg.TLSConfig) *commoncfg.HTTPClientConfig {
		c := commoncfg.DefaultHTTPClientConfig
		c.TLSConfig = tc
		return &c
	}
	for _, tc := range []struct {
		name   string
		url    string
		client *commoncfg.HTTPClientConfig
		ok     bool
		errHas string
	}{
		{name: "unknown CA fails and says how to fix it", url: srv.URL,
			errHas: "certificate is signed by an unknown authority: set http_client_config.tls_config.ca_file, or insecure_skip_verify: true"},
		{name: "insecure_skip_verify", url: srv.URL, client: withTLS(commoncfg.TLSConfig{InsecureSkipVerify: true}), ok: true},
		{name: "ca_file", url: srv.URL, client: withTLS(commoncfg.TLSConfig{CAFile: caFile}), ok: true},
		{name: "ca_file with the wrong server_name", url: srv.URL, client: withTLS(commoncfg.TLSConfig{CAFile: caFile, ServerName: "camera.invalid"}),
			errHas: "certificate is for another name"},
		{name: "https to a plain port", url: strings.Replace(plain.URL, "http://", "https://", 1),
			errHas: "the port does not speak TLS: use http:// in probe.url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := mustNew(t, httpDevice(config.ProbeConfig{URL: tc.url, HTTPClientConfig: tc.client})).Probe(context.Background())
			if tc.ok {
				wantSuccess(t, res)
				return
			}
			wantFailure(t, res, tc.errHas)
		})
	}
}

func TestHTTPBadClientConfig(t *testing.T) {
	c := commoncfg.DefaultHTTPClientConfig
	c.TLSConfig.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	_, err := New(httpDevice(config.ProbeConfig{URL: "https://camera1/", HTTPClientConfig: &c}), Options{})
	if err == nil {
		t.Fatal("New accepted a ca_file that does not exist")
	}
	for _, s := range []string{`device "web": http probe of https://camera1/: building the client from http_client_config`, "missing.pem", "check the TLS and credential files"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func TestHTTPBasicAuth(t *testing.T) {
	const secret = "s3cret-pa55"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != secret {
			w.Header().Set("WWW-Authenticate", `Basic realm="camera"`)
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	auth := func(user, pass string) *commoncfg.HTTPClientConfig {
		c := commoncfg.DefaultHTTPClientConfig
		c.BasicAuth = &commoncfg.BasicAuth{Username: user, Password: commoncfg.Secret(pass)}
		return &c
	}
	passFile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile := commoncfg.DefaultHTTPClientConfig
	fromFile.BasicAuth = &commoncfg.BasicAuth{Username: "admin", PasswordFile: passFile}

	for _, tc := range []struct {
		name   string
		client *commoncfg.HTTPClientConfig
		ok     bool
	}{
		{"right credentials", auth("admin", secret), true},
		{"password_file", &fromFile, true},
		{"wrong password", auth("admin", "guess"), false},
		{"no credentials", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := mustNew(t, httpDevice(config.ProbeConfig{URL: srv.URL, HTTPClientConfig: tc.client})).Probe(context.Background())
			if tc.ok {
				wantSuccess(t, res)
				return
			}
			wantFailure(t, res, "status 401 Unauthorized", "check the credentials in http_client_config")
			if strings.Contains(res.Err.Error(), secret) {
				t.Errorf("the error shows the password: %v", res.Err)
			}
		})
	}
}

func TestHTTPURLPasswordRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, p, _ := r.BasicAuth(); p != "hunter2" {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://admin:hunter2@", 1)
	p := mustNew(t, httpDevice(config.ProbeConfig{URL: u}))
	wantSuccess(t, p.Probe(context.Background())) // the URL's credentials are sent
	if strings.Contains(p.Target(), "hunter2") {
		t.Errorf("Target shows the password: %s", p.Target())
	}
	res := mustNew(t, httpDevice(config.ProbeConfig{URL: u + "/x", ValidStatusCodes: []int{204}})).Probe(context.Background())
	wantFailure(t, res, "admin:xxxxx@")
	if strings.Contains(res.Err.Error(), "hunter2") {
		t.Errorf("the error shows the password: %v", res.Err)
	}
}
