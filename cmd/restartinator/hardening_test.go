package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/crypto/bcrypt"

	"github.com/restartinator/restartinator/internal/testlog"
)

const noTokenConfig = `
plugs: [{name: p, host: 127.0.0.1, port: 9999}]
devices:
  - {name: cam, host: 127.0.0.1, port: 80, plug: p}
`

// serveReal runs the service the way `restartinator run` does: through
// exporter-toolkit (which applies --web.config.file) on a real loopback
// listener, with the server limits.
func serveReal(t *testing.T, cfg, webConfig string, maxConns int) (*service, string, *testlog.Buffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "restartinator.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	no := false
	s, err := newService(&serveOptions{configFile: path, maxConnections: maxConns,
		web: &web.FlagConfig{WebConfigFile: &webConfig, WebSystemdSocket: &no}}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.reload(); err != nil {
		t.Fatal(err)
	}
	s.markReady()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serveOn(ctx, []net.Listener{l}, s.handler()) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	})
	return s, "http://" + l.Addr().String(), logs
}

// postAs posts with the given Host header and basic auth ("" for none).
func postAs(t *testing.T, url, host, user, pass string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	req.Host = host
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The web config is followed per request: once basic_auth_users is gone, a
// request that loopback trust does not cover is refused, and a web config
// that cannot be read refuses everything.
func TestWebConfigChangeAppliesToActions(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(t.TempDir(), "web.yml")
	write := func(s string) {
		if err := os.WriteFile(webConfig, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("basic_auth_users:\n  admin: " + string(hash) + "\n")
	_, url, _ := serveReal(t, noTokenConfig, webConfig, 0)
	// A name that is not loopback stands for a remote client (or a rebound
	// name in a browser): loopback trust never covers it.
	const remote = "restartinator.example.net"

	if code, body := postAs(t, url+"/-/reload", remote, "", ""); code != http.StatusUnauthorized {
		t.Fatalf("no credentials under basic auth: %d %s, want 401", code, body)
	}
	if code, body := postAs(t, url+"/-/reload", remote, "admin", "pw"); code != http.StatusOK {
		t.Fatalf("with credentials: %d %s, want 200", code, body)
	}

	write("# basic auth removed\n")
	if code, body := postAs(t, url+"/-/reload", remote, "", ""); code != http.StatusForbidden {
		t.Errorf("after basic_auth_users was removed, an unauthenticated request: %d %s, want 403", code, body)
	}
	if code, body := postAs(t, url+"/-/reload", "localhost", "", ""); code != http.StatusOK {
		t.Errorf("direct loopback request without auth configured: %d %s, want 200", code, body)
	}

	write("basic_auth_users: [not, a, map\n")
	if code, body := postAs(t, url+"/-/reload", "localhost", "admin", "pw"); code < 500 {
		t.Errorf("with an unreadable web config: %d %s, want a 5xx refusal", code, body)
	}
}

// A token file emptied after start-up refuses actions instead of falling
// back to loopback trust.
func TestEmptiedTokenFileFailsClosed(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600)
	_, url, _ := serveReal(t, noTokenConfig+"webhook: {bearer_token_file: "+tokenFile+"}\n", "", 0)
	if code, body := post(t, url+"/-/reload", "s3cret"); code != http.StatusOK {
		t.Fatalf("right token: %d %s", code, body)
	}
	os.WriteFile(tokenFile, nil, 0o600)
	if code, body := postAs(t, url+"/-/reload", "localhost", "", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "is empty") {
		t.Errorf("emptied token file, loopback request: %d %s, want 503 saying the file is empty", code, body)
	}
}

// Past --web.max-connections a new connection waits in the kernel's queue
// until one of the held ones goes.
func TestConnectionLimit(t *testing.T) {
	_, url, _ := serveReal(t, noTokenConfig, "", 3)
	addr := strings.TrimPrefix(url, "http://")
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		held = append(held, c)
	}
	// Make sure the server has accepted all three: each answers a request.
	for _, c := range held {
		io.WriteString(c, "GET /-/healthy HTTP/1.1\r\nHost: localhost\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 512)); err != nil {
			t.Fatalf("held connection not served: %v", err)
		}
	}

	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	io.WriteString(extra, "GET /-/healthy HTTP/1.1\r\nHost: localhost\r\n\r\n")
	extra.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := extra.Read(make([]byte, 512)); err == nil {
		t.Fatalf("a fourth connection was served past a limit of 3 (%d bytes)", n)
	}

	held[0].Close()
	extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	n, err := extra.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "200 OK") {
		t.Fatalf("after a held connection closed, the queued one: %q, %v", buf[:n], err)
	}
}

func TestHTTPServerLimitsSet(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 ||
		srv.MaxHeaderBytes > 1<<20 {
		t.Errorf("server limits missing: %+v", srv)
	}
}

