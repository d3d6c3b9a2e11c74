package collector

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/state"
)

// schedBound is the real-time safety net of every wait here.
const schedBound = 20 * time.Second

// ran is one run of an entry.
type ran struct {
	e       *timerEntry
	due, at time.Time
}

// recv takes n runs from ch, failing after schedBound.
func recv(t *testing.T, ch <-chan ran, n int) []ran {
	t.Helper()
	out := make([]ran, 0, n)
	deadline := time.After(schedBound)
	for len(out) < n {
		select {
		case r := <-ch:
			out = append(out, r)
		case <-deadline:
			t.Fatalf("%d of %d runs within %s", len(out), n, schedBound)
		}
	}
	return out
}

// advanceArmed moves the clock once the scheduler waits on its timer again.
// A dispatch still finishing computes its next wake from the clock: an
// Advance in between would push that wake a step late.
func advanceArmed(t *testing.T, clk *clock.Fake, d time.Duration) {
	t.Helper()
	armed := make(chan struct{})
	go func() { clk.WaitForTimers(1); close(armed) }()
	select {
	case <-armed:
	case <-time.After(schedBound):
		t.Fatalf("the scheduler did not arm its timer within %s", schedBound)
	}
	clk.Advance(d)
}

// 10,000 entries spread over a 10 s interval, rescheduled at due +=
// interval: over ten intervals, advanced in 100 ms steps, each runs once
// per interval, in the step its due time falls in, and its due times stay
// on their grid (no drift).
func TestSchedulerTenThousandOnTimeNoDrift(t *testing.T) {
	const n, iv, step = 10000, 10 * time.Second, 100 * time.Millisecond
	clk := clock.NewFake(st0)
	runs := make(chan ran, n)
	var s *scheduler
	s = newScheduler(clk, 256, func(e *timerEntry, due time.Time) {
		runs <- ran{e, due, clk.Now()}
		s.schedule(e, due.Add(iv))
	})
	defer s.close()
	es := make([]*timerEntry, n)
	offset := map[*timerEntry]time.Duration{}
	first := make([]time.Time, n)
	for i := range es {
		es[i] = &timerEntry{idx: -1}
		offset[es[i]] = time.Duration(i+1) * iv / n // in (0, iv]
		first[i] = st0.Add(offset[es[i]])
	}
	s.scheduleMany(es, first)
	count := map[*timerEntry]int{}
	for k := range int(10 * iv / step) {
		advanceArmed(t, clk, step)
		end := time.Duration(k+1) * step
		want := 0
		for _, e := range es {
			// Due at offset + j*iv: is one in (end-step, end]?
			if x := (end - offset[e]) % iv; end >= offset[e] && x < step {
				want++
			}
		}
		for _, r := range recv(t, runs, want) {
			if late := r.at.Sub(r.due); late < 0 || late >= step {
				t.Fatalf("due +%s ran at +%s", r.due.Sub(st0), r.at.Sub(st0))
			}
			if (r.due.Sub(st0)-offset[r.e])%iv != 0 {
				t.Fatalf("drifted: due +%s, on the grid of +%s", r.due.Sub(st0), offset[r.e])
			}
			count[r.e]++
		}
		select {
		case r := <-runs:
			t.Fatalf("an extra run in step %d: due +%s", k, r.due.Sub(st0))
		default:
		}
	}
	for i, e := range es {
		if count[e] != 10 {
			t.Fatalf("entry %d ran %d times in 10 intervals", i, count[e])
		}
	}
}

// Entries that hang (a device that never answers until its timeout) hold
// a worker each; the others keep running on time while workers are left,
// and no more than the bound ever run at once.
func TestSchedulerHungEntriesDoNotStarveOthers(t *testing.T) {
	const n, hung, workers = 1000, 100, 150
	clk := clock.NewFake(st0)
	release := make(chan struct{})
	runs := make(chan ran, n)
	var running, most atomic.Int64
	var s *scheduler
	s = newScheduler(clk, workers, func(e *timerEntry, due time.Time) {
		r := running.Add(1)
		for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
		}
		defer running.Add(-1)
		if e.cron { // "cron" marks the hung ones here
			<-release
			return
		}
		runs <- ran{e, due, clk.Now()}
		s.schedule(e, due.Add(time.Second))
	})
	defer s.close()
	defer close(release)
	es := make([]*timerEntry, n)
	at := make([]time.Time, n)
	for i := range es {
		es[i] = &timerEntry{idx: -1, cron: i < hung}
		at[i] = st0.Add(time.Duration(i) * time.Second / n)
	}
	s.scheduleMany(es, at)
	for range 5 {
		advanceArmed(t, clk, time.Second)
		// Every healthy entry runs in every second, hung ones or not.
		for _, r := range recv(t, runs, n-hung) {
			if r.at.Sub(r.due) > time.Second {
				t.Fatalf("due %s ran at %s", r.due.Sub(st0), r.at.Sub(st0))
			}
		}
	}
	if m := most.Load(); m > workers {
		t.Fatalf("%d ran at once, bound %d", m, workers)
	}
}

