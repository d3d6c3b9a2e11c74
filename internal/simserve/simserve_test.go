package simserve

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func serve(t *testing.T, s *Server, ln net.Listener) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() { s.Close() })
	return done
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })

func get(addr string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// refused fails the test unless connecting to addr is refused.
func refused(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s accepted a connection; want it refused", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v; want connection refused", addr, err)
	}
}

func TestRefuseAndListenAgain(t *testing.T) {
	s := New(Options{Name: "test simulator", HTTP: hello})
	ln := listen(t)
	addr := ln.Addr().String()
	s.Start(ln) // registered before it returns, so no wait is needed
	if got, err := get(addr); err != nil || got != "hello" {
		t.Fatalf("before: %q %v", got, err)
	}
	// A kept-alive connection dies with the refusal, not only the listener.
	kept, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	io.WriteString(kept, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(kept)
	if resp, err := http.ReadResponse(br, nil); err != nil {
		t.Fatal(err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	if err := s.SetFault(Refuse); err != nil {
		t.Fatal(err)
	}
	if f := s.Fault(); f != Refuse {
		t.Errorf("Fault() = %v after SetFault(Refuse)", f)
	}
	refused(t, addr)
	kept.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("kept-alive connection after Refuse: %v; want it closed", err)
	}

	// Listening again is done when SetFault returns.
	if err := s.SetFault(NoFault); err != nil {
		t.Fatal(err)
	}
	if got, err := get(addr); err != nil || got != "hello" {
		t.Fatalf("after: %q %v", got, err)
	}
	if s.Addr() != addr {
		t.Errorf("Addr() = %s, want %s", s.Addr(), addr)
	}
	s.Close()
	refused(t, addr)
}

func TestServeReturnsNilAfterClose(t *testing.T) {
	s := New(Options{Name: "test simulator", HTTP: hello})
	ln := listen(t)
	done := serve(t, s, ln)
	// Close while refusing too: Serve waits for the refusal to end.
	s.SetFault(Refuse)
	s.Close()
	if err := wait(t, done); err != nil {
		t.Errorf("Serve after Close = %v, want nil", err)
	}
	// A listener given after Close is closed, not served.
	ln2 := listen(t)
	if err := s.Serve(ln2); err != nil {
		t.Errorf("Serve after Close = %v", err)
	}
	refused(t, ln2.Addr().String())
}

func TestServeWhileRefusing(t *testing.T) {
	s := New(Options{Name: "test simulator", HTTP: hello})
	s.SetFault(Refuse)
	ln := listen(t)
	addr := ln.Addr().String()
	s.Start(ln)
	refused(t, addr)
	s.SetFault(NoFault)
	if got, err := get(addr); err != nil || got != "hello" {
		t.Fatalf("after the refusal: %q %v", got, err)
	}
	s.Close()
}

// The port taken by someone else while refusing: SetFault and Serve
// both say so.
func TestListenAgainFails(t *testing.T) {
	s := New(Options{Name: "test simulator", HTTP: hello})
	ln := listen(t)
	addr := ln.Addr().String()
	done := serve(t, s, ln)
	s.SetFault(Refuse)
	// Where the port cannot be held (elsewhere than Linux, or the hold
	// failed) another program can take it while the simulator refuses:
	// drop the hold to get there.
	s.mu.Lock()
	for l := range s.loops {
		_ = l.hold.Close()
		l.hold = nil
	}
	s.mu.Unlock()
	// The closed listener's socket goes only once its Accept has returned.
	var thief net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); thief == nil; time.Sleep(time.Millisecond) {
		if thief, err = net.Listen("tcp", addr); err != nil && time.Now().After(deadline) {
			t.Fatalf("could not take the released port for the test: %v", err)
		}
	}
	defer thief.Close()
	err = s.SetFault(NoFault)
	want := "test simulator: listening again on " + addr + ": "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("SetFault(NoFault) = %v, want %q…", err, want)
	}
	if err := wait(t, done); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Serve = %v, want %q…", err, want)
	}
}

