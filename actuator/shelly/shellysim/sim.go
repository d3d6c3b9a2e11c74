// Package shellysim simulates Shelly relays and plugs on loopback for tests,
// the demo and `restartinator simulate`: Gen1 devices over their HTTP API
// (/shelly, /status, /settings, /relay/N with turn and timer, basic auth),
// Gen2+ devices over JSON-RPC on HTTP GET /rpc/Method, POST /rpc and a
// WebSocket at /rpc (digest auth, SHA-256, realm = device id). Relays
// really switch, flip-back timers run on an injectable clock, meters count
// energy while a relay is on, and faults can be injected.
//
// Paths, field names and error codes follow Shelly's published API docs
// (shelly-api-docs.shelly.cloud) and, where they differ, the recorded
// devices in ../shared/fixtures/shelly (noted where it matters).
package shellysim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/simserve"
)

// Options describes one simulated device.
type Options struct {
	// Model is one of Models(): shelly1, shelly1pm, shellyplugs, shelly25
	// (Gen1); shellyplus1, shellyplus1pm, shellyplusplugs, shellypro4pm (Gen2).
	Model string
	// Outlets overrides the model's number of relays (0 = the model's).
	Outlets int
	// Password turns authentication on: HTTP basic on Gen1 (Username
	// defaults to admin), digest on Gen2+ (the user is always admin).
	Username, Password string
	Clock              clock.Clock
}

// Fault is a failure the device shows until cleared with SetFault(NoFault).
type Fault = simserve.Fault

const (
	NoFault = simserve.NoFault
	// Refuse closes the listener and every connection: connection refused.
	Refuse = simserve.Refuse
	// Hang accepts requests and never answers them.
	Hang = simserve.Hang
	// Unreachable is as if the device dropped off the network: nothing is
	// answered, but its own timers still run, so an armed flip-back fires.
	Unreachable = simserve.Unreachable
)

// Outlet is the state of one relay, for tests.
type Outlet struct {
	Name string
	On   bool
	// Timer: a flip-back timer is running; it switches the relay back to !On.
	Timer bool
	// WattHours the meter has counted (0 on unmetered models).
	WattHours float64
}

// Device is one simulated Shelly.
type Device struct {
	opt   Options
	m     model
	clock clock.Clock
	mac   string
	id    string // Gen2 id / realm, Gen1 hostname
	user  string
	boot  time.Time

	// srv is the listening side, under a lock of its own; Refuse is
	// srv refusing.
	srv *simserve.Server

	mu     sync.Mutex // the device's state
	relays []*relay
	refuse map[string]bool
	nonces map[string]time.Time
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

// Per-outlet load on metered models, so energy grows while a relay is on.
const (
	loadWatts = 23.5
	mainsVolt = 230.1
)

// New builds a device; Serve makes it answer.
func New(opt Options) (*Device, error) {
	m, ok := lookupModel(opt.Model)
	if !ok {
		return nil, fmt.Errorf("unknown Shelly model %q (have %s)", opt.Model, strings.Join(Models(), ", "))
	}
	if opt.Outlets < 0 || opt.Outlets > 16 {
		return nil, fmt.Errorf("shelly simulator: %d outlets; want 1 to 16", opt.Outlets)
	}
	if opt.Outlets > 0 {
		m.outlets = opt.Outlets
	}
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	user := opt.Username
	if user == "" {
		user = "admin"
	}
	if m.gen >= 2 && user != "admin" {
		return nil, fmt.Errorf("shelly simulator: Gen2+ devices know only the user admin, not %q", user)
	}
	b := make([]byte, 6)
	rand.Read(b)
	mac := strings.ToUpper(hex.EncodeToString(b))
	d := &Device{
		opt: opt, m: m, clock: opt.Clock, mac: mac, user: user, boot: opt.Clock.Now(),
		refuse: map[string]bool{}, nonces: map[string]time.Time{}, done: make(chan struct{}),
	}
	d.srv = simserve.New(simserve.Options{Name: "shelly simulator", HTTP: d.handler()})
	d.id = m.host + "-" + strings.ToLower(mac)
	if m.gen == 1 {
		d.id = m.host + "-" + mac
	}
	now := opt.Clock.Now()
	for i := 0; i < m.outlets; i++ {
		d.relays = append(d.relays, &relay{on: true, source: "init", lastTally: now})
	}
	return d, nil
}

// Generation is 1 or 2.
func (d *Device) Generation() int { return d.m.gen }

// ID is the device id (Gen2: also the digest realm).
func (d *Device) ID() string { return d.id }

// Model is the model string /shelly reports ("SHPLG-S", "SPSW-104PE16EU").
func (d *Device) Model() string {
	if d.m.gen == 1 {
		return d.m.typ
	}
	return d.m.model
}

// Addr is the address of the last listener Serve was given.
func (d *Device) Addr() string { return d.srv.Addr() }

// Serve answers on ln until Close, listening on its address again when a
// Refuse fault ends. It returns nil after Close.
func (d *Device) Serve(ln net.Listener) error { return d.srv.Serve(ln) }

// Close stops serving and stops the timers.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.done)
	d.mu.Unlock()
	d.srv.Close()
	d.wg.Wait()
	return nil
}

// SetFault sets the failure the device shows from now on. Leaving Refuse
// listens again; if the port was taken meanwhile, Serve returns that error.
func (d *Device) SetFault(f Fault) { _ = d.srv.SetFault(f) }

// DropAfter lets n more requests through, then makes the device Unreachable.
func (d *Device) DropAfter(n int) { _ = d.srv.DropAfter(n) }

// RefuseMethod makes the device answer as firmware that lacks a method:
// a Gen2 RPC method name ("Switch.Set") gets error 404 "No handler for …",
// a Gen1 path ("/settings") gets HTTP 404.
func (d *Device) RefuseMethod(method string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refuse[method] = true
}

func (d *Device) refused(method string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refuse[method]
}

// Requests counts requests (HTTP requests and WebSocket frames) received.
func (d *Device) Requests() int { return d.srv.Requests() }

// Outlets is the state of every relay.
func (d *Device) Outlets() []Outlet {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	out := make([]Outlet, len(d.relays))
	for i, r := range d.relays {
		r.tally(now, d.m.metered)
		out[i] = Outlet{Name: r.name, On: r.on, Timer: r.timer != nil, WattHours: r.wh}
	}
	return out
}

// On reports relay i.
func (d *Device) On(i int) bool { return d.Outlets()[i].On }

// SetOn switches relay i as its button would, cancelling any timer.
func (d *Device) SetOn(i int, on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.switchLocked(i, on, 0, "button")
}

// trackConn records a hijacked WebSocket connection so Close and Refuse can
// drop it; the returned function forgets it.
func (d *Device) trackConn(c *websocket.Conn) (untrack func()) {
	return d.srv.Track(wsCloser{c})
}

type wsCloser struct{ c *websocket.Conn }

func (w wsCloser) Close() error { return w.c.CloseNow() }
