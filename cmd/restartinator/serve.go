package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"golang.org/x/net/netutil"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/statuspage"
)

const namespace = "restartinator"

// serveOptions are the flags of the main command.
type serveOptions struct {
	web                  *web.FlagConfig
	configFile           string
	check                bool
	demo                 bool
	demoNotifyURL        string
	allowUnauthenticated bool
	externalURL          string
	routePrefix          string
	// maxConnections caps open HTTP connections per listener; negative: no cap.
	maxConnections  int
	deviceStateEnum bool
}

// safeConfig holds the running config; a reload swaps it whole.
type safeConfig struct {
	mu  sync.RWMutex
	cfg *config.Config
}

func (s *safeConfig) get() *config.Config {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cfg
}

func (s *safeConfig) set(c *config.Config) {
	s.mu.Lock()
	s.cfg = c
	s.mu.Unlock()
}

// component is a part of the service that follows the config.
type component interface {
	// Apply starts using a new, valid config. It must keep the state of
	// whatever did not change.
	Apply(cfg *config.Config) error
}

// service is the running program: config, registry, HTTP surface, and the
// components that follow the config.
type service struct {
	opts       *serveOptions
	logger     *slog.Logger
	cfg        safeConfig
	reg        *prometheus.Registry
	auth       *actionAuth
	components []component
	// shutdown hooks run before the HTTP server stops, so in-flight work
	// (a power cycle) finishes with power back on.
	shutdown []func(context.Context) error
	ready    chan struct{}
	readyOne sync.Once

	reloadMu      sync.Mutex
	reloadSuccess prometheus.Gauge
	reloadTime    prometheus.Gauge
	mux           *http.ServeMux
	prefix        string
	// root serves "/" (the status page); nil shows exporter-toolkit's landing page.
	root http.Handler
	// routes add the components' endpoints to the mux.
	routes []func(mux *http.ServeMux, prefix string, auth *actionAuth)
	// exposition write families straight into /metrics (see metrics.go).
	exposition []func(io.Writer) error
}

func newService(opts *serveOptions, logger *slog.Logger) (*service, error) {
	s := &service{
		opts:   opts,
		logger: logger,
		reg:    prometheus.NewRegistry(),
		ready:  make(chan struct{}),
		reloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_successful",
			Help: "Whether the last configuration reload attempt was successful.",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}),
	}
	s.reg.MustRegister(
		versioncollector.NewCollector(namespace),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		s.reloadSuccess, s.reloadTime,
	)
	s.auth = &actionAuth{token: s.webhookToken, allowUnauth: opts.allowUnauthenticated}
	if opts.web != nil && opts.web.WebConfigFile != nil {
		// Checked now so a bad file stops the start; actionAuth reads it again per request.
		if _, err := webConfigAuthenticates(*opts.web.WebConfigFile); err != nil {
			return nil, err
		}
		s.auth.webConfigFile = *opts.web.WebConfigFile
	}
	host, err := externalHost(opts.externalURL)
	if err != nil {
		return nil, err
	}
	s.auth.externalHost = host
	prefix, err := routePrefix(opts.routePrefix, opts.externalURL)
	if err != nil {
		return nil, err
	}
	s.prefix = prefix
	return s, nil
}

// routePrefix is --web.route-prefix, or the path of --web.external-url,
// without a trailing slash ("" for the root).
func routePrefix(prefix, external string) (string, error) {
	if prefix == "" && external != "" {
		u, err := url.Parse(external)
		if err != nil {
			return "", fmt.Errorf("--web.external-url %q: %w", external, err)
		}
		prefix = u.Path
	}
	prefix = strings.TrimRight(prefix, "/")
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	return prefix, nil
}

// webhookToken is the bearer token actions need, "" when none is configured.
// A token file that cannot be read, or has become empty, is an error, so
// actions fail closed instead of falling back to loopback trust.
func (s *service) webhookToken() (string, error) {
	c := s.cfg.get()
	if c == nil {
		return "", nil
	}
	tok, err := config.ReadSecret(string(c.Webhook.BearerToken), c.Webhook.BearerTokenFile)
	if err == nil && tok == "" && c.Webhook.BearerTokenFile != "" {
		err = fmt.Errorf("%s is empty", c.Webhook.BearerTokenFile)
	}
	if err != nil {
		s.logger.Error("cannot use webhook.bearer_token_file; refusing actions", "err", err)
		return "", err
	}
	return tok, nil
}

