package email

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	mailsmtp "github.com/wneessen/go-mail/smtp"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/notify"
	"github.com/restartinator/restartinator/notify/smtptest"
)

func TestSendTest(t *testing.T) {
	users := map[string]string{"alerts": testPassword}
	login := func(c *config.EmailConfig, _ *smtptest.Server) {
		c.SMTPUser = "alerts"
		c.SMTPPassword = testPassword
	}
	ca := func(c *config.EmailConfig, s *smtptest.Server) { c.TLSConfig.CAFile = s.CAFile }
	both := func(fs ...func(*config.EmailConfig, *smtptest.Server)) func(*config.EmailConfig, *smtptest.Server) {
		return func(c *config.EmailConfig, s *smtptest.Server) {
			for _, f := range fs {
				f(c, s)
			}
		}
	}
	cases := []struct {
		name     string
		server   smtptest.Options
		stopped  bool
		cfg      func(*config.EmailConfig, *smtptest.Server)
		wantTLS  bool
		wantMech string
		wantErr  []string // substrings of the error; nil: success
	}{
		{name: "plain, STARTTLS off", server: smtptest.Options{Mode: smtptest.Plain},
			cfg: func(c *config.EmailConfig, _ *smtptest.Server) { c.StartTLS = config.StartTLSOff }},
		{name: "opportunistic STARTTLS, server offers none", server: smtptest.Options{Mode: smtptest.Plain},
			cfg: func(*config.EmailConfig, *smtptest.Server) {}},
		{name: "opportunistic STARTTLS with the test CA", server: smtptest.Options{Mode: smtptest.StartTLS},
			cfg: ca, wantTLS: true},
		{name: "mandatory STARTTLS", server: smtptest.Options{Mode: smtptest.StartTLS},
			cfg: both(ca, func(c *config.EmailConfig, _ *smtptest.Server) { c.StartTLS = config.StartTLSMandatory }), wantTLS: true},
		{name: "mandatory STARTTLS, server offers none", server: smtptest.Options{Mode: smtptest.Plain},
			cfg:     func(c *config.EmailConfig, _ *smtptest.Server) { c.StartTLS = config.StartTLSMandatory },
			wantErr: []string{"does not offer STARTTLS, and starttls is mandatory"}},
		{name: "STARTTLS, certificate from an unknown CA", server: smtptest.Options{Mode: smtptest.StartTLS},
			cfg:     func(*config.EmailConfig, *smtptest.Server) {},
			wantErr: []string{"presented a TLS certificate that does not verify", "set tls_config.ca_file"}},
		{name: "STARTTLS, server_name not in the certificate", server: smtptest.Options{Mode: smtptest.StartTLS},
			cfg:     both(ca, func(c *config.EmailConfig, _ *smtptest.Server) { c.TLSConfig.ServerName = "mail.example.com" }),
			wantErr: []string{"presented a TLS certificate that does not verify", "mail.example.com"}},
		{name: "implicit TLS", server: smtptest.Options{Mode: smtptest.ImplicitTLS},
			cfg: both(ca, func(c *config.EmailConfig, _ *smtptest.Server) { c.UseSSL = true }), wantTLS: true},
		{name: "implicit TLS, unknown CA", server: smtptest.Options{Mode: smtptest.ImplicitTLS},
			cfg:     func(c *config.EmailConfig, _ *smtptest.Server) { c.UseSSL = true },
			wantErr: []string{"presented a TLS certificate that does not verify"}},
		{name: "implicit TLS, insecure_skip_verify on request", server: smtptest.Options{Mode: smtptest.ImplicitTLS},
			cfg: func(c *config.EmailConfig, _ *smtptest.Server) {
				c.UseSSL = true
				c.TLSConfig.InsecureSkipVerify = true
			}, wantTLS: true},
		{name: "use_ssl against a plain server", server: smtptest.Options{Mode: smtptest.Plain},
			cfg:     func(c *config.EmailConfig, _ *smtptest.Server) { c.UseSSL = true },
			wantErr: []string{"does not speak TLS on connect", "use_ssl: false"}},
		{name: "PLAIN login over STARTTLS", server: smtptest.Options{Mode: smtptest.StartTLS, Users: users},
			cfg: both(ca, login), wantTLS: true, wantMech: "PLAIN"},
		{name: "LOGIN when the server offers only LOGIN", server: smtptest.Options{Mode: smtptest.ImplicitTLS, Users: users, Mechanisms: []string{"LOGIN"}},
			cfg: both(ca, login, func(c *config.EmailConfig, _ *smtptest.Server) { c.UseSSL = true }), wantTLS: true, wantMech: "LOGIN"},
		{name: "login on loopback without TLS", server: smtptest.Options{Mode: smtptest.Plain, Users: users},
			cfg: login, wantMech: "PLAIN"},
		{name: "password from smtp_password_file", server: smtptest.Options{Mode: smtptest.StartTLS, Users: users},
			cfg: both(ca, func(c *config.EmailConfig, _ *smtptest.Server) {
				c.SMTPUser = "alerts"
				c.SMTPPasswordFile = filepath.Join(t.TempDir(), "smtp.pass")
				if err := os.WriteFile(c.SMTPPasswordFile, []byte(testPassword+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}), wantTLS: true, wantMech: "PLAIN"},
		{name: "login refused", server: smtptest.Options{Mode: smtptest.StartTLS, Users: map[string]string{"alerts": "another-password"}},
			cfg:     both(ca, login),
			wantErr: []string{"refused the login for user alerts (535 5.7.8 Authentication failed) — check smtp_user and smtp_password"}},
		{name: "unknown user", server: smtptest.Options{Mode: smtptest.StartTLS, Users: map[string]string{"other": testPassword}},
			cfg:     both(ca, login),
			wantErr: []string{"refused the login for user alerts (535"}},
		{name: "smtp_user set, server offers no AUTH", server: smtptest.Options{Mode: smtptest.StartTLS},
			cfg:     both(ca, login),
			wantErr: []string{"offers no authentication (AUTH), but smtp_user is set to alerts"}},
		{name: "server needs a login, none configured", server: smtptest.Options{Mode: smtptest.StartTLS, Users: users},
			cfg:     ca,
			wantErr: []string{"wants a login before it takes mail", "set smtp_user and smtp_password"}},
		{name: "server down", server: smtptest.Options{Mode: smtptest.Plain}, stopped: true,
			cfg:     func(*config.EmailConfig, *smtptest.Server) {},
			wantErr: []string{"refused the connection — is the SMTP server running"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := smtptest.NewServer(t, c.server)
			if c.stopped {
				srv.Stop()
			}
			cfg := emailConfig(srv.Addr)
			c.cfg(cfg, srv)
			logger, logs := captureLogs()
			m, err := New(cfg, notify.Options{Logger: logger, Hostname: "pi-monitor", ExternalURL: "http://pi-monitor:9788/"})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = m.SendTest(ctx)
			defer assertNoSecret(t, "the logs", logs.String())
			if c.wantErr != nil {
				if err == nil {
					t.Fatalf("sent; want an error with %q", c.wantErr)
				}
				assertNoSecret(t, "the error", err.Error())
				if !strings.HasPrefix(err.Error(), srv.Addr+" ") {
					t.Errorf("error %q does not start with the server's address %s", err, srv.Addr)
				}
				for _, w := range c.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q, want it to contain %q", err, w)
					}
				}
				var de *DeliveryError
				if !errors.As(err, &de) {
					t.Errorf("error %T is not a *DeliveryError", err)
				}
				if got := srv.Received(); len(got) != 0 {
					t.Errorf("the server got %d mails", len(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("SendTest: %v", err)
			}
			got := srv.Received()
			if len(got) != 1 {
				t.Fatalf("the server got %d mails, want 1", len(got))
			}
			msg := got[0]
			if msg.Subject != "[restartinator] TEST: Example Device is OFFLINE" {
				t.Errorf("subject %q", msg.Subject)
			}
			if !strings.Contains(msg.Body, "This is a test email from restartinator on pi-monitor") {
				t.Errorf("body:\n%s", msg.Body)
			}
			if msg.From != "no-reply@example.com" || strings.Join(msg.To, ",") != "ops@example.com,oncall@example.com" {
				t.Errorf("envelope from %q to %q", msg.From, msg.To)
			}
			if msg.TLS != c.wantTLS {
				t.Errorf("TLS = %v, want %v", msg.TLS, c.wantTLS)
			}
			if msg.Mechanism != c.wantMech {
				t.Errorf("login mechanism %q, want %q", msg.Mechanism, c.wantMech)
			}
			if !strings.HasSuffix(msg.MessageID, "@pi-monitor") {
				t.Errorf("Message-ID %q", msg.MessageID)
			}
		})
	}
}

func TestSplitHostPort(t *testing.T) {
	cases := []struct {
		in     string
		ssl    bool
		host   string
		port   int
		errSub string
	}{
		{in: "mail.example.com", host: "mail.example.com", port: 587},
		{in: "mail.example.com", ssl: true, host: "mail.example.com", port: 465},
		{in: "mail.example.com:25", host: "mail.example.com", port: 25},
		{in: "mail.example.com:2525", ssl: true, host: "mail.example.com", port: 2525},
		{in: "[::1]:587", host: "::1", port: 587},
		{in: "::1", ssl: true, host: "::1", port: 465},
		{in: "mail.example.com:smtp", errSub: `port "smtp" is not a number`},
		{in: "mail.example.com:0", errSub: "is not a number from 1 to 65535"},
		{in: "", errSub: "smtp_host is empty"},
	}
	for _, c := range cases {
		host, port, err := splitHostPort(c.in, c.ssl)
		if c.errSub != "" {
			if err == nil || !strings.Contains(err.Error(), c.errSub) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.errSub)
			}
			continue
		}
		if err != nil || host != c.host || port != c.port {
			t.Errorf("%q ssl=%v: %q %d %v, want %q %d", c.in, c.ssl, host, port, err, c.host, c.port)
		}
	}
}

// Errors that loopback cannot produce, described from the errors themselves.
func TestDescribe(t *testing.T) {
	s, err := newSettings(&config.EmailConfig{
		SMTPHost: "mail.example.com", SMTPUser: "alerts", SMTPPassword: testPassword,
		StartTLS: config.StartTLSOpportunistic, EmailFrom: "a@example.com", EmailTo: config.StringList{"b@example.com"},
		Timeout: config.Duration(30 * time.Second), QueueSize: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		err  error
		want string
	}{
		{mailsmtp.ErrUnencrypted, "mail.example.com:587 offered no TLS, so the password for user alerts was not sent — enable STARTTLS"},
		{&net.DNSError{Err: "no such host", Name: "mail.example.com", IsNotFound: true}, "mail.example.com:587 could not be resolved (lookup mail.example.com: no such host) — check smtp_host"},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), "mail.example.com:587 did not answer within 30s — check smtp_host, the port and any firewall"},
		{errors.New("something odd with " + testPassword), "mail.example.com:587 failed: something odd with <secret> — check the settings under notifications.email"},
	}
	for _, c := range cases {
		got := s.describe(c.err).Error()
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("describe(%v) = %q, want prefix %q", c.err, got, c.want)
		}
		assertNoSecret(t, "the error", got)
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*config.EmailConfig)
		want string
	}{
		{"missing password file", func(c *config.EmailConfig) { c.SMTPPasswordFile = "/nonexistent/smtp.pass" },
			"notifications.email.smtp_password_file: open /nonexistent/smtp.pass"},
		{"missing CA file", func(c *config.EmailConfig) { c.TLSConfig.CAFile = "/nonexistent/ca.pem" },
			"notifications.email.tls_config: unable to read CA cert"},
		{"bad from", func(c *config.EmailConfig) { c.EmailFrom = "not an address" },
			`notifications.email.email_from "not an address" is not an address`},
		{"bad to", func(c *config.EmailConfig) { c.EmailTo = config.StringList{"ops@example.com", "oops"} },
			`notifications.email.email_to "oops" is not an address`},
		{"bad template", func(c *config.EmailConfig) { c.SubjectTemplate = "{{ .Nope }}" },
			"notifications.email.subject_template"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := emailConfig("127.0.0.1:1")
			c.mod(cfg)
			_, err := New(cfg, notify.Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want %q", err, c.want)
			}
		})
	}
}

