// Package email is the email channel: SMTP delivery, its templates and its
// errors, as a notify.Sender on the shared delivery pipeline (see package
// notify for the delivery rules and the template data).
//
// # SMTP
//
// smtp_host is host or host:port. Without a port: 465 with use_ssl
// (implicit TLS), else 587 with STARTTLS as starttls says (opportunistic:
// when the server offers it; mandatory: fail when it does not; off: never).
// Port 25 is used only when smtp_host names it. With smtp_user set the login
// is PLAIN or LOGIN, whichever the server offers (SCRAM, NTLM or CRAM-MD5
// if it offers neither), and never over a connection without TLS except to
// loopback; without smtp_user there is no login. tls_config takes ca_file,
// server_name (default: the host) and insecure_skip_verify, which is off
// unless asked for. timeout bounds each connection.
//
// Failures come back as a *DeliveryError that reads as a sentence naming
// the server, what it did and what to check, for example
//
//	mail.example.com:587 refused the login for user alerts (535 5.7.8 Authentication failed) — check smtp_user and smtp_password
//
// The password never appears in an error or a log line.
//
// The rendered default templates for every kind are in testdata/*.golden.
package email
