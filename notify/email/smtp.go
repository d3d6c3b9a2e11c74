package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"syscall"
	"time"

	commoncfg "github.com/prometheus/common/config"
	mail "github.com/wneessen/go-mail"
	mailsmtp "github.com/wneessen/go-mail/smtp"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/notify"
)

// Default ports: implicit TLS, and submission with STARTTLS. Port 25 is used
// only when smtp_host names it.
const (
	portSSL        = 465
	portSubmission = 587
)

// settings is an EmailConfig made ready to send with: the password read,
// the address split, the templates parsed, the TLS config built.
type settings struct {
	cfg      config.EmailConfig
	host     string
	port     int
	password string
	tls      *tls.Config
	tmpl     *templates
	from     string
	to       []string
}

func newSettings(cfg *config.EmailConfig) (*settings, error) {
	if cfg == nil {
		return nil, errors.New("notifications.email is not configured")
	}
	s := &settings{cfg: *cfg}
	host, port, err := splitHostPort(cfg.SMTPHost, bool(cfg.UseSSL))
	if err != nil {
		return nil, err
	}
	s.host, s.port = host, port
	s.password, err = config.ReadSecret(string(cfg.SMTPPassword), cfg.SMTPPasswordFile)
	if err != nil {
		return nil, fmt.Errorf("notifications.email.smtp_password_file: %w — check the path and that restartinator may read it", err)
	}
	s.tls, err = commoncfg.NewTLSConfig(&cfg.TLSConfig)
	if err != nil {
		return nil, fmt.Errorf("notifications.email.tls_config: %w", err)
	}
	if s.tls.ServerName == "" {
		s.tls.ServerName = host
	}
	if s.tls.MinVersion == 0 {
		s.tls.MinVersion = tls.VersionTLS12
	}
	if s.tmpl, err = parseTemplates(cfg); err != nil {
		return nil, err
	}
	from, err := netmail.ParseAddress(cfg.EmailFrom)
	if err != nil {
		return nil, fmt.Errorf("notifications.email.email_from %q is not an address: %w", cfg.EmailFrom, err)
	}
	s.from = from.String()
	if len(cfg.EmailTo) == 0 {
		return nil, errors.New("notifications.email.email_to needs at least one address")
	}
	for _, a := range cfg.EmailTo {
		if _, err := netmail.ParseAddress(a); err != nil {
			return nil, fmt.Errorf("notifications.email.email_to %q is not an address: %w", a, err)
		}
		s.to = append(s.to, a)
	}
	return s, nil
}

// splitHostPort reads smtp_host as host or host:port and applies the default
// port: 465 with use_ssl, else 587.
func splitHostPort(hostport string, useSSL bool) (string, int, error) {
	if hostport == "" {
		return "", 0, errors.New("notifications.email.smtp_host is empty: give a host or host:port")
	}
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		// No port (or a bare IPv6 address).
		host = strings.Trim(hostport, "[]")
		if useSSL {
			return host, portSSL, nil
		}
		return host, portSubmission, nil
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("notifications.email.smtp_host %q: port %q is not a number from 1 to 65535", hostport, portStr)
	}
	return host, port, nil
}

func (s *settings) addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// client builds a go-mail client for one delivery attempt.
func (s *settings) client(timeout time.Duration) (*mail.Client, error) {
	opts := []mail.Option{
		mail.WithPort(s.port),
		mail.WithTimeout(timeout),
		mail.WithTLSConfig(s.tls.Clone()),
	}
	if s.cfg.UseSSL {
		opts = append(opts, mail.WithSSL())
	} else {
		switch s.cfg.StartTLS {
		case config.StartTLSMandatory:
			opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
		case config.StartTLSOff:
			opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
		default:
			opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
		}
	}
	if s.cfg.SMTPUser != "" {
		// PLAIN or LOGIN, whichever the server offers; go-mail refuses to
		// send either over a connection without TLS (except to loopback).
		opts = append(opts,
			mail.WithOpportunisticSMTPAuth(mail.SMTPAuthPlain, mail.SMTPAuthLogin),
			mail.WithUsername(s.cfg.SMTPUser),
			mail.WithPassword(s.password),
		)
	}
	c, err := mail.NewClient(s.host, opts...)
	if err != nil {
		return nil, s.describe(err)
	}
	return c, nil
}

