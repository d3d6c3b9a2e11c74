// Package simserve is the listening side of the device simulators and the
// faults they show on the network: it serves HTTP, or hands raw TCP
// connections to a handler, on loopback listeners, and it can be made to
// refuse connections (every listener and open connection closed, as a
// device whose service died, and listened on again at the same address when
// that ends), to hang, to drop off the network (at once or after some more
// requests), and to close. The device's own state and its lock stay with
// the simulator; a Server's lock guards only its listeners and its fault.
package simserve

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/restartinator/restartinator/internal/porthold"
)

// Fault is a failure a device shows until SetFault(NoFault).
type Fault int

const (
	NoFault Fault = iota
	// Refuse closes the listeners and every connection: connection refused.
	Refuse
	// Hang accepts requests and never answers them.
	Hang
	// Unreachable is as if the device dropped off the network: nothing is
	// answered. The simulator's own timers still run.
	Unreachable
)

func (f Fault) String() string { return [...]string{"none", "refuse", "hang", "unreachable"}[f] }

// Options say what a Server serves.
type Options struct {
	// Name starts the server's errors, e.g. "shelly simulator".
	Name string
	// HTTP answers requests; exactly one of HTTP and Conn is set.
	HTTP http.Handler
	// Conn handles one raw TCP connection; the connection is closed when it
	// returns. It must return once the connection is closed.
	Conn func(net.Conn)
	// Wrap, if set, wraps every listener before it is served.
	Wrap func(net.Listener) net.Listener
}

// Server serves one simulated device's TCP side. It is safe for concurrent
// use.
type Server struct {
	opt Options

	mu        sync.Mutex
	fault     Fault
	dropAfter int // >0: Unreachable once this many more requests are admitted
	requests  int
	closed    bool
	changed   chan struct{} // closed and replaced when the fault changes or on Close
	loops     map[*loop]bool
	tracked   map[io.Closer]bool
	addr      string
	wg        sync.WaitGroup // goroutines the server started
}

// loop is one listener given to Serve or Start, across refusals.
type loop struct {
	addr string
	ln   net.Listener // listening now, unless down
	srv  *http.Server // serving ln (HTTP only)
	down bool         // closed by Refuse; leaving Refuse listens again
	// hold keeps the port from other programs from the first Refuse on
	// (nil if it could not be held), so that connections stay refused
	// and listening again finds the port free.
	hold *porthold.Port
	err  error // listening again failed: the loop ends with it
}

// New returns a server that serves nothing until Serve or Start.
func New(opt Options) *Server {
	if (opt.HTTP == nil) == (opt.Conn == nil) {
		panic("simserve: set exactly one of HTTP and Conn")
	}
	return &Server{opt: opt, changed: make(chan struct{}), loops: map[*loop]bool{}, tracked: map[io.Closer]bool{}}
}

// Serve answers on ln until Close, listening again on ln's address whenever
// a Refuse fault ends. It returns nil after Close, or the error that stopped it:
// the listener failing by itself, or its address taken while refusing.
func (s *Server) Serve(ln net.Listener) error {
	l := s.add(ln, false)
	if l == nil {
		return nil
	}
	return s.run(l)
}

// Start is Serve in a goroutine of the server's own, which Close waits for.
// ln is registered before Start returns, so a Refuse right after it closes
// ln. Errors are those SetFault returns.
func (s *Server) Start(ln net.Listener) {
	if l := s.add(ln, true); l != nil {
		go func() {
			defer s.wg.Done()
			_ = s.run(l)
		}()
	}
}

// add registers ln; nil after Close (ln is closed then).
func (s *Server) add(ln net.Listener, own bool) *loop {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		ln.Close()
		return nil
	}
	l := &loop{addr: ln.Addr().String()}
	s.addr = l.addr
	s.loops[l] = true
	if s.fault == Refuse {
		// Refusing already: do not start answering.
		ln.Close()
		l.down = true
		l.holdPort()
	} else {
		s.listenLocked(l, ln)
	}
	if own {
		s.wg.Add(1)
	}
	return l
}

func (s *Server) listenLocked(l *loop, ln net.Listener) {
	if s.opt.Wrap != nil {
		ln = s.opt.Wrap(ln)
	}
	l.ln, l.down = ln, false
	if s.opt.HTTP != nil {
		l.srv = &http.Server{Handler: s.opt.HTTP, ReadHeaderTimeout: 10 * time.Second}
	}
}

