// Package tasmotasim simulates a Tasmota-flashed plug or relay board on
// loopback for tests, the demo and `restartinator simulate`: the HTTP
// command interface GET /cm?cmnd=… with user= and password=, Power<x>,
// Status <n>, Backlog/Backlog0 with Delay, FriendlyName<x>, State. Relays
// really switch, the Backlog queue runs on an injectable clock (so a
// Backlog's `Power1 ON` fires even if the controller is gone), the meter
// counts energy while a relay is on, and faults can be injected.
//
// Names, answers and limits follow the Tasmota Commands documentation and,
// where they differ, the recorded answers in ../shared/fixtures/tasmota
// (field names and order of the Status objects are those recorded).
package tasmotasim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/simserve"
)

// Options describes one simulated device.
type Options struct {
	// Outlets is the number of relays, Power1…PowerN (default 1).
	Outlets int
	// Password sets a web password; Username defaults to admin.
	Username, Password string
	// Metered adds an energy monitor (StatusSNS.ENERGY), one channel per relay.
	Metered bool
	Clock   clock.Clock
}

// Fault is a failure the device shows until cleared with SetFault(NoFault).
type Fault = simserve.Fault

const (
	NoFault = simserve.NoFault
	// Refuse closes the listener and every connection: connection refused.
	Refuse = simserve.Refuse
	// Hang accepts requests and never answers them.
	Hang = simserve.Hang
	// Unreachable answers nothing, but the device keeps running: a Backlog
	// in progress still switches the relay.
	Unreachable = simserve.Unreachable
)

// Outlet is the state of one relay, for tests.
type Outlet struct {
	Name      string
	On        bool
	WattHours float64
}

// Per-relay load on metered devices.
const (
	loadWatts = 40.0
	mainsVolt = 230.0
)

// Tasmota's SetOption34 default: the wait between Backlog commands.
const backlogGap = 200 * time.Millisecond

type relay struct {
	name      string
	on        bool
	wh        float64
	lastTally time.Time
}

func (r *relay) tally(now time.Time, metered bool) {
	if metered && r.on && now.After(r.lastTally) {
		r.wh += loadWatts * now.Sub(r.lastTally).Hours()
	}
	r.lastTally = now
}

type queued struct {
	cmd     string
	nodelay bool
}

// Device is one simulated Tasmota.
type Device struct {
	opt   Options
	clock clock.Clock
	user  string
	mac   string
	boot  time.Time

	// srv is the listening side, under a lock of its own; Refuse is
	// srv refusing.
	srv *simserve.Server

	mu       sync.Mutex // the device's state
	relays   []*relay
	devName  string
	queue    []queued
	queueGen int // bumped when the queue is cleared
	running  bool
	refuse   map[string]bool
	closed   bool
	done     chan struct{}
	wg       sync.WaitGroup
}

// New builds a device; Serve makes it answer.
func New(opt Options) (*Device, error) {
	if opt.Outlets == 0 {
		opt.Outlets = 1
	}
	if opt.Outlets < 1 || opt.Outlets > 8 {
		return nil, fmt.Errorf("tasmota simulator: %d outlets; want 1 to 8 (Power1…Power8)", opt.Outlets)
	}
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	user := opt.Username
	if user == "" {
		user = "admin"
	}
	b := make([]byte, 6)
	rand.Read(b)
	var mac []string
	for _, x := range b {
		mac = append(mac, strings.ToUpper(hex.EncodeToString([]byte{x})))
	}
	d := &Device{
		opt: opt, clock: opt.Clock, user: user, mac: strings.Join(mac, ":"), boot: opt.Clock.Now(),
		devName: "Tasmota", refuse: map[string]bool{}, done: make(chan struct{}),
	}
	d.srv = simserve.New(simserve.Options{Name: "tasmota simulator", HTTP: d.handler()})
	now := opt.Clock.Now()
	for i := range opt.Outlets {
		name := "Tasmota"
		if i > 0 {
			name = fmt.Sprintf("Tasmota%d", i+1) // Tasmota's default FriendlyNames
		}
		d.relays = append(d.relays, &relay{name: name, on: true, lastTally: now})
	}
	return d, nil
}

// Addr is the address of the last listener Serve was given.
func (d *Device) Addr() string { return d.srv.Addr() }

// Serve answers on ln until Close, listening on its address again when a
// Refuse fault ends. It returns nil after Close.
func (d *Device) Serve(ln net.Listener) error { return d.srv.Serve(ln) }

// Close stops serving and stops the Backlog queue.
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

// RefuseMethod makes the device answer a command as firmware without it
// does: {"Command":"Unknown"}. The name is matched without its index and
// case, e.g. "Backlog" or "Status".
func (d *Device) RefuseMethod(command string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refuse[strings.ToLower(command)] = true
}

// Requests counts HTTP requests received.
func (d *Device) Requests() int { return d.srv.Requests() }

// Backlog is what is left of the Backlog queue.
func (d *Device) Backlog() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, q := range d.queue {
		out = append(out, q.cmd)
	}
	return out
}

// Outlets is the state of every relay.
func (d *Device) Outlets() []Outlet {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	out := make([]Outlet, len(d.relays))
	for i, r := range d.relays {
		r.tally(now, d.opt.Metered)
		out[i] = Outlet{Name: r.name, On: r.on, WattHours: r.wh}
	}
	return out
}

// On reports relay i (0-based: Power1 is 0).
func (d *Device) On(i int) bool { return d.Outlets()[i].On }

// SetOn switches relay i as its button would.
func (d *Device) SetOn(i int, on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.setLocked(i, on)
}

func (d *Device) setLocked(i int, on bool) {
	r := d.relays[i]
	r.tally(d.clock.Now(), d.opt.Metered)
	r.on = on
}