// newMsg builds the mail for a queued message.
func (s *settings) newMsg(m *notify.Message, hostname string) (*mail.Msg, error) {
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := msg.From(s.from); err != nil {
		return nil, fmt.Errorf("notifications.email.email_from: %w", err)
	}
	if err := msg.To(s.to...); err != nil {
		return nil, fmt.Errorf("notifications.email.email_to: %w", err)
	}
	msg.Subject(m.Title)
	msg.SetDateWithValue(m.Created)
	// A fixed Message-ID lets mail clients fold a duplicate, should a server
	// accept a message and then drop the connection before saying so.
	domain := hostname
	if domain == "" {
		domain = "restartinator"
	}
	msg.SetMessageIDWithValue(m.ID + "@" + domain)
	msg.SetUserAgent("restartinator")
	msg.SetBodyString(mail.TypeTextPlain, m.Body)
	return msg, nil
}

// DeliveryError is a failed SMTP delivery told in a sentence: what the server
// did and what to check. It never contains the password.
type DeliveryError struct {
	// Addr is host:port of the SMTP server.
	Addr string
	// What is what went wrong, after the address: "refused the login for
	// user alerts (535 5.7.8 Authentication failed)".
	What string
	// Hint says what to check.
	Hint string
	// Temporary is false when retrying the same message cannot help.
	Temporary bool
	err       error
	// rejected: the server refused this mail for what it is (5xx after
	// DATA), not for the connection or the settings.
	rejected bool
}

func (e *DeliveryError) Error() string {
	s := e.Addr + " " + e.What
	if e.Hint != "" {
		s += " — " + e.Hint
	}
	return s
}

func (e *DeliveryError) Unwrap() error { return e.err }

