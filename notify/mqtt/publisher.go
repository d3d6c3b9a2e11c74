package mqtt

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	commoncfg "github.com/prometheus/common/config"

	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/notify"
)

// Source is what is published: the supervisor's device snapshots, the
// same ones /api/v1/devices shows.
type Source interface {
	Snapshot() []collector.DeviceStatus
	// Holding says why the guard holds automatic cycles, or "".
	Holding() string
	DryRun() bool
}

// CycleAnswer is the answer to a cycle command, the manual API's JSON.
type CycleAnswer struct {
	Status string `json:"status"` // started, dry_run, already_cycling, no_plug, unknown_device, failed, rejected
	Device string `json:"device,omitempty"`
	Next   string `json:"next,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Options are what a Publisher works with.
type Options struct {
	Source Source
	// Cycle power-cycles a device as the manual API does; needed only with
	// commands: true.
	Cycle   func(device string) CycleAnswer
	Metrics *Metrics
	Logger  *slog.Logger
	Clock   clock.Clock
	Version string
	// Tell, when set, hears channel_failing once the broker has been
	// unreachable for OutageAfter (default DefaultOutageAfter) and
	// channel_recovered when it is back: the MQTT connection counts as a
	// notification channel named "mqtt", and the other channels are told.
	Tell        func(event.Event)
	OutageAfter time.Duration
}

// DefaultOutageAfter is how long the broker may be unreachable before the
// other channels are told: longer than a broker restart.
const DefaultOutageAfter = 2 * time.Minute

// queueSize bounds the events waiting for the connection goroutine; past it
// events are dropped and counted, so Notify never blocks the supervisor.
const queueSize = 256

// Publisher keeps one connection to the broker and publishes through it.
// One goroutine owns the connection and every publish, so messages leave
// in the order things happened.
type Publisher struct {
	cfg    config.MQTTConfig
	opt    Options
	log    *slog.Logger
	broker *url.URL
	tls    *tls.Config
	pass   string
	t      topics

	events chan event.Event
	inbox  chan paho.Message
	cancel context.CancelFunc
	done   chan struct{}
}

// New checks the config (broker URL, TLS files, password file) and returns
// a Publisher; Start connects. Errors here are start-up errors: the config
// cannot work whatever the broker does.
func New(cfg *config.MQTTConfig, opt Options) (*Publisher, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Metrics == nil {
		opt.Metrics = NewMetrics()
	}
	if opt.Source == nil {
		return nil, errors.New("mqtt: no source of device state")
	}
	p := &Publisher{cfg: *cfg, opt: opt, log: opt.Logger.With("component", "mqtt", "broker", config.RedactURL(cfg.Broker)),
		t: newTopics(cfg.TopicPrefix, cfg.DiscoveryPrefix), events: make(chan event.Event, queueSize),
		inbox: make(chan paho.Message, queueSize), done: make(chan struct{})}
	if err := Check(cfg, &p.broker, &p.tls, &p.pass); err != nil {
		return nil, err
	}
	for _, r := range []string{"ok", "refused", "unreachable", "tls"} {
		opt.Metrics.ConnectionAttempt.WithLabelValues(r)
	}
	return p, nil
}

// Check does everything New checks without connecting, for --config.check.
// The out parameters, when not nil, receive what it built.
func Check(cfg *config.MQTTConfig, broker **url.URL, tlsOut **tls.Config, pass *string) error {
	u, err := config.ParseBrokerURL(cfg.Broker)
	if err != nil {
		return fmt.Errorf("mqtt.broker: %w", err)
	}
	pw, err := config.ReadSecret(string(cfg.Password), cfg.PasswordFile)
	if err != nil {
		return fmt.Errorf("mqtt.password_file: %w", err)
	}
	var tc *tls.Config
	if config.MQTTSchemeUsesTLS(u.Scheme) {
		tc, err = commoncfg.NewTLSConfig(&cfg.TLSConfig)
		if err != nil {
			return fmt.Errorf("mqtt.tls_config: %w", err)
		}
	}
	if broker != nil {
		*broker = u
	}
	if tlsOut != nil {
		*tlsOut = tc
	}
	if pass != nil {
		*pass = pw
	}
	return nil
}

// Notify queues an event for publishing; it never blocks.
func (p *Publisher) Notify(e event.Event) {
	select {
	case p.events <- e:
	default:
		p.opt.Metrics.PublishFailures.Inc()
		p.log.Warn("MQTT queue full: event dropped", "kind", e.Kind, "device", e.Device)
	}
}

// Start connects in the background and keeps connecting until Stop.
func (p *Publisher) Start(ctx context.Context) {
	ctx, p.cancel = context.WithCancel(ctx)
	go func() {
		defer close(p.done)
		p.run(ctx)
	}()
}

// Stop publishes "offline", disconnects and waits for the goroutine.
func (p *Publisher) Stop(ctx context.Context) error {
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mqtt: disconnecting from %s: %w", config.RedactURL(p.cfg.Broker), ctx.Err())
	}
}

// backoff is the wait before connection attempt n (0-based): 1s, 2s, 4s, …
// up to max.
func backoff(n int, max time.Duration) time.Duration {
	d := time.Second
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// conn is one live connection.
type conn struct {
	c    paho.Client
	lost chan error
	// published is what the broker holds from us: topic → payload. It
	// starts empty on every connection, so everything is sent again.
	published map[string]string
}

func (p *Publisher) clientID() string {
	if p.cfg.ClientID != "" {
		return p.cfg.ClientID
	}
	host, _ := os.Hostname()
	return "restartinator-" + slug(host) + "-" + slug(p.cfg.TopicPrefix)
}

func (p *Publisher) connect(ctx context.Context) (*conn, error) {
	cn := &conn{lost: make(chan error, 1), published: map[string]string{}}
	o := paho.NewClientOptions()
	o.Servers = []*url.URL{p.broker}
	o.SetClientID(p.clientID())
	o.SetUsername(p.cfg.Username)
	o.SetPassword(p.pass)
	tc, hs := p.tlsAttempt()
	o.SetTLSConfig(tc)
	// Explicit 3.1.1: otherwise a refused login is retried as MQTT 3.1 and
	// the broker's "bad user name or password" becomes a protocol error.
	o.SetProtocolVersion(4)
	o.SetCleanSession(true)
	o.SetAutoReconnect(false)
	o.SetConnectRetry(false)
	o.SetConnectTimeout(p.cfg.ConnectTimeout.D())
	o.SetWriteTimeout(p.cfg.ConnectTimeout.D())
	o.SetKeepAlive(30 * time.Second)
	o.SetWill(p.t.status(), "offline", byte(p.cfg.QoS), true)
	o.SetConnectionLostHandler(func(_ paho.Client, err error) {
		select {
		case cn.lost <- err:
		default:
		}
	})
	cn.c = paho.NewClient(o)
	tok := cn.c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		cn.c.Disconnect(0)
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, hs.explainFailure(err)
	}
	return cn, nil
}

// Errors that only the handshake's course tells apart: both show as a
// connection reset by the broker.
var (
	errNoClientCert      = errors.New("the broker asked for a client certificate and none is configured")
	errNotTLS            = errors.New("the broker closed the connection before the TLS handshake finished")
	errClientCertRefused = errors.New("the broker closed the connection after it saw our client certificate")
)

// handshake records how far one connection attempt's TLS handshake got.
type handshake struct {
	asked atomic.Bool // for a client certificate, and none was configured
	sent  atomic.Bool // for a client certificate, and ours went
	done  atomic.Bool
}

// tlsAttempt is the TLS config for one connection attempt (nil without
// TLS), with hooks that record how far the handshake got.
func (p *Publisher) tlsAttempt() (*tls.Config, *handshake) {
	if p.tls == nil {
		return nil, nil
	}
	tc, hs := p.tls.Clone(), &handshake{}
	// With TLS 1.3 the broker judges the client's certificate after the
	// client's handshake is over, and mosquitto then often just resets the
	// connection: only the request tells us what it wanted.
	switch get := tc.GetClientCertificate; {
	case get != nil:
		tc.GetClientCertificate = func(r *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			hs.sent.Store(true)
			return get(r)
		}
	case len(tc.Certificates) == 0:
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			hs.asked.Store(true)
			return &tls.Certificate{}, nil
		}
	}
	verify := tc.VerifyConnection
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		hs.done.Store(true)
		if verify != nil {
			return verify(cs)
		}
		return nil
	}
	return tc, hs
}

// explainFailure adds to err what the handshake's course says about it.
func (hs *handshake) explainFailure(err error) error {
	if hs == nil {
		return err
	}
	closed := errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	switch {
	case hs.asked.Load():
		return fmt.Errorf("%w: %w", errNoClientCert, err)
	case hs.sent.Load() && closed:
		return fmt.Errorf("%w: %w", errClientCertRefused, err)
	case !hs.done.Load() && closed:
		return fmt.Errorf("%w: %w", errNotTLS, err)
	}
	return err
}

// explain turns a connection error into what to do about it.
func explain(err error) (result, msg string) {
	switch {
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, packets.ErrorRefusedNotAuthorised):
		return "refused", "the broker refused the login — check mqtt.username and mqtt.password (or password_file), and the broker's password file"
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		return "refused", "the broker rejected the client id — set mqtt.client_id to something unique"
	case errors.Is(err, packets.ErrorRefusedBadProtocolVersion):
		return "refused", "the broker does not speak MQTT 3.1.1"
	case errors.Is(err, packets.ErrorRefusedServerUnavailable):
		return "refused", "the broker says it is unavailable"
	}
	if msg := explainTLS(err); msg != "" {
		return "tls", msg
	}
	if strings.Contains(err.Error(), "websocket: bad handshake") {
		return "unreachable", "the server did not accept the WebSocket upgrade — check the path in mqtt.broker (ws://host:port/path) and that the port is a websockets listener"
	}
	return "unreachable", "cannot reach the broker — is it running, and is mqtt.broker right?"
}

// explainTLS says what to change when err is a TLS failure, or "".
func explainTLS(err error) string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var alert tls.AlertError
	var header tls.RecordHeaderError
	switch {
	case errors.Is(err, errNoClientCert):
		return "the broker wants a client certificate — set mqtt.tls_config.cert_file and key_file"
	case errors.As(err, &unknown):
		return "the broker's TLS certificate is not signed by a CA in mqtt.tls_config.ca_file (or, without ca_file, by one the system trusts) — set ca_file to the CA that signed it"
	case errors.As(err, &host):
		return fmt.Sprintf("the broker's TLS certificate is for %s, not %s — connect by a name the certificate carries, or set mqtt.tls_config.server_name to one", certNames(host.Certificate), host.Host)
	case errors.As(err, &invalid):
		return "the broker's TLS certificate is not valid (" + invalid.Error() + ") — renew it, or check this machine's clock"
	case errors.As(err, &header), errors.Is(err, errNotTLS):
		return "the broker's port does not speak TLS — use mqtt:// for it, or the port of its TLS listener (8883)"
	case errors.As(err, &alert) && alert == 116, strings.Contains(err.Error(), "tls: certificate required"):
		// 116 is TLS 1.3's certificate_required alert.
		return "the broker wants a client certificate — set mqtt.tls_config.cert_file and key_file"
	case errors.Is(err, errClientCertRefused), errors.As(err, &alert) && (alert == 42 || alert == 48 || alert == 43 || alert == 45 || alert == 46),
		strings.Contains(err.Error(), "tls: bad certificate"), strings.Contains(err.Error(), "tls: unknown certificate authority"):
		// bad_certificate, unknown_ca, unsupported, expired and unknown
		// certificate: the broker judged ours.
		return "the broker did not accept our client certificate (" + err.Error() + ") — check that mqtt.tls_config.cert_file is signed by the CA the broker trusts (its cafile) and is still valid"
	case strings.Contains(err.Error(), "x509:") || strings.Contains(err.Error(), "tls:"):
		return "the TLS handshake with the broker failed — check mqtt.tls_config (ca_file, server_name, cert_file, key_file)"
	}
	return ""
}

// certNames lists the names a certificate is for, for an error message.
func certNames(c *x509.Certificate) string {
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		names = append(names, c.Subject.CommonName)
	}
	return strings.Join(names, ", ")
}

func (p *Publisher) run(ctx context.Context) {
	m := p.opt.Metrics
	attempt := 0
	lastMsg := ""
	outage := &notify.Outage{Channel: "mqtt", After: p.opt.OutageAfter}
	if outage.After <= 0 {
		outage.After = DefaultOutageAfter
	}
	tell := func(e *event.Event) {
		if e != nil && p.opt.Tell != nil {
			p.opt.Tell(*e)
		}
	}
	for {
		cn, err := p.connect(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			result, msg := explain(err)
			// The other channels hear what to change, not only paho's words.
			tell(outage.Down(p.opt.Clock.Now(), fmt.Errorf("%s (%w)", msg, err)))
			m.ConnectionAttempt.WithLabelValues(result).Inc()
			wait := backoff(attempt, p.cfg.MaxReconnectInterval.D())
			attempt++
			// Said at error level once per kind of failure, then at debug:
			// a broker down for a day is one line, not thousands.
			if msg != lastMsg {
				p.log.Error("MQTT connection failed: "+msg, "err", err, "retry_in", wait)
				lastMsg = msg
			} else {
				p.log.Debug("MQTT connection failed again", "err", err, "retry_in", wait)
			}
			if !p.sleep(ctx, wait) {
				return
			}
			continue
		}
		m.ConnectionAttempt.WithLabelValues("ok").Inc()
		m.Connected.Set(1)
		tell(outage.Up(p.opt.Clock.Now()))
		p.log.Info("MQTT connected", "topic_prefix", p.cfg.TopicPrefix, "discovery", p.cfg.Discovery, "commands", p.cfg.Commands)
		attempt, lastMsg = 0, ""
		err = p.serve(ctx, cn)
		m.Connected.Set(0)
		if ctx.Err() != nil {
			return
		}
		p.log.Warn("MQTT connection lost; reconnecting", "err", err)
		tell(outage.Down(p.opt.Clock.Now(), err))
	}
}

// sleep waits out a backoff. Events that come meanwhile are dropped and
// counted: they are not retained, and an automation woken by a stale
// "offline" an hour late does more harm than one that never fires. State
// is retained and goes out in full once connected.
func (p *Publisher) sleep(ctx context.Context, d time.Duration) bool {
	t := p.opt.Clock.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C():
			return true
		case <-p.events:
			p.opt.Metrics.PublishFailures.Inc()
		}
	}
}

// serve publishes over one connection until it is lost or ctx ends.
func (p *Publisher) serve(ctx context.Context, cn *conn) error {
	defer cn.c.Disconnect(250)
	if err := p.subscribe(cn); err != nil {
		return err
	}
	if err := p.publish(cn, p.t.status(), "online", true); err != nil {
		return err
	}
	pl := newPlanner(p.cfg, p.opt.Version)
	if err := p.sync(cn, pl); err != nil {
		return err
	}
	tick := p.opt.Clock.NewTimer(p.cfg.StateInterval.D())
	defer tick.Stop()
	for {
		end, err := p.next(ctx, cn, pl, tick)
		if end {
			return err
		}
		if err != nil {
			if !cn.c.IsConnectionOpen() {
				return err
			}
			// A timeout on an open connection: what failed is not in
			// published, so the next sync sends it again.
			p.log.Warn("MQTT publish failed", "err", err)
		}
	}
}

// subscribe asks for what the publisher reads: its own retained state and
// discovery configs (to clear stale ones), Home Assistant's status, and
// with commands on the cycle commands.
func (p *Publisher) subscribe(cn *conn) error {
	handler := func(_ paho.Client, msg paho.Message) {
		if !p.readsAnything(msg) {
			// The broker's echo of our own live publish: receive ignores
			// it, and a full publish echoes more than the inbox holds.
			return
		}
		select {
		case p.inbox <- msg:
		default:
			p.log.Warn("MQTT inbox full: message dropped", "topic", msg.Topic())
		}
	}
	filters := map[string]byte{p.t.stateFilter(): 0}
	if p.cfg.Discovery {
		filters[p.t.haStatus()] = 0
		filters[p.t.discoveryFilter()] = 0
	}
	if p.cfg.Commands {
		filters[p.t.commandFilter()] = byte(p.cfg.QoS)
	}
	if err := p.wait(cn.c.SubscribeMultiple(filters, handler)); err != nil {
		return fmt.Errorf("subscribing: %w", err)
	}
	return nil
}

// next does the next thing on the connection; end says serve returns.
func (p *Publisher) next(ctx context.Context, cn *conn, pl *planner, tick clock.Timer) (end bool, err error) {
	// Queued events go before anything else that syncs. A sync publishes
	// the state of now; an event queued before it carries the state of
	// its moment, which would otherwise reach the broker after the newer
	// one (see publishEvent).
	select {
	case e := <-p.events:
		return false, p.eventAndSync(cn, pl, e)
	default:
	}
	select {
	case <-ctx.Done():
		// A clean disconnect sends no Last Will: say offline ourselves.
		if err := p.publish(cn, p.t.status(), "offline", true); err != nil {
			p.log.Warn("could not say offline before disconnecting; the broker still holds online", "err", err)
		}
		return true, ctx.Err()
	case err := <-cn.lost:
		return true, err
	case e := <-p.events:
		return false, p.eventAndSync(cn, pl, e)
	case msg := <-p.inbox:
		return false, p.receive(cn, pl, msg)
	case <-tick.C():
		tick.Reset(p.cfg.StateInterval.D())
		return false, p.sync(cn, pl)
	}
}

func (p *Publisher) eventAndSync(cn *conn, pl *planner, e event.Event) error {
	if err := p.publishEvent(cn, e); err != nil {
		return err
	}
	return p.sync(cn, pl)
}

func (p *Publisher) wait(tok paho.Token) error {
	if !tok.WaitTimeout(p.cfg.ConnectTimeout.D()) {
		return fmt.Errorf("no answer from the broker within %s", p.cfg.ConnectTimeout)
	}
	return tok.Error()
}

func (p *Publisher) publish(cn *conn, topic, payload string, retain bool) error {
	return p.settle(p.send(cn, topic, payload, retain))
}

// sent is a publish handed to the client whose acknowledgement is not yet
// awaited.
type sent struct {
	topic, payload string
	tok            paho.Token
}

func (p *Publisher) send(cn *conn, topic, payload string, retain bool) sent {
	return sent{topic: topic, payload: payload, tok: cn.c.Publish(topic, byte(p.cfg.QoS), retain, payload)}
}

// settle waits for a publish's acknowledgement and counts it.
func (p *Publisher) settle(s sent) error {
	if err := p.wait(s.tok); err != nil {
		p.opt.Metrics.PublishFailures.Inc()
		return fmt.Errorf("publishing %s: %w", s.topic, err)
	}
	p.opt.Metrics.Published.Inc()
	return nil
}

// syncWindow is how many of a sync's publishes are sent before their
// acknowledgements are awaited. One at a time, each waited ~30 ms on
// loopback: Mosquitto (set_tcp_nodelay off, its default) holds a PUBACK
// that follows the echo of our own message until our delayed ACK, so a
// full publish of 100 devices took 44 s (BenchmarkFullPublish100); with
// 64 it took 1.06 s, with 256 0.29 s.
const syncWindow = 256

// sync publishes every retained message that differs from what the broker
// holds from us, and clears (empty retained payload) what is no longer
// wanted: a removed device's state and its Home Assistant entities.
func (p *Publisher) sync(cn *conn, pl *planner) error {
	want := pl.plan(view{devices: p.opt.Source.Snapshot(), holding: p.opt.Source.Holding(), dryRun: p.opt.Source.DryRun()})
	var errs []error
	var window []sent
	// settle awaits the window's acknowledgements and records what the
	// broker now holds; false means the connection is gone.
	settle := func() bool {
		for _, s := range window {
			if err := p.settle(s); err != nil {
				errs = append(errs, err)
				continue
			}
			if s.payload == "" {
				delete(cn.published, s.topic)
			} else {
				cn.published[s.topic] = s.payload
			}
		}
		window = window[:0]
		return len(errs) == 0 || cn.c.IsConnectionOpen()
	}
	push := func(s sent) bool {
		window = append(window, s)
		return len(window) < syncWindow || settle()
	}
	// Discovery configs first, so Home Assistant knows an entity before
	// its state arrives; then state in a stable order. The client sends
	// them in this order whatever the window.
	for _, topic := range orderTopics(want.want, p.t.discovery+"/") {
		payload := want.want[topic]
		if cn.published[topic] == payload {
			continue
		}
		if !push(p.send(cn, topic, payload, p.retain(topic))) {
			return errors.Join(errs...)
		}
	}
	for _, topic := range orderTopics(cn.published, "") {
		if _, ok := want.want[topic]; ok || want.undecided[topic] {
			continue
		}
		if !push(p.send(cn, topic, "", true)) {
			return errors.Join(errs...)
		}
	}
	settle()
	return errors.Join(errs...)
}

// retain: discovery configs are always retained (Home Assistant reads them
// when it starts); state follows mqtt.retain.
func (p *Publisher) retain(topic string) bool {
	return p.cfg.Retain || strings.HasPrefix(topic, p.t.discovery+"/")
}

func (p *Publisher) publishEvent(cn *conn, e event.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	topic, slug := p.t.event(), ""
	if e.Device != "" {
		names := p.deviceNames()
		if !slices.Contains(names, e.Device) {
			names = append(names, e.Device) // removed by a reload meanwhile
		}
		slug = slugs(names)[e.Device]
		topic = p.t.device(slug, "event")
	}
	if err := p.publish(cn, topic, string(b), false); err != nil {
		return err
	}
	if e.Device == "" || e.State == "" {
		return nil
	}
	// The state the event left the device in goes out with it, even if
	// the device has moved on since (failing lasts only until the cycle
	// starts): Home Assistant's history then shows every state an event
	// reported, in order, however late this goroutine runs. The sync that
	// follows publishes the state of now.
	state := p.t.device(slug, "state")
	if cn.published[state] == e.State {
		return nil
	}
	if err := p.publish(cn, state, e.State, p.retain(state)); err != nil {
		return err
	}
	cn.published[state] = e.State
	return nil
}

// deviceNames is every configured device's name; slugs are decided over
// the whole set, so colliding names stay apart.
func (p *Publisher) deviceNames() []string {
	var names []string
	for _, d := range p.opt.Source.Snapshot() {
		names = append(names, d.Name)
	}
	return names
}

// readsAnything says whether receive could act on msg: Home Assistant's
// status, a command, or a retained message (a stale one of an earlier run).
func (p *Publisher) readsAnything(msg paho.Message) bool {
	return msg.Topic() == p.t.haStatus() || strings.HasSuffix(msg.Topic(), "/cycle/set") || (msg.Retained() && len(msg.Payload()) > 0)
}

// receive handles a message from a subscription.
func (p *Publisher) receive(cn *conn, pl *planner, msg paho.Message) error {
	topic := msg.Topic()
	switch {
	case topic == p.t.haStatus():
		if string(msg.Payload()) == "online" {
			// Home Assistant (re)started: send every config and state again.
			p.log.Info("Home Assistant is online: publishing discovery and state again")
			clear(cn.published)
			return p.sync(cn, pl)
		}
		return nil
	case strings.HasSuffix(topic, "/cycle/set"):
		return p.command(cn, msg)
	}
	if msg.Retained() && len(msg.Payload()) > 0 {
		return p.clearStale(cn, pl, topic, msg.Payload())
	}
	return nil
}

// clearStale clears a retained message left on the broker by an earlier
// run for a device that is no longer configured: its discovery configs and
// its state topics. Live echoes of our own publishes are not retained
// deliveries and never get here.
func (p *Publisher) clearStale(cn *conn, pl *planner, topic string, payload []byte) error {
	want := pl.plan(view{devices: p.opt.Source.Snapshot(), holding: p.opt.Source.Holding(), dryRun: p.opt.Source.DryRun()})
	if _, ok := want.want[topic]; ok || want.undecided[topic] {
		return nil
	}
	var clear []string
	if s, ok := p.t.deviceOf(topic, "state"); ok {
		if _, current := want.devices[s]; current {
			return nil
		}
		for _, leaf := range deviceLeaves {
			clear = append(clear, p.t.device(s, leaf))
		}
	} else {
		// A discovery config of ours (the subscription filter matched our
		// node level) that we no longer want; also clear the state topics
		// it names, if they are ours and their device is gone.
		clear = append(clear, topic)
		for _, named := range staleStateTopics(payload) {
			for _, leaf := range deviceLeaves {
				if s, ok := p.t.deviceOf(named, leaf); ok {
					if _, current := want.devices[s]; !current {
						clear = append(clear, named)
					}
				}
			}
		}
	}
	p.log.Info("clearing retained MQTT topics of a device no longer configured", "topics", clear)
	var errs []error
	for _, t := range clear {
		if err := p.publish(cn, t, "", true); err != nil {
			errs = append(errs, err)
		}
		delete(cn.published, t)
	}
	return errors.Join(errs...)
}

// staleStateTopics reads the state topics a discovery config names. The
// payload is whatever sits on the broker, so anything may arrive.
func staleStateTopics(payload []byte) []string {
	var c struct {
		StateTopic string `json:"state_topic"`
		AttrTopic  string `json:"json_attributes_topic"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return nil
	}
	var out []string
	for _, t := range []string{c.StateTopic, c.AttrTopic} {
		if t != "" && !strings.ContainsAny(t, "+#") {
			out = append(out, t)
		}
	}
	return out
}