// load reads the config file and checks it with every component's rules.
func (s *service) load() (*config.Config, error) {
	return config.LoadFile(s.opts.configFile)
}

// reload loads the config file and hands it to every component. A bad file
// is rejected whole: the running config stays.
func (s *service) reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	c, err := s.load()
	return s.install(c, err)
}

// install hands a loaded config, or the error loading it, to every
// component, as reload does. At start the config loaded to build the app
// is installed as it is, not read and decoded a second time.
func (s *service) install(c *config.Config, err error) error {
	if err == nil {
		err = s.apply(c)
	}
	if err != nil {
		s.reloadSuccess.Set(0)
		s.logger.Error("configuration rejected; keeping the running one", "file", s.opts.configFile, "err", err)
		return err
	}
	s.reloadSuccess.Set(1)
	s.reloadTime.SetToCurrentTime()
	s.logger.Info("configuration loaded", "file", s.opts.configFile, "format", c.Format, "devices", len(c.Devices), "plugs", len(c.Plugs))
	return nil
}

func (s *service) apply(c *config.Config) error {
	for _, comp := range s.components {
		if err := comp.Apply(c); err != nil {
			return err
		}
	}
	s.cfg.set(c)
	return nil
}

func (s *service) markReady() { s.readyOne.Do(func() { close(s.ready) }) }

// handler builds the HTTP surface on its own mux.
func (s *service) handler() http.Handler {
	mux := http.NewServeMux()
	s.mux = mux
	p := s.prefix
	mux.Handle("GET "+p+"/metrics", metricsHandler{reg: s.reg, log: s.logger, writes: func() []func(io.Writer) error { return s.exposition }})
	mux.HandleFunc("GET "+p+"/-/healthy", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "Healthy.\n") })
	mux.HandleFunc("GET "+p+"/-/ready", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-s.ready:
			io.WriteString(w, "Ready.\n")
		default:
			http.Error(w, "Not ready: the configuration is not loaded yet.", http.StatusServiceUnavailable)
		}
	})
	mux.Handle("POST "+p+"/-/reload", s.auth.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.reload(); err != nil {
			http.Error(w, fmt.Sprintf("failed to reload config: %v\n", err), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "Configuration reloaded.\n")
	})))
	mux.Handle("GET "+p+"/config", statuspage.Gzip(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := s.cfg.get()
		if c == nil {
			http.Error(w, "no configuration loaded", http.StatusServiceUnavailable)
			return
		}
		out, err := c.Marshal(false)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(out)
	})))
	for _, add := range s.routes {
		add(mux, p, s.auth)
	}
	if s.root != nil {
		mux.Handle(p+"/", s.root)
	} else {
		landing, err := web.NewLandingPage(web.LandingConfig{
			RoutePrefix: p + "/",
			Name:        "restartinator",
			Description: "Keeps hung devices alive",
			Version:     version.Info(),
			Links: []web.LandingLinks{
				{Address: p + "/metrics", Text: "Metrics"},
				{Address: p + "/config", Text: "Configuration", Description: "secrets redacted"},
				{Address: p + "/-/healthy", Text: "Health"},
			},
		})
		if err != nil {
			s.logger.Error("landing page", "err", err)
		} else {
			mux.Handle(p+"/", landing)
		}
	}
	return mux
}

// HTTP server limits: a client that is slow to send, or sends nothing, is cut
// off instead of holding a connection (and a file descriptor) for ever.
const (
	readHeaderTimeout = 10 * time.Second
	// readTimeout covers the headers and a webhook body of max_body_bytes.
	readTimeout = 60 * time.Second
	// writeTimeout bounds a whole response; the longest is a webhook whose
	// alerts each check their plug (5 s each, max_alerts_per_request of them)
	// and the status page's pages are small, so two minutes is safe.
	writeTimeout   = 2 * time.Minute
	idleTimeout    = 60 * time.Second
	maxHeaderBytes = 64 << 10
	// defaultMaxConnections is --web.max-connections: enough for Prometheus,
	// Alertmanager and a few browsers; a client holding them all waits in the
	// kernel's accept queue, costing this process no file descriptor.
	defaultMaxConnections = 256
)