// describe turns a go-mail or network error into a DeliveryError.
func (s *settings) describe(err error) *DeliveryError {
	if err == nil {
		return nil
	}
	var de *DeliveryError
	if errors.As(err, &de) {
		return de
	}
	d := &DeliveryError{Addr: s.addr(), Temporary: true, err: err}
	var (
		dnsErr   *net.DNSError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		recErr   tls.RecordHeaderError
		sendErr  *mail.SendError
		protoErr *textproto.Error
	)
	msg := err.Error()
	user := s.cfg.SMTPUser
	switch {
	case errors.As(err, &dnsErr):
		d.What = fmt.Sprintf("could not be resolved (%v)", dnsErr)
		d.Hint = "check smtp_host"
	case errors.Is(err, syscall.ECONNREFUSED):
		d.What = "refused the connection"
		d.Hint = "is the SMTP server running, and is the port right? (465 with use_ssl, 587 for STARTTLS, 25 only when smtp_host names it)"
	case errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &invalid), errors.As(err, &verify):
		d.What = fmt.Sprintf("presented a TLS certificate that does not verify (%v)", rootCause(err))
		d.Hint = "set tls_config.ca_file to the CA that signed it, or tls_config.server_name to the name in it"
	case errors.As(err, &recErr):
		d.What = "does not speak TLS on connect"
		d.Hint = "use_ssl is implicit TLS (usually port 465); for STARTTLS on port 587 set use_ssl: false"
	case strings.Contains(msg, "does not support STARTTLS"):
		d.What = "does not offer STARTTLS, and starttls is mandatory"
		d.Hint = "enable STARTTLS on the server, use use_ssl: true with its TLS port, or set starttls: opportunistic"
	case errors.Is(err, mailsmtp.ErrUnencrypted):
		d.What = fmt.Sprintf("offered no TLS, so the password for user %s was not sent", user)
		d.Hint = "enable STARTTLS on the server (starttls must not be off), use use_ssl: true with port 465, or remove smtp_user"
	case strings.Contains(msg, "does not support SMTP AUTH"):
		d.What = fmt.Sprintf("offers no authentication (AUTH), but smtp_user is set to %s", user)
		d.Hint = "remove smtp_user, or use the submission port: many servers offer AUTH only after STARTTLS"
	case errors.Is(err, mail.ErrNoSupportedAuthDiscovered):
		d.What = "offers no login method restartinator can use (PLAIN, LOGIN, SCRAM, NTLM, CRAM-MD5)"
		d.Hint = "ask the mail admin which methods the server offers"
	case strings.Contains(msg, "SMTP AUTH failed"):
		d.What = fmt.Sprintf("refused the login for user %s (%s)", user, smtpReply(err))
		d.Hint = "check smtp_user and smtp_password"
	case errors.As(err, &sendErr):
		d.Temporary = sendErr.IsTemp()
		switch sendErr.Reason {
		case mail.ErrSMTPMailFrom:
			reply := smtpReply(err)
			if user == "" && (sendErr.ErrorCode() == 530 || strings.Contains(strings.ToLower(reply), "authenticat")) {
				d.What = fmt.Sprintf("wants a login before it takes mail (%s)", reply)
				d.Hint = "set smtp_user and smtp_password"
				break
			}
			d.What = fmt.Sprintf("refused the sender %s (%s)", s.from, reply)
			d.Hint = "check email_from: many servers accept only the logged-in user's own address"
		case mail.ErrSMTPRcptTo:
			d.What = fmt.Sprintf("refused the recipient %s (%s)", strings.Join(s.to, ", "), smtpReply(err))
			d.Hint = "check email_to, and that the server relays for this sender (smtp_user)"
		case mail.ErrSMTPData, mail.ErrSMTPDataClose, mail.ErrWriteContent:
			d.What = fmt.Sprintf("refused the message (%s)", smtpReply(err))
			d.rejected = !d.Temporary
			d.Hint = "the server's reply says why; check its size limits and spam rules"
		case mail.ErrConnCheck, mail.ErrSMTPReset, mail.ErrNoUnencoded:
			d.What = fmt.Sprintf("dropped the connection (%s)", smtpReply(err))
			d.Hint = "check the server's logs and rate limits"
		default:
			d.What = fmt.Sprintf("did not take the message (%s)", smtpReply(err))
			d.Hint = "check the settings under notifications.email"
		}
	case isTimeout(err):
		d.What = fmt.Sprintf("did not answer within %s", s.cfg.Timeout)
		d.Hint = "check smtp_host, the port and any firewall; with port 465 set use_ssl: true"
	case errors.As(err, &protoErr):
		d.What = fmt.Sprintf("answered %d %s", protoErr.Code, protoErr.Msg)
		d.Hint = "check the settings under notifications.email"
		d.Temporary = protoErr.Code < 500
	case errors.Is(err, context.Canceled):
		d.What = "was not reached: delivery was cancelled (shutting down)"
		d.Hint = "queued mail is kept for the next start"
	default:
		d.What = fmt.Sprintf("failed: %v", err)
		d.Hint = "check the settings under notifications.email"
	}
	if s.password != "" {
		d.What = strings.ReplaceAll(d.What, s.password, "<secret>")
	}
	return d
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// smtpReply is the server's reply in an error, "535 5.7.8 Authentication
// failed", or the error itself when there is none.
func smtpReply(err error) string {
	var pe *textproto.Error
	if errors.As(err, &pe) {
		return fmt.Sprintf("%d %s", pe.Code, strings.TrimSpace(pe.Msg))
	}
	var se *mail.SendError
	if errors.As(err, &se) {
		// SendError does not unwrap; its text is "reason: reply, affected ...".
		text := strings.TrimPrefix(se.Error(), se.Reason.String()+":")
		if i := strings.Index(text, ", affected "); i >= 0 {
			text = text[:i]
		}
		return strings.TrimSpace(strings.ReplaceAll(text, `"`, ""))
	}
	return rootCause(err).Error()
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}