// An http probe URL's password and ?token= are never shown: not on /config,
// the status API, --config.check, the logs (a failing probe against a
// closed port), nor a reload error.
func TestProbeURLSecretsNeverShown(t *testing.T) {
	cfg := `
devices:
  - {name: cam, mode: monitor, check_interval: 1s, retry_interval: 1s, timeout: 1s,
     probe: {type: http, url: "http://admin:url-pw-zz@127.0.0.1:1/status?token=url-token-zz&page=1"}}
`
	s, srv, write, logs := newTestService(t, cfg)
	_, configPage := get(t, srv.URL+"/config")
	var check bytes.Buffer
	s.opts.runCheck(&check, slog.New(slog.DiscardHandler))
	write(strings.Replace(cfg, "http://", "gopher://", 1))
	_, reloadErr := postAs(t, srv.URL+"/-/reload", "localhost", "", "")
	if !strings.Contains(configPage, "url: http://admin:xxxxx@127.0.0.1:1/status?token=xxxxx&page=1") {
		t.Errorf("/config does not show the redacted URL:\n%s", configPage)
	}
	if !strings.Contains(reloadErr, "must start with http") {
		t.Errorf("reload error: %q", reloadErr)
	}
	for where, text := range map[string]string{"/config": configPage, "--config.check": check.String(), "reload error": reloadErr, "logs": logs.String()} {
		for _, secret := range []string{"url-pw-zz", "url-token-zz"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows %q:\n%s", where, secret, text)
			}
		}
	}
}

// A webhook alert for a monitor-mode device — with a plug (here one that
// does not even answer) or without — is answered 200 with the reason, like
// an unknown device, never 503: Alertmanager would retry it for ever.
func TestWebhookMonitorDeviceAnswered200(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "r.yml")
	cfg := fmt.Sprintf(`global: {state_file: %s}
plugs: [{name: p, host: 127.0.0.1, port: %d, protocol: xor, timeout: 1s}]
devices:
  - {name: watch, host: 127.0.0.1, port: 1, plug: p, mode: monitor, check_interval: 1h}
  - {name: bare, host: 127.0.0.1, port: 1, mode: monitor, check_interval: 1h}
webhook:
  routes: [{matchers: ['alertname="DeviceDown"'], action: cycle}]
`, filepath.Join(dir, "state.json"), closedPort(t))
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	_, addr, _ := startBinary(t, "--config.file", cfgPath)
	for _, device := range []string{"watch", "bare"} {
		body := `{"version":"4","status":"firing","receiver":"r","groupKey":"g","alerts":[{"status":"firing","labels":{"alertname":"DeviceDown","device":"` +
			device + `"},"startsAt":"2026-03-01T12:00:00Z","fingerprint":"00000000000000a1"}]}`
		resp, err := http.Post("http://"+addr+"/webhook", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "unknown_device") {
			t.Errorf("%s: %d %s, want 200 with the reason", device, resp.StatusCode, b)
		}
	}
}

// A host_reset watchdog path that is not a character device is refused when
// the config loads (it would only be found out when the host hangs);
// --config.check, which may run on another machine, warns.
func TestWatchdogPathCheckedAtLoad(t *testing.T) {
	dir := t.TempDir()
	notWatchdog := filepath.Join(dir, "watchdog")
	os.WriteFile(notWatchdog, nil, 0o600)
	cfgPath := filepath.Join(dir, "r.yml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("global: {state_file: %s}\nhost_reset: {method: watchdog, watchdog: {device: %s, timeout: 1m}}\n",
		filepath.Join(dir, "state.json"), notWatchdog)), 0o600)

	var out, errOut bytes.Buffer
	if code := run([]string{"--config.file", cfgPath, "--web.listen-address=127.0.0.1:0"}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "is a regular file: not a character device") {
		t.Errorf("run: exit %d, want 1 naming the problem\n%s", code, &errOut)
	}
	out.Reset()
	if code := run([]string{"--config.check", "--config.file", cfgPath}, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "WARNING on this host: host_reset.watchdog.device: watchdog "+notWatchdog+" is a regular file") {
		t.Errorf("--config.check: exit %d\n%s", code, &out)
	}
}

// The state file is damaged mid-cycle (the outlet is off, its intent
// written) and the process dies: the restarted binary restores the intent
// from the backup and switches the outlet back on.
func TestDamagedStateMidCycleOutletBackOn(t *testing.T) {
	r := newCycleRig(t)
	cmd, addr, _ := startBinary(t, "--config.file", r.cfgPath)
	r.startCycle(t, addr)
	if err := os.WriteFile(r.state, []byte("{\"version\":1,\"intents\":{\"p/\":{\x00\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if r.relayOn(t) {
		t.Fatal("outlet on right after the kill: the test proves nothing")
	}
	_, _, logs := startBinary(t, "--config.file", r.cfgPath)
	waitFor(t, "the restarted binary to switch the outlet back on", func() bool { return r.relayOn(t) })
	for _, want := range []string{"state file was damaged; moved it aside", "state restored from the backup", "previous run stopped mid-cycle"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
}
