package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/restartinator/restartinator/config"
)

// MaxBodyBytes bounds how much of a response body is searched for
// body_regexp; a device streaming video must not keep a probe reading.
const MaxBodyBytes = 1 << 20

// HTTP checks a device's web server: the status code must be one of the
// valid codes (2xx unless configured), and the body must match BodyRegexp
// when one is set. TLS, authentication, proxies and redirects follow the
// device's http_client_config, as in Prometheus: redirects are followed
// unless follow_redirects is false, in which case a 3xx is judged by its own
// code.
type HTTP struct {
	client  *http.Client
	method  string
	url     string // as requested
	shown   string // as printed: the password redacted
	what    string // method and shown URL, for messages
	valid   []int  // nil means 2xx
	bodyRE  *regexp.Regexp
	timeout time.Duration
}

// HTTPSpec is what NewHTTP needs; New fills it from a device's config.
type HTTPSpec struct {
	URL              string
	Method           string // default GET
	ValidStatusCodes []int  // default 2xx
	BodyRegexp       *regexp.Regexp
	// HTTPClientConfig is nil for commoncfg.DefaultHTTPClientConfig. It is
	// used as given: a config not decoded from YAML must start from
	// DefaultHTTPClientConfig to follow redirects.
	HTTPClientConfig *commoncfg.HTTPClientConfig
	Timeout          time.Duration
	UserAgent        string // default "restartinator"
}