// A mail the server refuses for what it is goes after maxRejections tries;
// the mail queued with it is delivered.
func TestPermanentRejectionDrops(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{Mode: smtptest.Plain, RejectData: func(m *smtptest.Message) error {
		if strings.Contains(m.Subject, "Broken") {
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "content rejected"}
		}
		return nil
	}})
	clk := newFake()
	logger, logs := captureLogs()
	m, err := New(emailConfig(srv.Addr), notify.Options{Clock: clk, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	run(t, m)
	m.Notify(offline("Broken", t0))
	waitUntil(t, m, "the first refusal", func(st notify.Status) bool { return st.Failures == 1 })
	m.Notify(offline("Fine", t0))
	waitUntil(t, m, "Fine is queued", func(st notify.Status) bool { return len(st.Pending) == 0 && len(st.Queue) == 2 })
	clk.Advance(notify.Backoff(1))
	if got := srv.Wait(t, 10*time.Second); got.Subject != "[restartinator] Fine is OFFLINE" {
		t.Fatalf("got %q", got.Subject)
	}
	waitUntil(t, m, "the second refusal", func(st notify.Status) bool { return st.Failures == 2 })
	clk.Advance(notify.Backoff(2))
	waitUntil(t, m, "Broken is dropped", func(st notify.Status) bool { return len(st.Queue) == 0 })
	dropped := m.Status().Dropped["offline"]
	if n := dropped; n != 1 {
		t.Errorf("dropped = %v, want 1", n)
	}
	if !strings.Contains(logs.String(), "refused the message (554 5.6.0 content rejected)") {
		t.Errorf("logs do not say why:\n%s", logs)
	}
}