func TestRawConnections(t *testing.T) {
	var handled atomic.Int32
	s := New(Options{Name: "test simulator", Conn: func(c net.Conn) {
		handled.Add(1)
		io.Copy(c, c) // echo until the connection closes
	}})
	ln := listen(t)
	addr := ln.Addr().String()
	s.Start(ln)
	echo := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "ping")
		b := make([]byte, 4)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
			t.Fatalf("echo: %q %v", b, err)
		}
		return c
	}
	c := echo()
	s.SetFault(Refuse)
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("open connection still answers after Refuse")
	}
	c.Close()
	refused(t, addr)
	s.SetFault(NoFault)
	c = echo()
	defer c.Close()
	// Close closes the connection and waits for its handler: no handler
	// runs once Close has returned.
	s.Close()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("open connection still answers after Close")
	}
	if n := handled.Load(); n != 2 {
		t.Errorf("%d connections handled, want 2", n)
	}
}

type closer struct{ closed atomic.Bool }

func (c *closer) Close() error { c.closed.Store(true); return nil }

func TestTrack(t *testing.T) {
	s := New(Options{Name: "test simulator", HTTP: hello})
	s.Start(listen(t))
	dropped, forgotten := &closer{}, &closer{}
	s.Track(dropped)
	s.Track(forgotten)()
	s.SetFault(Refuse)
	if !dropped.closed.Load() || forgotten.closed.Load() {
		t.Errorf("after Refuse: tracked closed %v (want true), untracked closed %v (want false)", dropped.closed.Load(), forgotten.closed.Load())
	}
	s.Close()
	late := &closer{}
	s.Track(late)
	if !late.closed.Load() {
		t.Error("a connection tracked after Close stays open")
	}
}

func TestNewNeedsOneHandler(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with neither HTTP nor Conn did not panic")
		}
	}()
	New(Options{Name: "x"})
}

// A hung device holds each request until the fault changes; DropAfter
// answers n more, then nothing.
func TestHangAndDropAfter(t *testing.T) {
	s := New(Options{Name: "test simulator", HTTP: hello})
	admit := func() bool { ok, _ := s.Admit(); return ok }
	// answered is how many of n requests are admitted.
	answered := func(n int) int {
		k := 0
		for range n {
			if admit() {
				k++
			}
		}
		return k
	}
	s.SetFault(Hang)
	ok, held := s.Admit()
	if ok {
		t.Fatal("a hung device admitted a request")
	}
	select {
	case <-held:
		t.Fatal("the held request was released while still hanging")
	default:
	}
	s.DropAfter(2)
	select {
	case <-held:
	default:
		t.Fatal("the held request was not released when the fault changed")
	}
	if f, changed := s.Watch(); f != NoFault {
		t.Fatalf("fault after DropAfter = %v, want none", f)
	} else {
		if n := answered(2); n != 2 {
			t.Fatalf("DropAfter(2) answered %d of two requests", n)
		}
		select {
		case <-changed:
		default:
			t.Error("dropping off the network did not signal a change")
		}
	}
	if admit() || s.Fault() != Unreachable {
		t.Errorf("third request after DropAfter(2): admitted, fault %v; want held, unreachable", s.Fault())
	}
	if n := s.Requests(); n != 4 {
		t.Errorf("Requests() = %d, want 4 (held ones count)", n)
	}
	// Setting the same fault again keeps a DropAfter in progress.
	s.DropAfter(2)
	s.SetFault(NoFault)
	if n := answered(3); n != 2 {
		t.Errorf("SetFault(NoFault) during DropAfter(2): %d of three requests answered, want 2", n)
	}
	// Close releases held requests.
	_, held = s.Admit()
	s.Close()
	select {
	case <-held:
	default:
		t.Error("Close did not release a held request")
	}
}
