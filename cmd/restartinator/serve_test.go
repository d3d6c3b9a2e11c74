package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/restartinator/restartinator/internal/testtool"
)

const goodConfig = `
plugs: [{name: p, host: 127.0.0.1, port: 9999, password: plug-secret-zz}]
devices:
  - {name: cam, host: 127.0.0.1, port: 80, plug: p}
notifications:
  email: {smtp_host: 127.0.0.1, smtp_password: smtp-secret-zz, email_from: a@example.com, email_to: b@example.com}
webhook:
  bearer_token: hook-secret-zz
`

// newTestService starts the HTTP surface on a real loopback socket with the
// config written to a temp file; the returned func rewrites that file.
func newTestService(t *testing.T, cfg string) (*service, *httptest.Server, func(string), *bytes.Buffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "restartinator.yml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	empty := ""
	s, err := newService(&serveOptions{configFile: path, web: &web.FlagConfig{WebConfigFile: &empty}}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.reload(); err != nil {
		t.Fatal(err)
	}
	s.markReady()
	srv := httptest.NewServer(s.handler())
	t.Cleanup(srv.Close)
	return s, srv, write, &logs
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestReloadKeepsOldConfigOnError(t *testing.T) {
	s, srv, write, _ := newTestService(t, goodConfig)

	write(strings.Replace(goodConfig, "port: 80,", "port: 80, retriez: 2,", 1))
	code, body := post(t, srv.URL+"/-/reload", "hook-secret-zz")
	if code != http.StatusInternalServerError || !strings.Contains(body, `unknown key "retriez"`) {
		t.Fatalf("bad reload: %d %q, want 500 naming the key", code, body)
	}
	if c := s.cfg.get(); c.Device("cam") == nil {
		t.Fatal("running config lost after a bad reload")
	}
	_, metrics := get(t, srv.URL+"/metrics")
	if !strings.Contains(metrics, "restartinator_config_last_reload_successful 0") {
		t.Error("reload gauge did not go to 0 after a bad config")
	}

	write(strings.Replace(goodConfig, "name: cam", "name: camera", 1))
	code, body = post(t, srv.URL+"/-/reload", "hook-secret-zz")
	if code != http.StatusOK {
		t.Fatalf("good reload: %d %q", code, body)
	}
	if c := s.cfg.get(); c.Device("camera") == nil || c.Device("cam") != nil {
		t.Fatal("good reload not applied")
	}
	_, metrics = get(t, srv.URL+"/metrics")
	if !strings.Contains(metrics, "restartinator_config_last_reload_successful 1") {
		t.Error("reload gauge did not return to 1")
	}
}

func TestConfigPageRedactsSecrets(t *testing.T) {
	_, srv, write, logs := newTestService(t, goodConfig)
	code, body := get(t, srv.URL+"/config")
	if code != 200 || !strings.Contains(body, "name: cam") {
		t.Fatalf("/config: %d %q", code, body)
	}
	// A failing reload must not leak them either.
	write(goodConfig + "\nbogus: [")
	_, reloadBody := post(t, srv.URL+"/-/reload", "hook-secret-zz")
	for _, secret := range []string{"plug-secret-zz", "smtp-secret-zz", "hook-secret-zz"} {
		for where, text := range map[string]string{"/config": body, "logs": logs.String(), "reload error": reloadBody} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows secret %q", where, secret)
			}
		}
	}
}

