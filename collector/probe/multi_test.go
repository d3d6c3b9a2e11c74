package probe

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restartinator/restartinator/config"
)

func TestJudge(t *testing.T) {
	up := Result{Success: true}
	down := Result{Err: errors.New("connection refused")}
	targets := []string{"a:53", "b:53", "c:53"}
	for _, tc := range []struct {
		name string
		rs   []Result
		need int
		ok   bool
		msg  string
	}{
		{"all: all answer", []Result{up, up, up}, 3, true, ""},
		{"all: one fails", []Result{up, down, up}, 3, false, "2 of 3 targets answered, 3 needed (b:53: connection refused)"},
		{"any: one answers", []Result{down, down, up}, 1, true, ""},
		{"any: none answers", []Result{down, down, down}, 1, false, "0 of 3 targets answered, 1 needed (a:53: connection refused; b:53: connection refused; c:53: connection refused)"},
		{"2 of 3: two answer", []Result{up, down, up}, 2, true, ""},
		{"2 of 3: one answers", []Result{down, down, up}, 2, false, "1 of 3 targets answered, 2 needed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Judge(tc.rs, targets, tc.need, time.Millisecond)
			if r.Success != tc.ok {
				t.Fatalf("success %v, want %v (%v)", r.Success, tc.ok, r.Err)
			}
			if !tc.ok && !strings.Contains(r.Err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", r.Err, tc.msg)
			}
		})
	}
}

// toggler is a loopback TCP service that can stop and start listening on
// its port: a target that flaps.
type toggler struct {
	addr string
	mu   sync.Mutex
	ln   net.Listener
}

func newToggler(t *testing.T) *toggler {
	t.Helper()
	g := &toggler{}
	g.set(t, true, "127.0.0.1:0")
	t.Cleanup(func() { g.set(t, false, "") })
	return g
}

func (g *toggler) set(t *testing.T, up bool, addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	if !up {
		return
	}
	if addr == "" {
		addr = g.addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", addr, err)
	}
	g.ln, g.addr = ln, ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// Three real loopback targets flap; the device is judged by require.
func TestMultiRequireWithFlappingTargets(t *testing.T) {
	ts := []*toggler{newToggler(t), newToggler(t), newToggler(t)}
	for _, tc := range []struct {
		require string
		need    int
	}{{"all", 3}, {"any", 1}, {"2", 2}} {
		t.Run("require "+tc.require, func(t *testing.T) {
			d := &config.DeviceConfig{Name: "internet", Settings: config.DefaultDeviceSettings, RequireN: tc.need}
			for _, g := range ts {
				d.Probes = append(d.Probes, config.ProbeConfig{Type: config.ProbeTCP, Target: g.addr})
			}
			m, err := NewMulti(d, Options{})
			if err != nil {
				t.Fatal(err)
			}
			// Each round sets which targets are up, then probes.
			for round, ups := range [][3]bool{
				{true, true, true}, {true, false, true}, {false, false, true}, {false, false, false}, {true, true, false}, {true, true, true},
			} {
				n := 0
				for i, up := range ups {
					ts[i].set(t, up, "")
					if up {
						n++
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				r := m.Probe(ctx)
				cancel()
				if want := n >= tc.need; r.Success != want {
					t.Errorf("round %d, %d of 3 up: success %v, want %v (%v)", round, n, r.Success, want, r.Err)
				}
				last := m.Last()
				for i, up := range ups {
					if last[i].Success != up {
						t.Errorf("round %d: target %d success %v, want %v", round, i, last[i].Success, up)
					}
				}
			}
		})
	}
	m, err := NewMulti(&config.DeviceConfig{Name: "x", RequireN: 1, Settings: config.DefaultDeviceSettings,
		Probes: []config.ProbeConfig{{Type: config.ProbeTCP, Target: ts[0].addr}, {Type: config.ProbeHTTP, URL: "http://" + ts[1].addr + "/"}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Type() != "multi" || m.Target() != "1 of "+ts[0].addr+", http://"+ts[1].addr+"/" {
		t.Errorf("mixed types: type %q, target %q", m.Type(), m.Target())
	}
}