// command answers a publish on <device>/cycle/set.
func (p *Publisher) command(cn *conn, msg paho.Message) error {
	s, ok := p.t.deviceOf(msg.Topic(), "cycle/set")
	if !ok || len(msg.Payload()) == 0 {
		// Empty is how a retained message is cleared, never a press.
		return nil
	}
	var ans CycleAnswer
	name := ""
	for n, ns := range slugs(p.deviceNames()) {
		if ns == s {
			name = n
		}
	}
	switch {
	case msg.Retained():
		// A retained command would cycle the device at every reconnect.
		ans = CycleAnswer{Status: "rejected", Device: name, Error: "a retained cycle command is ignored: publish it without retain, and clear the retained one with an empty retained message"}
	case name == "":
		ans = CycleAnswer{Status: "unknown_device", Error: fmt.Sprintf("no configured device has the topic level %q", s)}
	case p.opt.Cycle == nil:
		ans = CycleAnswer{Status: "failed", Device: name, Error: "commands are not wired in this build"}
	default:
		p.log.Info("power cycle requested over MQTT", "device", name)
		ans = p.opt.Cycle(name)
	}
	b, _ := json.Marshal(ans)
	return p.publish(cn, p.t.device(s, "cycle/result"), string(b), false)
}

// orderTopics sorts topics, those starting with first ahead of the rest.
func orderTopics(m map[string]string, first string) []string {
	out := make([]string, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	sortTopics(out, first)
	return out
}

// FilesDigest sums the contents of the files cfg names (CA, client
// certificate and key, password file), so a reload can tell that a file
// was replaced under the same name: a renewed certificate or a corrected
// CA file then takes effect without a restart. A file that cannot be read
// sums as such; Check says why.
func FilesDigest(cfg *config.MQTTConfig) string {
	h := sha256.New()
	for _, f := range []string{cfg.TLSConfig.CAFile, cfg.TLSConfig.CertFile, cfg.TLSConfig.KeyFile, cfg.PasswordFile} {
		b, err := os.ReadFile(f)
		if f == "" || err != nil {
			b = nil
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}