func TestActionAuth(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	dir := t.TempDir()
	basicAuth := filepath.Join(dir, "basic.yml")
	os.WriteFile(basicAuth, []byte("basic_auth_users:\n  admin: $2y$10$abcdefghijklmnopqrstuv\n"), 0o600)
	cases := []struct {
		name        string
		auth        actionAuth
		remote      string
		host        string
		headers     map[string]string
		wantAllowed bool
		wantCode    int
	}{
		{"no auth, loopback", actionAuth{}, "127.0.0.1:5000", "127.0.0.1:9788", nil, true, 0},
		{"no auth, ipv6 loopback", actionAuth{}, "[::1]:5000", "[::1]:9788", nil, true, 0},
		{"no auth, localhost name", actionAuth{}, "127.0.0.1:5000", "localhost:9788", nil, true, 0},
		{"no auth, *.localhost name", actionAuth{}, "127.0.0.1:5000", "restartinator.localhost", nil, true, 0},
		{"no auth, external-url host", actionAuth{externalHost: "mon.example.net"}, "127.0.0.1:5000", "MON.example.net:9788", nil, true, 0},
		{"no auth, remote", actionAuth{}, "192.0.2.7:5000", "192.0.2.1:9788", nil, false, http.StatusForbidden},
		{"no auth, remote, allowed by flag", actionAuth{allowUnauth: true}, "192.0.2.7:5000", "192.0.2.1:9788", nil, true, 0},
		// DNS rebinding: the user's browser posts to loopback under the attacker's name.
		{"no auth, loopback, rebound name", actionAuth{}, "127.0.0.1:5000", "evil.example.com:9788", nil, false, http.StatusForbidden},
		{"no auth, loopback, name not the external one", actionAuth{externalHost: "mon.example.net"}, "127.0.0.1:5000", "evil.example.com", nil, false, http.StatusForbidden},
		{"no auth, loopback, no Host", actionAuth{}, "127.0.0.1:5000", "", nil, false, http.StatusForbidden},
		// A reverse proxy on the same host: every request comes from loopback.
		{"no auth, via proxy, X-Forwarded-For", actionAuth{}, "127.0.0.1:5000", "127.0.0.1:9788", map[string]string{"X-Forwarded-For": "198.51.100.9"}, false, http.StatusForbidden},
		{"no auth, via proxy, X-Forwarded-Host", actionAuth{}, "127.0.0.1:5000", "localhost", map[string]string{"X-Forwarded-Host": "mon.example.net"}, false, http.StatusForbidden},
		{"no auth, via proxy, Forwarded", actionAuth{}, "127.0.0.1:5000", "localhost", map[string]string{"Forwarded": "for=198.51.100.9"}, false, http.StatusForbidden},
		{"no auth, via proxy, X-Real-IP", actionAuth{}, "127.0.0.1:5000", "localhost", map[string]string{"X-Real-IP": "198.51.100.9"}, false, http.StatusForbidden},
		{"token, via proxy", actionAuth{token: constToken("s3cret")}, "127.0.0.1:5000", "localhost", map[string]string{"X-Forwarded-For": "198.51.100.9", "Authorization": "Bearer s3cret"}, true, 0},
		{"token, right", actionAuth{token: constToken("s3cret")}, "192.0.2.7:5000", "h", map[string]string{"Authorization": "Bearer s3cret"}, true, 0},
		{"token, scheme in lower case", actionAuth{token: constToken("s3cret")}, "192.0.2.7:5000", "h", map[string]string{"Authorization": "bearer s3cret"}, true, 0},
		{"token, scheme in upper case", actionAuth{token: constToken("s3cret")}, "192.0.2.7:5000", "h", map[string]string{"Authorization": "BEARER s3cret"}, true, 0},
		{"token, other scheme", actionAuth{token: constToken("s3cret")}, "192.0.2.7:5000", "h", map[string]string{"Authorization": "Basic s3cret"}, false, http.StatusUnauthorized},
		{"token, wrong", actionAuth{token: constToken("s3cret")}, "192.0.2.7:5000", "h", map[string]string{"Authorization": "Bearer s3cres"}, false, http.StatusUnauthorized},
		{"token, missing even on loopback", actionAuth{token: constToken("s3cret")}, "127.0.0.1:5000", "localhost", nil, false, http.StatusUnauthorized},
		{"token file unusable, loopback", actionAuth{token: func() (string, error) { return "", os.ErrNotExist }}, "127.0.0.1:5000", "localhost", nil, false, http.StatusServiceUnavailable},
		{"web config authenticates", actionAuth{webConfigFile: basicAuth, token: constToken("")}, "192.0.2.7:5000", "h", nil, true, 0},
		{"web config unreadable, loopback", actionAuth{webConfigFile: filepath.Join(dir, "gone.yml")}, "127.0.0.1:5000", "localhost", nil, false, http.StatusServiceUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.auth.token == nil {
				tc.auth.token = constToken("")
			}
			req := httptest.NewRequest(http.MethodPost, "/webhook", nil)
			req.RemoteAddr = tc.remote
			req.Host = tc.host
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			tc.auth.wrap(ok).ServeHTTP(rec, req)
			if tc.wantAllowed && rec.Code != http.StatusTeapot {
				t.Errorf("refused with %d: %s", rec.Code, rec.Body)
			}
			if !tc.wantAllowed && rec.Code != tc.wantCode {
				t.Errorf("code %d, want %d: %s", rec.Code, tc.wantCode, rec.Body)
			}
		})
	}
}

func constToken(s string) func() (string, error) { return func() (string, error) { return s, nil } }

func TestWebConfigAuthenticates(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		content string
		want    bool
	}{
		"basic auth": {"basic_auth_users:\n  admin: $2y$10$abcdefghijklmnopqrstuv\n", true},
		"mtls":       {"tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n", true},
		"tls only":   {"tls_server_config:\n  cert_file: x\n", false},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		os.WriteFile(p, []byte(tc.content), 0o600)
		got, err := webConfigAuthenticates(p)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %v, %v; want %v", name, got, err, tc.want)
		}
	}
}

func TestMetricsPassPromtool(t *testing.T) {
	_, srv, _, _ := newTestService(t, goodConfig)
	_, body := get(t, srv.URL+"/metrics")
	for _, want := range []string{"restartinator_build_info", "go_goroutines", "restartinator_config_last_reload_success_timestamp_seconds"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	promtoolCheckMetrics(t, body)
}

// promtoolCheckMetrics runs promtool check metrics (Debian's prometheus
// package); missing promtool skips, except in CI.
func promtoolCheckMetrics(t *testing.T, exposition string) {
	t.Helper()
	path := testtool.Need(t, "prometheus", "promtool")
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestHealthReadyAndRoutePrefix(t *testing.T) {
	for _, tc := range []struct{ prefix, external, want string }{
		{"", "", ""}, {"/r", "", "/r"}, {"r/", "", "/r"}, {"", "https://example.com/restart/", "/restart"},
	} {
		got, err := routePrefix(tc.prefix, tc.external)
		if err != nil || got != tc.want {
			t.Errorf("routePrefix(%q, %q) = %q, %v; want %q", tc.prefix, tc.external, got, err, tc.want)
		}
	}
	_, srv, _, _ := newTestService(t, goodConfig)
	for _, p := range []string{"/-/healthy", "/-/ready", "/"} {
		if code, body := get(t, srv.URL+p); code != 200 {
			t.Errorf("GET %s: %d %s", p, code, body)
		}
	}
}

func TestCrossSiteActionRefused(t *testing.T) {
	_, srv, _, _ := newTestService(t, goodConfig)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/-/reload", nil)
	req.Header.Set("Authorization", "Bearer hook-secret-zz")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST from a browser: %d, want 403", resp.StatusCode)
	}
}
