// Package smtptest runs a real SMTP server (emersion/go-smtp) on loopback for
// tests: plain, STARTTLS or implicit TLS with a CA made for the test,
// optional PLAIN/LOGIN authentication, and a channel of received mail. It can
// be stopped and started again on the same port to play an outage.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/restartinator/restartinator/internal/porthold"
)

// Mode is how the server does TLS.
type Mode int

const (
	Plain       Mode = iota // no TLS at all
	StartTLS                // plain connect, STARTTLS offered
	ImplicitTLS             // TLS from the first byte (port 465 style)
)

// Options configure a Server.
type Options struct {
	Mode Mode
	// Users maps user names to passwords. Nil offers no AUTH and takes mail
	// from anyone; otherwise mail needs a login first.
	Users map[string]string
	// Mechanisms offered for AUTH; default PLAIN and LOGIN.
	Mechanisms []string
	// RejectData, when set, is asked for each message; a non-nil error
	// (e.g. an *smtp.SMTPError) refuses it after DATA.
	RejectData func(m *Message) error
}

// Message is one mail the server accepted.
type Message struct {
	From      string
	To        []string
	Header    mail.Header
	Subject   string // decoded
	Body      string // decoded from quoted-printable or base64
	MessageID string
	Raw       []byte
	TLS       bool   // the session was encrypted
	User      string // the login, if any
	Mechanism string // the AUTH mechanism used, if any
}

// Server is a running test SMTP server.
type Server struct {
	// Addr is 127.0.0.1:port; it stays the same across Stop and Start.
	Addr string
	// CAFile is a PEM file with the CA that signed the server's certificate
	// (for tls_config.ca_file). The certificate is for 127.0.0.1 and
	// localhost.
	CAFile string
	// Messages receives each accepted mail.
	Messages chan *Message

	tb      testing.TB
	opts    Options
	tlsConf *tls.Config

	mu       sync.Mutex
	srv      *smtp.Server
	ln       net.Listener
	hold     *porthold.Port // the port while stopped, from the first Stop on
	received []*Message
	logins   []string
}

// NewServer starts a server on 127.0.0.1 and stops it when the test ends.
func NewServer(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.Mechanisms == nil {
		opts.Mechanisms = []string{sasl.Plain, sasl.Login}
	}
	s := &Server{tb: tb, opts: opts, Messages: make(chan *Message, 1000)}
	s.tlsConf, s.CAFile = makeCerts(tb)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("smtptest: listen: %v", err)
	}
	s.Addr = ln.Addr().String()
	s.serve(ln)
	tb.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		_ = s.hold.Close()
	})
	tb.Cleanup(s.Stop)
	return s
}

// Stop closes the listener and every connection: dialling Addr is refused
// until Start.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if ln != nil {
		// Closed here too: Serve may not have taken the listener yet.
		_ = ln.Close()
	}
	if srv != nil {
		_ = srv.Close()
	}
	// The port stays bound, not listening, until the test ends: a port
	// merely closed could be taken by another program on a busy machine,
	// which then answered in the stopped server's place (an EOF where
	// "connection refused" was expected) or kept Start from listening.
	s.mu.Lock()
	if s.hold == nil {
		if p, err := porthold.Hold(s.Addr); err == nil {
			s.hold = p
		}
	}
	s.mu.Unlock()
}

// Start listens on Addr again after Stop.
func (s *Server) Start() {
	s.tb.Helper()
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		s.tb.Fatalf("smtptest: listen again on %s: %v", s.Addr, err)
	}
	s.serve(ln)
}

func (s *Server) serve(ln net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 1 << 20
	// Connections cut by Stop are the point of Stop, not news.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	switch s.opts.Mode {
	case Plain:
		// Loopback only: let AUTH through without TLS to test that path.
		srv.AllowInsecureAuth = true
	case StartTLS:
		srv.TLSConfig = s.tlsConf
	case ImplicitTLS:
		srv.TLSConfig = s.tlsConf
		ln = tls.NewListener(ln, s.tlsConf)
	}
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Received returns every mail accepted so far.
func (s *Server) Received() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.received)
}

// Logins lists the mechanisms of successful logins, in order.
func (s *Server) Logins() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.logins)
}

// Wait returns the next accepted mail, failing the test after timeout.
func (s *Server) Wait(tb testing.TB, timeout time.Duration) *Message {
	tb.Helper()
	select {
	case m := <-s.Messages:
		return m
	case <-time.After(timeout):
		tb.Fatalf("smtptest: no mail arrived at %s within %s", s.Addr, timeout)
		return nil
	}
}

type session struct {
	s          *Server
	conn       *smtp.Conn
	user, mech string
	from       string
	to         []string
}

func (x *session) AuthMechanisms() []string {
	if x.s.opts.Users == nil {
		return nil
	}
	return x.s.opts.Mechanisms
}

func (x *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if want, ok := x.s.opts.Users[user]; !ok || want != pass {
			return smtp.ErrAuthFailed
		}
		x.user, x.mech = user, mech
		x.s.mu.Lock()
		x.s.logins = append(x.s.logins, mech)
		x.s.mu.Unlock()
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return smtp.ErrAuthFailed
			}
			return check(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.opts.Users != nil && x.user == "" {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "smtptest: " + err.Error()}
	}
	m.From, m.To, m.User, m.Mechanism = x.from, slices.Clone(x.to), x.user, x.mech
	_, m.TLS = x.conn.TLSConnectionState()
	if x.s.opts.RejectData != nil {
		if err := x.s.opts.RejectData(m); err != nil {
			return err
		}
	}
	x.s.mu.Lock()
	x.s.received = append(x.s.received, m)
	x.s.mu.Unlock()
	x.s.Messages <- m
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

// loginServer is the LOGIN mechanism, which go-sasl has only as a client.
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(resp) == 0 {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.step = 2
		l.user = string(resp)
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

func parse(raw []byte) (*Message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	m := &Message{Header: msg.Header, Raw: raw, MessageID: strings.Trim(msg.Header.Get("Message-Id"), "<>")}
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, err
	}
	body := msg.Body
	switch strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	m.Body = strings.ReplaceAll(string(b), "\r\n", "\n")
	return m, nil
}

// makeCerts makes a CA and a server certificate for 127.0.0.1 and localhost,
// and writes the CA to a PEM file.
func makeCerts(tb testing.TB) (*tls.Config, string) {
	tb.Helper()
	fail := func(err error) {
		if err != nil {
			tb.Fatalf("smtptest: certificates: %v", err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail(err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	fail(err)
	ca, err := x509.ParseCertificate(caDER)
	fail(err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail(err)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	fail(err)
	caFile := filepath.Join(tb.TempDir(), "ca.pem")
	fail(os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	cert := tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, caFile
}