// More hung entries than workers: the bound holds, the others wait for a
// free worker (late, not lost), and close returns though workers are busy.
func TestSchedulerBoundAndClose(t *testing.T) {
	const workers = 4
	clk := clock.NewFake(st0)
	release := make(chan struct{})
	started := make(chan *timerEntry, 10)
	s := newScheduler(clk, workers, func(e *timerEntry, due time.Time) {
		started <- e
		<-release
	})
	es := make([]*timerEntry, 8)
	at := make([]time.Time, len(es))
	for i := range es {
		es[i] = &timerEntry{idx: -1}
		at[i] = st0.Add(time.Duration(i+1) * time.Millisecond)
	}
	s.scheduleMany(es, at)
	clk.Advance(time.Second)
	got := map[*timerEntry]bool{}
	for range workers {
		select {
		case e := <-started:
			got[e] = true
		case <-time.After(schedBound):
			t.Fatal("the first workers never started")
		}
	}
	select {
	case e := <-started:
		t.Fatalf("a fifth ran with %d workers busy: %v", workers, e)
	default:
	}
	for i := range workers {
		if !got[es[i]] {
			t.Fatalf("not the earliest entries ran first: %v", got)
		}
	}
	// Workers free up: the rest run (handed out in due order; their
	// goroutines start in any).
	close(release)
	for range len(es) - workers {
		select {
		case e := <-started:
			got[e] = true
		case <-time.After(schedBound):
			t.Fatal("the waiting entries never ran")
		}
	}
	if len(got) != len(es) {
		t.Fatalf("%d of %d entries ran", len(got), len(es))
	}
	done := make(chan struct{})
	go func() { s.close(); close(done) }()
	select {
	case <-done:
	case <-time.After(schedBound):
		t.Fatal("close hung")
	}
}

// fleetConfig is n TCP devices on a port nothing listens on, every 10 s.
func fleetConfig(t *testing.T, n int, extra func(i int) string) *config.Config {
	t.Helper()
	var b strings.Builder
	b.WriteString("global: {guard: {max_failing_ratio: 1}}\ndefaults: {check_interval: 10s, retry_interval: 10s, timeout: 2s}\ndevices:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: d%05d, host: 127.0.0.1, port: 9, mode: monitor%s}\n", i, extra(i))
	}
	cfg, err := config.Load([]byte(b.String()), "fleet.yml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Reloading 10,000 devices keeps every unchanged device as it is, state
// and place in the schedule; a changed one starts over; Stop leaves
// nothing queued.
func TestReloadTenThousandKeepsStateAndDueTimes(t *testing.T) {
	clk := clock.NewFake(st0)
	store, err := state.Open(filepath.Join(t.TempDir(), "state.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := New(t.Context(), Options{Clock: clk, State: store, Logger: slog.New(slog.DiscardHandler)})
	const n = 10000
	if err := s.Apply(fleetConfig(t, n, func(int) string { return "" })); err != nil {
		t.Fatal(err)
	}
	if w := s.sched.workers(); w < n*2/10 {
		t.Fatalf("%d workers for %d devices probing every 10 s with a 2 s timeout: not above rate x timeout", w, n)
	}
	s.mu.RLock()
	before := map[string]*device{}
	due := map[string]time.Time{}
	for name, d := range s.devices {
		before[name] = d
		due[name] = d.probeT.at
		d.mu.Lock()
		d.m.State, d.m.Failures = StateFailing, 2 // as if probed
		d.mu.Unlock()
	}
	s.mu.RUnlock()
	changed := fleetConfig(t, n, func(i int) string {
		if i == 7 {
			return ", retries: 5"
		}
		return ""
	})
	if err := s.Apply(changed); err != nil {
		t.Fatal(err)
	}
	s.mu.RLock()
	for name, d := range s.devices {
		if name == "d00007" {
			if d == before[name] || d.m.State != StateUnknown {
				t.Errorf("changed device kept: %+v", d.m)
			}
			continue
		}
		d.mu.Lock()
		st, f := d.m.State, d.m.Failures
		d.mu.Unlock()
		if d != before[name] || st != StateFailing || f != 2 || !d.probeT.at.Equal(due[name]) || d.probeT.idx < 0 {
			t.Fatalf("%s: after the reload state %s, %d failures, due %s (was %s), queued %v", name, st, f, d.probeT.at, due[name], d.probeT.idx >= 0)
		}
	}
	s.mu.RUnlock()
	if got := s.sched.h.Len(); got != n {
		t.Fatalf("%d entries queued after the reload, want %d", got, n)
	}
	// The exposition, streamed in chunks, has every device's series whole.
	out := string(s.WriteMetrics(nil))
	if got := strings.Count(out, "\nrestartinator_device_state_code{device=\"d"); got != n || !strings.HasSuffix(out, "} 2\n") ||
		strings.Count(out, "\n") != 3*n+6 {
		t.Fatalf("exposition of %d devices: %d state codes, %d lines", n, got, strings.Count(out, "\n"))
	}
	s.Stop()
	if got := s.sched.h.Len(); got != 0 {
		t.Fatalf("%d entries queued after Stop", got)
	}
}
