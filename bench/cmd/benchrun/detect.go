package main

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
)

// Detection latency: a device in mode auto, powered by a simulated Kasa plug
// (kasasim, in this process, so the relay can be watched every millisecond),
// stops answering; the time until the plug's relay goes off is measured.
//
// "Stops answering" is exact: the device is armed, and the first probe that
// arrives after arming finds it down. For the HTTP kinds that instant is the
// arrival of the first failing probe; for the TCP kind, the listener is
// closed right after it accepted a successful probe, so the first failing
// probe comes one check_interval later.

const (
	detRetries       = 3
	detCheckInterval = 2 * time.Second
	detRetryInterval = time.Second
	detTimeout       = time.Second
)

type detectKind struct {
	Name     string
	What     string
	Expected time.Duration // what the design promises for this failure
	Formula  string
}

var detectKinds = []detectKind{
	{"http-503", "HTTP probe; the device answers 503 at once (a probe that fails fast)",
		(detRetries - 1) * detRetryInterval, "(retries-1)*retry_interval"},
	{"http-hang", "HTTP probe; the device accepts the request and never answers (each probe runs into its timeout)",
		detTimeout + (detRetries-1)*detRetryInterval, "timeout + (retries-1)*retry_interval"},
	{"tcp-refused", "TCP probe; the listener closes right after a successful probe (connection refused from then on)",
		detCheckInterval + (detRetries-1)*detRetryInterval, "check_interval + (retries-1)*retry_interval"},
}

type detectTrial struct {
	Kind      detectKind
	Device    string
	Latency   time.Duration // device down -> relay off
	Failing   []time.Duration
	TimedOut  bool
	Overshoot time.Duration
}

type detectResult struct {
	trials []detectTrial
	cfg    string
}

// simDevice is a device that answers until armed, then goes down at the
// next probe and records when.
type simDevice struct {
	name, kind string
	ln         net.Listener
	port       int
	mu         sync.Mutex
	armed      bool
	down       bool
	downAt     time.Time
	failing    []time.Time // arrivals of probes while down (HTTP kinds)
	probes     int
	srv        *http.Server
	hang       chan struct{}
}

func newSimDevice(name, kind string) *simDevice {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("%v", err)
	}
	d := &simDevice{name: name, kind: kind, ln: ln, port: ln.Addr().(*net.TCPAddr).Port, hang: make(chan struct{})}
	if strings.HasPrefix(kind, "http") {
		d.srv = &http.Server{Handler: http.HandlerFunc(d.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = d.srv.Serve(ln) }()
		return d
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
			d.mu.Lock()
			d.probes++
			if d.armed && !d.down {
				d.ln.Close()
				d.down, d.downAt = true, time.Now()
			}
			d.mu.Unlock()
		}
	}()
	return d
}

func (d *simDevice) serveHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	d.mu.Lock()
	d.probes++
	if d.armed && !d.down {
		d.down, d.downAt = true, now
	}
	down := d.down
	if down {
		d.failing = append(d.failing, now)
	}
	d.mu.Unlock()
	if !down {
		w.WriteHeader(200)
		return
	}
	if d.kind == "http-hang" {
		select {
		case <-r.Context().Done():
		case <-d.hang:
		}
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
}

func (d *simDevice) close() {
	close(d.hang)
	if d.srv != nil {
		_ = d.srv.Close()
	}
	d.ln.Close()
}

func runDetect(b binaries) *detectResult {
	perKind := 3
	if opt.quick {
		perKind = 2
	}
	type unit struct {
		kind  detectKind
		dev   *simDevice
		plug  *kasasim.Plug
		offAt time.Time
	}
	var units []*unit
	defer func() {
		for _, u := range units {
			u.dev.close()
			u.plug.Close()
		}
	}()
	dir := filepath.Join(opt.work, "detect-restartinator")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  state_file: %s\n  max_concurrent_cycles: %d\n  guard: {max_failing_ratio: 1}\n",
		filepath.Join(dir, "state.json"), perKind*len(detectKinds))
	fmt.Fprintf(&cfg, "defaults:\n  check_interval: %s\n  retry_interval: %s\n  retries: %d\n  timeout: %s\n  cycle_time: 1s\n  boot_time: 1m\n",
		detCheckInterval, detRetryInterval, detRetries, detTimeout)
	var plugs, devices strings.Builder
	for _, k := range detectKinds {
		for i := 0; i < perKind; i++ {
			name := fmt.Sprintf("%s-%d", k.Name, i+1)
			p, err := kasasim.Start(kasasim.Options{Model: "HS100", Listen: "127.0.0.1:0", Protocol: "xor"})
			if err != nil {
				fatalf("starting a simulated plug: %v", err)
			}
			d := newSimDevice(name, k.Name)
			units = append(units, &unit{kind: k, dev: d, plug: p})
			fmt.Fprintf(&plugs, "  - {name: plug-%s, type: kasa, host: 127.0.0.1, port: %d, protocol: xor}\n", name, p.Port())
			if strings.HasPrefix(k.Name, "http") {
				fmt.Fprintf(&devices, "  - {name: %s, probe: {type: http, url: \"http://127.0.0.1:%d/\"}, plug: plug-%s, mode: auto}\n", name, d.port, name)
			} else {
				fmt.Fprintf(&devices, "  - {name: %s, host: 127.0.0.1, port: %d, plug: plug-%s, mode: auto}\n", name, d.port, name)
			}
		}
	}
	fmt.Fprintf(&cfg, "plugs:\n%sdevices:\n%s", plugs.String(), devices.String())
	res := &detectResult{cfg: cfg.String()}
	rp, _, _ := startRestartinator(b, "detect-restartinator", res.cfg)
	defer rp.stop()

	// Every device answered at least two probes: its state is up and its
	// schedule runs.
	deadline := time.Now().Add(30 * time.Second)
	for _, u := range units {
		for {
			u.dev.mu.Lock()
			n := u.dev.probes
			u.dev.mu.Unlock()
			if n >= 2 {
				break
			}
			if time.Now().After(deadline) {
				fatalf("detection: device %s was not probed twice in 30s:\n%s", u.dev.name, rp.tail())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !u.plug.On(0) {
			fatalf("detection: plug of %s is off before the test", u.dev.name)
		}
	}
	var wg sync.WaitGroup
	for _, u := range units {
		u.dev.mu.Lock()
		u.dev.armed = true
		u.dev.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			end := time.Now().Add(30 * time.Second)
			for time.Now().Before(end) {
				if !u.plug.On(0) {
					u.offAt = time.Now()
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	for _, u := range units {
		u.dev.mu.Lock()
		t := detectTrial{Kind: u.kind, Device: u.dev.name}
		if u.offAt.IsZero() || !u.dev.down {
			t.TimedOut = true
		} else {
			t.Latency = u.offAt.Sub(u.dev.downAt)
			t.Overshoot = t.Latency - u.kind.Expected
			for _, f := range u.dev.failing {
				t.Failing = append(t.Failing, f.Sub(u.dev.downAt))
			}
		}
		u.dev.mu.Unlock()
		res.trials = append(res.trials, t)
	}
	sort.SliceStable(res.trials, func(i, j int) bool { return res.trials[i].Device < res.trials[j].Device })
	return res
}