func (s *Server) run(l *loop) error {
	defer func() {
		s.mu.Lock()
		delete(s.loops, l)
		s.mu.Unlock()
	}()
	for {
		s.mu.Lock()
		for l.down && l.err == nil && !s.closed {
			ch := s.changed
			s.mu.Unlock()
			<-ch
			s.mu.Lock()
		}
		ln, srv, err := l.ln, l.srv, l.err
		closed := s.closed
		s.mu.Unlock()
		switch {
		case closed:
			return nil
		case err != nil:
			return err
		}
		if srv != nil {
			err = srv.Serve(ln)
		} else {
			err = s.accept(l, ln)
		}
		s.mu.Lock()
		again := s.closed || l.down || l.ln != ln
		s.mu.Unlock()
		if !again {
			return err // the listener failed by itself
		}
	}
}

// accept hands each connection on ln to Conn until ln is closed.
func (s *Server) accept(l *loop, ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		s.mu.Lock()
		if s.closed || l.down || l.ln != ln {
			s.mu.Unlock()
			c.Close()
			continue // ln is closed too: Accept fails next
		}
		s.tracked[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.opt.Conn(c)
		}()
	}
}

// Track records a connection the server does not see, such as a hijacked
// WebSocket, so a refusal or Close drops it too. The returned function
// forgets it; it does not close it.
func (s *Server) Track(c io.Closer) (untrack func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
	} else {
		s.tracked[c] = true
	}
	return func() {
		s.mu.Lock()
		delete(s.tracked, c)
		s.mu.Unlock()
	}
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.tracked, c)
	s.mu.Unlock()
	c.Close()
}

// SetFault makes the device show f from now on. Refuse closes every
// listener and open connection; leaving Refuse listens again on the same
// addresses before SetFault returns. An address that cannot be listened on
// again ends its Serve with the error, which SetFault also returns. A
// change of fault cancels a DropAfter.
func (s *Server) SetFault(f Fault) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setFaultLocked(f)
}

func (s *Server) setFaultLocked(f Fault) error {
	if s.closed || s.fault == f {
		return nil
	}
	s.dropAfter = 0
	old := s.fault
	s.fault = f
	s.broadcastLocked()
	var errs []error
	for l := range s.loops {
		switch {
		case f == Refuse && !l.down:
			s.stopLocked(l)
			l.down = true
			l.holdPort()
		case old == Refuse && l.down:
			ln, err := net.Listen("tcp", l.addr)
			if err != nil {
				l.err = fmt.Errorf("%s: listening again on %s: %w", s.opt.Name, l.addr, err)
				errs = append(errs, l.err)
				continue
			}
			s.listenLocked(l, ln)
		}
	}
	if f == Refuse {
		s.closeTrackedLocked()
	}
	return errors.Join(errs...)
}

// DropAfter clears the fault and lets n more requests be admitted, then
// makes the device Unreachable: the nth is the last one answered.
func (s *Server) DropAfter(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.setFaultLocked(NoFault)
	s.dropAfter = n
	return err
}

// Fault is the fault shown now.
func (s *Server) Fault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
}

// Watch returns the fault shown now and a channel closed when it changes
// or the server closes.
func (s *Server) Watch() (Fault, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault, s.changed
}

// Admit counts a request and says whether to answer it. When not (the
// device hangs or is unreachable), the request is to be held unanswered
// until the returned channel closes: the fault changed or the server
// closed.
func (s *Server) Admit() (bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	switch s.fault {
	case Hang, Unreachable:
		return false, s.changed
	}
	if s.dropAfter > 0 {
		s.dropAfter--
		if s.dropAfter == 0 {
			// Cut off after this answer; the answer itself still goes out.
			s.fault = Unreachable
			s.broadcastLocked()
		}
	}
	return true, nil
}

// Requests counts the requests Admit was asked about.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Addr is the address of the last listener Serve or Start was given.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close stops serving: every listener and connection is closed, requests
// held by a fault are released, Serve returns nil, and Close waits for the
// connection handlers and Start's goroutines. A handler blocked on
// something else than its connection or Admit's channel must be released
// before Close.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for l := range s.loops {
		if !l.down {
			s.stopLocked(l)
		}
		_ = l.hold.Close()
	}
	s.closeTrackedLocked()
	s.broadcastLocked()
	s.mu.Unlock()
	s.wg.Wait()
}

// holdPort keeps l's port bound while it refuses, right after its listener
// closed: a port merely closed goes back to the kernel, and on a busy
// machine another program could take it, answering in the device's place
// or making listening again fail. Where it cannot be held, it is only
// closed, as before.
func (l *loop) holdPort() {
	if l.hold != nil {
		return
	}
	if p, err := porthold.Hold(l.addr); err == nil {
		l.hold = p
	}
}

func (s *Server) stopLocked(l *loop) {
	l.ln.Close()
	if l.srv != nil {
		l.srv.Close()
	}
}

func (s *Server) closeTrackedLocked() {
	for c := range s.tracked {
		c.Close()
	}
}

func (s *Server) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}