// NewHTTP builds the prober and its client, once: the client is reused by
// every probe of the device.
func NewHTTP(s HTTPSpec) (*HTTP, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("http probe url %q: %w", config.RedactURL(s.URL), redactURLError(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("http probe url %q must start with http:// or https://", config.RedactURL(s.URL))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("http probe url %q has no host", config.RedactURL(s.URL))
	}
	cfg := commoncfg.DefaultHTTPClientConfig
	if s.HTTPClientConfig != nil {
		cfg = *s.HTTPClientConfig
	}
	ua := s.UserAgent
	if ua == "" {
		ua = "restartinator"
	}
	// Keep-alives off: every probe opens a fresh connection, as a user's
	// browser would after a while, so a device that stopped accepting is
	// not reported up over a connection it accepted long ago, and thousands
	// of devices do not hold thousands of idle sockets.
	client, err := commoncfg.NewClientFromConfig(cfg, "probe", commoncfg.WithKeepAlivesDisabled(), commoncfg.WithUserAgent(ua))
	if err != nil {
		return nil, fmt.Errorf("http probe of %s: building the client from http_client_config: %w — check the TLS and credential files it names", config.RedactURL(s.URL), redactURLError(err))
	}
	shown := config.RedactURL(u.String())
	method := strings.ToUpper(s.Method)
	if method == "" {
		method = http.MethodGet
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = config.DefaultDeviceSettings.Timeout.D()
	}
	return &HTTP{
		client:  client,
		method:  method,
		url:     u.String(),
		shown:   shown,
		what:    method + " " + shown,
		valid:   slices.Clone(s.ValidStatusCodes),
		bodyRE:  s.BodyRegexp,
		timeout: timeout,
	}, nil
}

func init() {
	register(config.ProbeHTTP, func(d *config.DeviceConfig, p *config.ProbeConfig, timeout time.Duration, opts Options) (Prober, error) {
		return newHTTPFromConfig(d, p, timeout, opts)
	})
}

func newHTTPFromConfig(d *config.DeviceConfig, p *config.ProbeConfig, timeout time.Duration, opts Options) (*HTTP, error) {
	u := p.URL
	if u == "" {
		if d.Host == "" {
			return nil, fmt.Errorf("an http probe needs probe.url or the device's host")
		}
		hp := d.Host
		if d.Port != 0 {
			hp = hostPort(d.Host, d.Port)
		} else if strings.Contains(d.Host, ":") {
			hp = "[" + d.Host + "]"
		}
		u = "http://" + hp + "/"
	}
	re := p.BodyRE
	if re == nil && p.BodyRegexp != "" {
		var err error
		if re, err = regexp.Compile(p.BodyRegexp); err != nil {
			return nil, fmt.Errorf("probe.body_regexp: %w", err)
		}
	}
	return NewHTTP(HTTPSpec{
		URL:              u,
		Method:           p.Method,
		ValidStatusCodes: p.ValidStatusCodes,
		BodyRegexp:       re,
		HTTPClientConfig: p.HTTPClientConfig,
		Timeout:          timeout,
		UserAgent:        opts.UserAgent,
	})
}

// Probe sends one request and judges the answer.
func (h *HTTP) Probe(ctx context.Context) Result {
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	what := h.what
	fail := func(err error) Result {
		elapsed := time.Since(start)
		return Result{Duration: elapsed, Err: describe(ctx, what, redactURLError(err), elapsed, h.timeout,
			"is the device or its web server hung, powered off or off the network?")}
	}
	req, err := http.NewRequestWithContext(rctx, h.method, h.url, nil)
	if err != nil {
		return fail(err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	if !h.validStatus(resp.StatusCode) {
		return Result{Duration: time.Since(start), Err: h.statusError(what, resp)}
	}
	if h.bodyRE != nil {
		// MatchReader stops at the first match, so a streaming endpoint is
		// read only as far as needed, and never beyond MaxBodyBytes.
		br := &errReader{r: io.LimitReader(resp.Body, MaxBodyBytes)}
		if !h.bodyRE.MatchReader(bufio.NewReader(br)) {
			if br.err != nil {
				return fail(fmt.Errorf("reading the body: %w", br.err))
			}
			return Result{Duration: time.Since(start), Err: fmt.Errorf("%s: the body (%d bytes read) does not match body_regexp %q — is the device serving an error page?",
				what, br.n, h.bodyRE.String())}
		}
	}
	return Result{Success: true, Duration: time.Since(start)}
}

func (h *HTTP) validStatus(code int) bool {
	if h.valid == nil {
		return code >= 200 && code < 300
	}
	return slices.Contains(h.valid, code)
}

func (h *HTTP) statusError(what string, resp *http.Response) error {
	want := "2xx"
	if h.valid != nil {
		codes := make([]string, len(h.valid))
		for i, c := range h.valid {
			codes[i] = strconv.Itoa(c)
		}
		want = "one of " + strings.Join(codes, ", ")
	}
	msg := fmt.Sprintf("%s: status %s, want %s", what, resp.Status, want)
	code := resp.StatusCode
	switch {
	case code >= 300 && code < 400:
		loc := resp.Header.Get("Location")
		if loc == "" {
			return fmt.Errorf("%s — a redirect without a Location header", msg)
		}
		return fmt.Errorf("%s — a redirect to %s: add %d to valid_status_codes, point probe.url there, or set http_client_config.follow_redirects: true",
			msg, redactLocation(loc), code)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Errorf("%s — check the credentials in http_client_config (basic_auth, authorization)", msg)
	case code == http.StatusNotFound:
		return fmt.Errorf("%s — check probe.url", msg)
	case code >= 500:
		return fmt.Errorf("%s — the web server answers but the application behind it fails", msg)
	}
	return errors.New(msg)
}

func redactLocation(loc string) string { return config.RedactURL(loc) }

// redactURLError hides the secrets of the URL a *url.Error quotes: net/http
// strips the password, but not a ?token= in the query.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = config.RedactURL(ue.URL)
	}
	return err
}

// Type returns "http".
func (h *HTTP) Type() string { return config.ProbeHTTP }

// Target returns the URL, its secrets redacted (config.RedactURL).
func (h *HTTP) Target() string { return h.shown }

// errReader keeps the error MatchReader would swallow, so a body cut off by
// the timeout is reported as such and not as a mismatch.
type errReader struct {
	r   io.Reader
	n   int64
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}
