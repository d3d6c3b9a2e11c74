package reliability

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/notify"
	"github.com/restartinator/restartinator/notify/email"
	"github.com/restartinator/restartinator/notify/smtptest"
)

// timedNotifier measures how long Notify holds its caller (a probe or a
// cycle) up.
type timedNotifier struct {
	next  event.Notifier
	mu    sync.Mutex
	calls int
	worst time.Duration
}

func (n *timedNotifier) Notify(e event.Event) {
	began := time.Now()
	n.next.Notify(e)
	d := time.Since(began)
	n.mu.Lock()
	n.calls++
	n.worst = max(n.worst, d)
	n.mu.Unlock()
}

// TestSMTPDownFiveMinutes is issue 9 item 9: the mail server is down for 5
// minutes while devices fail, are cycled and recover, 51 events in all.
// Every event must reach the server exactly once after it comes back, and
// no cycle may start or end later than it would with mail working. The
// supervisor and the mailer each run on a fake clock, advanced together.
func TestSMTPDownFiveMinutes(t *testing.T) {
	enabled(t)
	const (
		outage    = 5 * time.Minute
		cycleTime = 5500 * time.Millisecond
		stagger   = 7 * time.Second // between devices going down
	)
	devices := max(1, scaled(51)/3) // offline, cycle_started, recovered each
	began := time.Now()
	r := newRig(t, rigOptions{
		devices:  devices,
		global:   "max_concurrent_cycles: 20, guard: {max_failing_ratio: 1}",
		settings: "check_interval: 10s, retry_interval: 1s, retries: 3, timeout: 1s, cycle_time: 5500ms, boot_time: 60s, max_cycles: 3, cycle_window: 1h",
	})
	srv := smtptest.NewServer(t, smtptest.Options{Mode: smtptest.Plain})
	mclk := clock.NewFake(t0)
	cfg := config.DefaultEmail
	// The mailer reaches the server through a proxy on a port outside the
	// ephemeral range, and the outage is the proxy's: the server's own
	// port (ephemeral) may be taken by a probe's source port while it is
	// closed, and could then not be reopened.
	px := newTCPProxy(t, srv.Addr)
	cfg.SMTPHost = px.addr
	cfg.StartTLS = config.StartTLSOff
	cfg.EmailFrom = "Restartinator <no-reply@example.com>"
	cfg.EmailTo = config.StringList{"ops@example.com"}
	cfg.Timeout = config.Duration(5 * time.Second)
	// One line per event, to account for each.
	cfg.BodyTemplate = "{{ range .Events }}EVENT {{ .Device }} {{ .Kind }} {{ .Time.UnixNano }}\n{{ end }}"
	mailer, err := email.New(&cfg, notify.Options{Clock: mclk, Store: r.store, Hostname: "reliability", Logger: r.logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); mailer.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	timed := &timedNotifier{next: mailer}
	r.mu.Lock()
	r.forward = timed
	r.onUpdate = func(u actuator.Update) {
		if u.Phase == actuator.PhaseBooting { // power back brings it back
			for _, d := range u.Request.Devices {
				r.setUp(d, true)
			}
		}
	}
	r.mu.Unlock()
	tick := func() {
		r.tick(time.Second)
		mclk.Advance(time.Second)
	}
	for range 11 {
		tick()
	}
	for name, s := range r.snapshot() {
		if s.State != collector.StateUp {
			t.Fatalf("%s is %s before the outage", name, s.State)
		}
	}

	px.stop()
	outageAt := r.clk.Now()
	for elapsed := time.Duration(0); elapsed < outage; elapsed += time.Second {
		if i := int(elapsed / stagger); elapsed%stagger == 0 && i < devices {
			r.setUp(r.names[i], false)
		}
		tick()
	}
	during := len(r.allEvents())
	queued := queueLength(t, mailer)
	received := len(srv.Received())
	px.start()
	backAt := r.clk.Now()

	// Deliver: the next retry comes after the backoff (at most 5 minutes).
	var delivered time.Duration
	for elapsed := time.Duration(0); ; elapsed += time.Second {
		tick()
		if queueLength(t, mailer) == 0 && accounted(srv.Received()) >= len(r.allEvents()) {
			delivered = elapsed
			break
		}
		if elapsed > 15*time.Minute {
			t.Fatalf("mail not delivered 15 minutes after the server came back: %d events, %d accounted for in %d mails, queue %v",
				len(r.allEvents()), accounted(srv.Received()), len(srv.Received()), queueLength(t, mailer))
		}
	}

	// Zero lost, none twice: every event is in exactly one mail.
	want := map[string]int{}
	for _, e := range r.allEvents() {
		want[eventKey(e.Device, string(e.Kind), e.Time.UnixNano())]++
	}
	got := map[string]int{}
	ids := map[string]bool{}
	mails := srv.Received()
	for _, m := range mails {
		if ids[m.MessageID] {
			t.Errorf("Message-ID %s delivered twice", m.MessageID)
		}
		ids[m.MessageID] = true
		for _, line := range strings.Split(m.Body, "\n") {
			f := strings.Fields(line)
			if len(f) == 4 && f[0] == "EVENT" {
				got[eventKey(f[1], f[2], parseInt(f[3]))]++
			}
		}
	}
	lost, twice := 0, 0
	for k, n := range want {
		switch {
		case got[k] < n:
			lost++
			t.Errorf("event %s never mailed", k)
		case got[k] > n:
			twice++
			t.Errorf("event %s mailed %d times", k, got[k])
		}
	}
	for k := range got {
		if want[k] == 0 {
			t.Errorf("mailed event %s never happened", k)
		}
	}

	// No cycle delayed: each started in the instant its device went
	// offline and ended when cycle_time had passed.
	cyc := r.updatesOf(actuator.PhaseCycling)
	boot := r.updatesOf(actuator.PhaseBooting)
	if len(cyc) != devices || len(boot) != devices {
		t.Errorf("%d cycles started and %d ended, want %d", len(cyc), len(boot), devices)
	}
	var worstLate time.Duration
	for _, u := range cyc {
		name := u.Request.Devices[0]
		off := r.eventsOf(event.Offline, name)
		if len(off) != 1 {
			t.Errorf("%s: %d offline events", name, len(off))
			continue
		}
		if late := u.Time.Sub(off[0].Time); late != 0 {
			t.Errorf("%s: cycle started %s after the device went offline", name, late)
		}
		for _, b := range boot {
			if b.Request.Devices[0] == name {
				late := b.Time.Sub(u.Time) - cycleTime
				worstLate = max(worstLate, late)
				if late < 0 || late >= time.Second {
					t.Errorf("%s: power back %s after it went off, want cycle_time %s (to the 1s step)", name, b.Time.Sub(u.Time), cycleTime)
				}
			}
		}
	}
	timed.mu.Lock()
	calls, worst := timed.calls, timed.worst
	timed.mu.Unlock()
	report(t, "SMTP down %s (fake clock) from %s: %d events during the outage (%d devices offline → cycled → recovered), %d mails queued, %d received meanwhile",
		outage, outageAt.Sub(t0), during, devices, int(queued), received)
	report(t, "server back at %s: all %d events delivered %s later in %d mails; lost %d, mailed twice %d, duplicate Message-IDs %d",
		backAt.Sub(t0), len(want), delivered, len(mails), lost, twice, len(mails)-len(ids))
	report(t, "cycles %d, each started the instant its device went offline, power back within cycle_time + %s (the 1s step); Notify held its caller %s at worst over %d calls; %s real time",
		len(cyc), worstLate, worst.Round(time.Microsecond), calls, time.Since(began).Round(time.Millisecond))
}

// tcpProxy forwards a loopback port outside the ephemeral range to target;
// stop refuses connections and cuts those open, start serves again.
type tcpProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln := listenOutsideEphemeral(t)
	p := &tcpProxy{t: t, addr: ln.Addr().String(), target: target, conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *tcpProxy) pipe(c net.Conn) {
	u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // stopped meanwhile
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conns[c], p.conns[u] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(u, c); done <- struct{}{} }()
	go func() { io.Copy(c, u); done <- struct{}{} }()
	<-done
	c.Close()
	u.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

func (p *tcpProxy) start() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: listening again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

func eventKey(device, kind string, nanos int64) string {
	return fmt.Sprintf("%s/%s@%d", device, kind, nanos)
}

func parseInt(s string) int64 {
	var n int64
	fmt.Sscan(s, &n)
	return n
}

// accounted counts the event lines in mails.
func accounted(mails []*smtptest.Message) int {
	n := 0
	for _, m := range mails {
		n += strings.Count(m.Body, "EVENT ")
	}
	return n
}

// queueLength is the mailer's restartinator_notification_queue_length.
func queueLength(t *testing.T, m *email.Mailer) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "restartinator_notification_queue_length" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no restartinator_notification_queue_length")
	return 0
}
