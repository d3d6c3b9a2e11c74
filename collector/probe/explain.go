package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// describe turns the error of a network probe into Result.Err: what failed
// (what), the cause, and what to check. parent is the caller's context, to
// tell a shutdown from a device that does not answer; onTimeout is the
// question to ask when it did not answer in time.
func describe(parent context.Context, what string, err error, elapsed, timeout time.Duration, onTimeout string) error {
	if errors.Is(parent.Err(), context.Canceled) {
		return fmt.Errorf("%s: probe cancelled: %w", what, context.Canceled)
	}
	if isTimeout(err) {
		return fmt.Errorf("%s: %w within %s — %s", what, ErrTimeout, waited(elapsed, timeout), onTimeout)
	}
	cause := trim(err)
	if hint := hintFor(cause); hint != "" {
		return fmt.Errorf("%s: %w — %s", what, cause, hint)
	}
	return fmt.Errorf("%s: %w", what, cause)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// trim drops the wrappers whose text repeats what describe already says
// (the URL, the dialled address), keeping the cause.
func trim(err error) error {
	for {
		var (
			ue *url.Error
			oe *net.OpError
		)
		switch {
		case errors.As(err, &ue) && ue == err:
			err = ue.Err
		case errors.As(err, &oe) && oe == err && oe.Err != nil:
			err = oe.Err
		default:
			return err
		}
	}
}

// hintFor says what to check for the causes an operator can act on.
func hintFor(err error) string {
	var (
		dnsErr   *net.DNSError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing listens on that port: is the service running on the device?"
	case errors.Is(err, syscall.ECONNRESET):
		return "the device dropped the connection: is the service restarting or overloaded?"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to the device: is it powered and on the network?"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "the name does not resolve: check the device's host in the config and DNS"
		}
		return "the name lookup failed: is the DNS server reachable?"
	case errors.As(err, &hostname):
		return "the certificate is for another name: probe the name it was issued for, or set http_client_config.tls_config.server_name"
	case errors.As(err, &unknown):
		return "the certificate is signed by an unknown authority: set http_client_config.tls_config.ca_file, or insecure_skip_verify: true for a self-signed device"
	case errors.As(err, &invalid), errors.As(err, &verify):
		return "the device's certificate was not accepted: check it (expiry, usage) or set http_client_config.tls_config"
	case errors.As(err, &record),
		// net/http's text when the record looks like HTTP; it wraps nothing.
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "the port does not speak TLS: use http:// in probe.url"
	}
	return ""
}
