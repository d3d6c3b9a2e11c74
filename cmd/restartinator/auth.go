package main

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v2"
)

// actionAuth guards the endpoints that act (webhook, manual cycle, reload).
// A request may act when
//   - the web config (--web.config.file) enforces basic auth or verified client
//     certificates: exporter-toolkit has already authenticated it;
//   - or it carries the configured webhook bearer token;
//   - or nothing is configured and it comes from loopback, or the operator
//     said --web.allow-unauthenticated-actions.
type actionAuth struct {
	webAuth     bool          // the web config authenticates every request
	token       func() string // the webhook bearer token, "" when none
	allowUnauth bool
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
	if err := yaml.Unmarshal(data, &c); err != nil {
		return false, fmt.Errorf("web config %s: %w", path, err)
	}
	return len(c.Users) > 0 || c.TLSConfig.ClientAuth == "RequireAndVerifyClientCert", nil
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
	if a.webAuth {
		return true, 0, ""
	}
	if token := a.token(); token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1 {
			return true, 0, ""
		}
		return false, http.StatusUnauthorized, "a valid bearer token is required (webhook.bearer_token)"
	}
	if a.allowUnauth || isLoopback(r.RemoteAddr) {
		return true, 0, ""
	}
	return false, http.StatusForbidden, "actions need authentication: configure basic auth or client certificates in --web.config.file, " +
		"or webhook.bearer_token_file; or pass --web.allow-unauthenticated-actions"
}

// describe says at start-up how actions are protected.
func (a *actionAuth) describe(logger *slog.Logger) {
	switch {
	case a.webAuth:
		logger.Info("action endpoints are authenticated by the web config")
	case a.token() != "":
		logger.Info("action endpoints need the webhook bearer token")
	case a.allowUnauth:
		logger.Warn("action endpoints accept unauthenticated requests from any address (--web.allow-unauthenticated-actions)")
	default:
		logger.Warn("no authentication configured: action endpoints (webhook, manual cycle, reload) answer only loopback clients")
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
