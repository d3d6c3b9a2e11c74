package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/internal/state"
	"github.com/restartinator/restartinator/notify/smtptest"
)

const notifyTestPassword = "hunter2-s3cret-XYZ"

func TestNotifyTest(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{Mode: smtptest.StartTLS, Users: map[string]string{"alerts": notifyTestPassword}})
	down := smtptest.NewServer(t, smtptest.Options{Mode: smtptest.Plain})
	down.Stop()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	email := func(addr, password string) string {
		return fmt.Sprintf(`notifications:
  email:
    smtp_host: %s
    smtp_user: alerts
    smtp_password: %s
    tls_config: {ca_file: %s}
    email_from: "Restartinator <no-reply@example.com>"
    email_to: [ops@example.com, oncall@example.com]
    timeout: 10s
`, addr, password, srv.CAFile)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"sent", []string{"notify", "test", "--config.file", write("good.yml", email(srv.Addr, notifyTestPassword))}, 0,
			"email: sent a test email to ops@example.com, oncall@example.com via " + srv.Addr + "\n"},
		{"global flag before the command", []string{"--log.level=warn", "notify", "test", "--config.file", write("good2.yml", email(srv.Addr, notifyTestPassword))}, 0,
			"email: sent a test email to ops@example.com, oncall@example.com via " + srv.Addr + "\n"},
		{"login refused", []string{"notify", "test", "--config.file", write("wrong.yml", email(srv.Addr, "not-the-"+notifyTestPassword))}, 1,
			"email: could not send: " + srv.Addr + " refused the login for user alerts (535 5.7.8 Authentication failed) — check smtp_user and smtp_password\n"},
		{"server down", []string{"notify", "test", "--config.file", write("down.yml", email(down.Addr, notifyTestPassword))}, 1,
			"email: could not send: " + down.Addr + " refused the connection — is the SMTP server running"},
		{"no email section", []string{"notify", "test", "--config.file", write("none.yml", "global:\n  dry_run: true\n")}, 1,
			"none.yml has no notification channels — add notifications.email (smtp_host, email_from, email_to) or notifications.channels\n"},
		{"no such file", []string{"notify", "test", "--config.file", filepath.Join(dir, "missing.yml")}, 1,
			"could not send: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(c.args, &stdout, &stderr)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), c.want) {
				t.Errorf("stdout %q, want it to contain %q", stdout.String(), c.want)
			}
			for name, out := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
				if strings.Contains(out, notifyTestPassword) {
					t.Errorf("the password appears on %s: %s", name, out)
				}
			}
		})
	}
	if n := len(srv.Received()); n != 2 {
		t.Errorf("the server got %d mails, want 2", n)
	}
}

// notify test with push and webhook channels: one line per channel, the
// error in a sentence, --channel picks one, the token never printed.
func TestNotifyTestChannels(t *testing.T) {
	var mu sync.Mutex
	var got []string
	ntfy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Path+" "+r.Header.Get("Title"))
		mu.Unlock()
		io.WriteString(w, `{"id":"x"}`)
	}))
	defer ntfy.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		io.WriteString(w, "bad key")
	}))
	defer hook.Close()
	path := filepath.Join(t.TempDir(), "r.yml")
	host := strings.TrimPrefix(ntfy.URL, "http://")
	yml := fmt.Sprintf(`notifications:
  channels:
    - name: phone
      url: ntfy://alerts:%s@%s/router-watch?disabletls=yes
    - name: ops-hook
      webhook:
        url: %s/hook
        headers: {X-Api-Key: %s}
`, notifyTestPassword, host, hook.URL, notifyTestPassword)
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	hookHost := strings.TrimPrefix(hook.URL, "http://")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"notify", "test", "--config.file", path}, 1,
			"phone: sent a test message to ntfy (" + host + ")\n" +
				"ops-hook: could not send: webhook: 401 from " + hookHost + " (bad key) — check the credentials (http_client_config, headers); this message is dropped\n"},
		{[]string{"notify", "test", "--channel", "phone", "--config.file", path}, 0,
			"phone: sent a test message to ntfy (" + host + ")\n"},
		{[]string{"notify", "test", "--channel", "pager", "--config.file", path}, 1,
			`has no channel "pager"; it has "phone", "ops-hook"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		if code != c.code || !strings.Contains(stdout.String(), c.want) {
			t.Errorf("%v: exit %d, stdout %q, want %d and %q\nstderr: %s", c.args, code, stdout.String(), c.code, c.want, stderr.String())
		}
		if strings.Contains(stdout.String()+stderr.String(), notifyTestPassword) {
			t.Errorf("%v: the token is printed", c.args)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != "/router-watch TEST: Example Device is OFFLINE" {
		t.Errorf("ntfy got %q", got)
	}
}

// A queue saved for a channel the config no longer has is reported, not
// dropped.
func TestOrphanedQueueIsReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	old := `{"version":1,"intents":{},"history":[],"webhook_dedup":{},"notify_queues":{"old-phone":{"version":1,"messages":[{"id":"a","subject":"Router is OFFLINE","body":"b","kinds":["offline"]}],"seq":1},"gone-empty":{"version":1,"messages":null,"seq":3}}}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	st, err := state.Open(path, logger)
	if err != nil {
		t.Fatal(err)
	}
	n := &notifier{logger: logger, store: st}
	if err := n.apply(&config.NotificationsConfig{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "channel=old-phone messages=1") || strings.Contains(logs.String(), "gone-empty") {
		t.Errorf("logs:\n%s", logs.String())
	}
	if q, _ := st.LoadQueue("old-phone"); len(q) == 0 {
		t.Error("the orphaned queue was dropped")
	}
}

// A reload that turns a channel into another kind says that what it had
// queued goes out as it was composed.
func TestReloadChangingAChannelsKindIsReported(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	n := &notifier{logger: logger}
	load := func(yml string) *config.NotificationsConfig {
		c, err := config.Load([]byte(yml), "r.yml")
		if err != nil {
			t.Fatal(err)
		}
		return &c.Notifications
	}
	if err := n.apply(load("notifications:\n  channels:\n    - {name: x, webhook: {url: \"http://127.0.0.1:1/hook\"}}\n")); err != nil {
		t.Fatal(err)
	}
	for i := range 100 { // a full burst closes into a queued message
		n.Notify(event.Event{Kind: event.Offline, Device: fmt.Sprint("D", i)})
	}
	if err := n.apply(load("notifications:\n  channels:\n    - {name: x, url: \"ntfy://127.0.0.1:1/t\"}\n")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "channel=x was=webhook now=ntfy queued=1") {
		t.Errorf("logs:\n%s", logs.String())
	}
}