// newHTTPServer is the server every listener shares.
func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
}

// serve runs the HTTP server until ctx ends, then runs the shutdown hooks
// and stops the server gracefully.
func (s *service) serve(ctx context.Context, h http.Handler) error {
	ls, err := s.listen()
	if err != nil {
		return err
	}
	return s.serveOn(ctx, ls, h)
}

// listen opens the listeners: systemd's sockets, or --web.listen-address.
// Listening ourselves lets us log the real address of a ":0" listener and
// wrap each listener in the connection limit.
func (s *service) listen() ([]net.Listener, error) {
	if s.opts.web.WebSystemdSocket != nil && *s.opts.web.WebSystemdSocket {
		ls, err := activation.Listeners()
		if err != nil {
			return nil, fmt.Errorf("systemd socket activation: %w", err)
		}
		if len(ls) == 0 {
			return nil, errors.New("--web.systemd-socket: no socket activation file descriptors found — is restartinator.socket enabled?")
		}
		return ls, nil
	}
	var ls []net.Listener
	for _, addr := range *s.opts.web.WebListenAddresses {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, o := range ls {
				o.Close()
			}
			return nil, fmt.Errorf("listening on %s: %w — is another program using the port?", addr, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// serveOn serves h on the listeners until ctx ends.
func (s *service) serveOn(ctx context.Context, ls []net.Listener, h http.Handler) error {
	limit := s.opts.maxConnections
	if limit == 0 {
		limit = defaultMaxConnections
	}
	for i, l := range ls {
		s.logger.Info("listening", "address", l.Addr().String(), "max_connections", limit)
		if limit > 0 {
			ls[i] = netutil.LimitListener(l, limit)
		}
	}
	srv := newHTTPServer(h, s.logger)
	errc := make(chan error, 1)
	go func() { errc <- web.ServeMultiple(ls, srv, s.opts.web, s.logger) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.logger.Info("shutting down: finishing in-flight work first")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, hook := range s.shutdown {
		if err := hook(sctx); err != nil {
			s.logger.Error("shutdown", "err", err)
		}
	}
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// run is the main command.
func (o *serveOptions) run(ctx context.Context, logger *slog.Logger, stdout io.Writer) int {
	if o.check {
		return o.runCheck(stdout, logger)
	}
	if o.demo {
		return o.runDemo(ctx, logger, stdout)
	}
	return o.serve(ctx, logger)
}

// serve runs the service from o.configFile until ctx ends.
func (o *serveOptions) serve(ctx context.Context, logger *slog.Logger) int {
	logger.Info("starting restartinator", "version", version.Info(), "build_context", version.BuildContext())
	s, err := newService(o, logger)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	first, err := s.load()
	if err != nil {
		logger.Error("configuration rejected", "err", err)
		return 1
	}
	if first.Global.SingleRun {
		return runOnce(ctx, logger, first)
	}
	appCtx, cancelApp := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelApp()
	a, err := newApp(appCtx, s, first)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	s.components = append(s.components, a)
	s.shutdown = append(s.shutdown, a.shutdown)
	s.routes = append(s.routes, a.routes)
	s.root = statuspage.New(statuspage.Options{Source: a, RoutePrefix: s.prefix, Version: version.Version, Channels: a.NotificationChannels})
	s.reloadMu.Lock()
	err = s.install(first, nil)
	s.reloadMu.Unlock()
	if err != nil {
		return 1
	}
	a.start()
	s.markReady()
	s.auth.describe(logger)
	s.reloadOnSIGHUP(ctx)
	if err := s.serve(ctx, s.handler()); err != nil {
		logger.Error("HTTP server failed", "err", err)
		return 1
	}
	return 0
}
