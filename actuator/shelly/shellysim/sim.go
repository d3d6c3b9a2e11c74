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
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/restartinator/restartinator/internal/clock"
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
type Fault int

const (
	NoFault Fault = iota
	// Refuse closes the listener and every connection: connection refused.
	Refuse
	// Hang accepts requests and never answers them.
	Hang
	// Unreachable is as if the device dropped off the network: nothing is
	// answered, but its own timers still run, so an armed flip-back fires.
	Unreachable
)

func (f Fault) String() string { return [...]string{"none", "refuse", "hang", "unreachable"}[f] }

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

	mu         sync.Mutex
	relays     []*relay
	fault      Fault
	faultCh    chan struct{} // closed when the fault changes
	dropAfter  int
	requests   int
	refuse     map[string]bool
	nonces     map[string]time.Time
	servers    map[*http.Server]net.Listener
	refusedSrv map[*http.Server]bool    // stopped by Refuse: listen again when it ends
	ws         map[*websocket.Conn]bool // open WebSocket connections
	addr       string
	closed     bool
	done       chan struct{}
	wg         sync.WaitGroup
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
		faultCh: make(chan struct{}), refuse: map[string]bool{}, nonces: map[string]time.Time{},
		servers: map[*http.Server]net.Listener{}, refusedSrv: map[*http.Server]bool{}, ws: map[*websocket.Conn]bool{}, done: make(chan struct{}),
	}
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
func (d *Device) Addr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addr
}

// Serve answers on ln until Close. It returns nil after Close.
func (d *Device) Serve(ln net.Listener) error {
	for {
		srv := &http.Server{Handler: d.handler(), ReadHeaderTimeout: 10 * time.Second}
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			ln.Close()
			return nil
		}
		d.addr = ln.Addr().String()
		var err error
		if d.fault == Refuse {
			// Refusing already: do not start answering.
			ln.Close()
			d.mu.Unlock()
		} else {
			d.servers[srv] = ln
			d.mu.Unlock()
			err = srv.Serve(ln)
		}

		d.mu.Lock()
		delete(d.servers, srv)
		refused := d.refusedSrv[srv] || d.fault == Refuse
		delete(d.refusedSrv, srv)
		if d.closed {
			d.mu.Unlock()
			return nil
		}
		if !refused {
			d.mu.Unlock()
			return err
		}
		addr := ln.Addr().String()
		// Refusing: wait for the fault to change, then listen again.
		for d.fault == Refuse && !d.closed {
			ch := d.faultCh
			d.mu.Unlock()
			<-ch
			d.mu.Lock()
		}
		closed := d.closed
		d.mu.Unlock()
		if closed {
			return nil
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("shelly simulator: listening again on %s: %w", addr, err)
		}
	}
}

// Close stops serving and stops the timers.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.faultCh)
	d.faultCh = make(chan struct{})
	d.stopServingLocked()
	close(d.done)
	d.mu.Unlock()
	d.wg.Wait()
	return nil
}

func (d *Device) stopServingLocked() {
	for srv, ln := range d.servers {
		ln.Close()
		srv.Close()
	}
	for c := range d.ws {
		_ = c.CloseNow()
	}
}

// SetFault sets the failure the device shows from now on.
func (d *Device) SetFault(f Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.setFaultLocked(f)
}

func (d *Device) setFaultLocked(f Fault) {
	if d.closed || d.fault == f {
		return
	}
	d.fault = f
	d.dropAfter = 0
	close(d.faultCh)
	d.faultCh = make(chan struct{})
	if f == Refuse {
		for srv := range d.servers {
			d.refusedSrv[srv] = true
		}
		d.stopServingLocked()
	}
}

// DropAfter lets n more requests through, then makes the device Unreachable.
func (d *Device) DropAfter(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.setFaultLocked(NoFault)
	d.dropAfter = n
}

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
func (d *Device) Requests() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.requests
}

// admit counts a request and says whether to answer it; when not, it
// returns a channel closed when the fault changes.
func (d *Device) admit() (bool, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.requests++
	switch d.fault {
	case Hang, Unreachable:
		return false, d.faultCh
	}
	if d.dropAfter > 0 {
		d.dropAfter--
		if d.dropAfter == 0 {
			d.fault = Unreachable
			close(d.faultCh)
			d.faultCh = make(chan struct{})
		}
	}
	return true, nil
}

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
// drop it; the returned handle untracks it.
func (d *Device) trackConn(c *websocket.Conn) *websocket.Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ws[c] = true
	return c
}

func (d *Device) untrackConn(c *websocket.Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.ws, c)
}
