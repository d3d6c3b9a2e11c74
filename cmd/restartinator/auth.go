package main

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v2"
)

// actionAuth guards the endpoints that act (webhook, manual cycle, reload).
// A request may act when
//   - the web config (--web.config.file) enforces basic auth or verified client
//     certificates: exporter-toolkit has already authenticated it. The file is
//     read again for every request, as exporter-toolkit does, so removing
//     basic_auth_users takes effect at once; a file that cannot be read
//     refuses every action;
//   - or it carries the configured webhook bearer token;
//   - or nothing is configured and it comes straight from loopback: the peer is
//     a loopback address, the Host header names loopback or the
//     --web.external-url host (a DNS-rebound name in a browser does not), and
//     no Forwarded / X-Forwarded-* / X-Real-IP header says a proxy relayed it;
//   - or the operator said --web.allow-unauthenticated-actions.
type actionAuth struct {
	webConfigFile string                 // --web.config.file, "" when none
	token         func() (string, error) // the webhook bearer token, "" when none
	allowUnauth   bool
	externalHost  string // host name of --web.external-url, lower case, "" when none
}

// webConfigAuthenticates reports whether exporter-toolkit will authenticate
// every request under this web config.
func webConfigAuthenticates(path string) (bool, error) {
	if path == "" {
		return false, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("reading web config: %w", err)
	}
	var c web.Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return false, fmt.Errorf("web config %s: %w", path, err)
	}
	return len(c.Users) > 0 || c.TLSConfig.ClientAuth == "RequireAndVerifyClientCert", nil
}

// externalHost is the lower-case host name of --web.external-url.
func externalHost(external string) (string, error) {
	if external == "" {
		return "", nil
	}
	u, err := url.Parse(external)
	if err != nil {
		return "", fmt.Errorf("--web.external-url %q: %w", external, err)
	}
	return strings.ToLower(u.Hostname()), nil
}

// wrap guards next: cross-site browser requests are refused (CSRF: the
// status page's "Cycle now" is same-origin; curl and Alertmanager send no
// browser headers), then the rule above applies.
func (a *actionAuth) wrap(next http.Handler) http.Handler {
	return http.NewCrossOriginProtection().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, status, why := a.allow(r); !ok {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="restartinator"`)
			}
			http.Error(w, why, status)
			return
		}
		next.ServeHTTP(w, r)
	}))
}

func (a *actionAuth) allow(r *http.Request) (bool, int, string) {
	webAuth, err := webConfigAuthenticates(a.webConfigFile)
	if err != nil {
		return false, http.StatusServiceUnavailable, fmt.Sprintf("refusing actions: %v — fix --web.config.file", err)
	}
	if webAuth {
		return true, 0, ""
	}
	token, err := a.token()
	if err != nil {
		return false, http.StatusServiceUnavailable, fmt.Sprintf("refusing actions: webhook.bearer_token_file: %v — fix the file", err)
	}
	if token != "" {
		got, ok := bearerToken(r.Header.Get("Authorization"))
		if ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1 {
			return true, 0, ""
		}
		return false, http.StatusUnauthorized, "a valid bearer token is required (webhook.bearer_token)"
	}
	if a.allowUnauth {
		return true, 0, ""
	}
	if !isLoopback(r.RemoteAddr) {
		return false, http.StatusForbidden, "actions need authentication: configure basic auth or client certificates in --web.config.file, " +
			"or webhook.bearer_token_file; or pass --web.allow-unauthenticated-actions"
	}
	if h := forwardedHeader(r.Header); h != "" {
		return false, http.StatusForbidden, fmt.Sprintf("this request came through a proxy (%s header): loopback is not trusted for it; "+
			"configure webhook.bearer_token_file or basic auth in --web.config.file, or authenticate in the proxy and pass --web.allow-unauthenticated-actions", h)
	}
	if !a.trustedHost(r.Host) {
		return false, http.StatusForbidden, fmt.Sprintf("Host %q is neither a loopback name nor the --web.external-url host: "+
			"loopback trust is refused (a browser on a DNS-rebound name would send this); use the bearer token or basic auth", r.Host)
	}
	return true, 0, ""
}

// bearerToken takes the credentials of an "Authorization: Bearer x" header;
// the scheme is case-insensitive (RFC 6750 section 2.1, RFC 9110 section 11.1).
func bearerToken(h string) (string, bool) {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimLeft(cred, " "), true
}

// forwardedHeader names a header a reverse proxy adds, if the request has one.
func forwardedHeader(h http.Header) string {
	for name := range h {
		if name == "Forwarded" || name == "X-Real-Ip" || strings.HasPrefix(name, "X-Forwarded-") {
			return name
		}
	}
	return ""
}

// trustedHost reports whether a request's Host names this machine's loopback
// (an address, "localhost" or a *.localhost name, which browsers resolve to
// loopback themselves) or the --web.external-url host.
func (a *actionAuth) trustedHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "" {
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	return a.externalHost != "" && host == a.externalHost
}

// describe says at start-up how actions are protected.
func (a *actionAuth) describe(logger *slog.Logger) {
	webAuth, err := webConfigAuthenticates(a.webConfigFile)
	token, terr := a.token()
	switch {
	case err != nil:
		logger.Error("action endpoints refuse every request until the web config can be read", "err", err)
	case webAuth:
		logger.Info("action endpoints are authenticated by the web config")
	case terr != nil:
		logger.Error("action endpoints refuse every request until webhook.bearer_token_file can be read", "err", terr)
	case token != "":
		logger.Info("action endpoints need the webhook bearer token")
	case a.allowUnauth:
		logger.Warn("action endpoints accept unauthenticated requests from any address (--web.allow-unauthenticated-actions)")
	default:
		logger.Warn("no authentication configured: action endpoints (webhook, manual cycle, reload) answer only direct loopback clients " +
			"(Host a loopback name or the --web.external-url host, no proxy headers)")
	}
}

func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
