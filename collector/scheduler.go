package collector

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
)

// timerEntry is one thing due at a time: a device's next probe or its next
// scheduled reboot. Each device owns its two entries; the heap points at
// them, so queueing allocates nothing.
type timerEntry struct {
	at   time.Time
	idx  int32 // position in the heap; -1 while not queued
	cron bool
	d    *device
}

type timerHeap []*timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = int32(i), int32(j)
}
func (h *timerHeap) Push(x any) {
	e := x.(*timerEntry)
	e.idx = int32(len(*h))
	*h = append(*h, e)
}
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.idx = -1
	return e
}

// scheduler is the one timer of the supervisor: a min-heap of due times,
// one clock timer armed for the earliest, and a bounded pool of workers
// that run what comes due. No goroutine waits per device: a device is its
// state and two heap entries, and a goroutine exists only while one of its
// probes runs. The bound keeps devices that hang until their timeout from
// taking every worker: it is sized well above rate x timeout.
type scheduler struct {
	clk clock.Clock
	run func(e *timerEntry, at time.Time) // on a worker goroutine

	mu    sync.Mutex
	h     timerHeap
	timer clock.Timer
	armed time.Time // when timer fires; zero when stopped
	sem   chan struct{}

	inFlight atomic.Int64 // taken from the heap, not yet finished
	stop     chan struct{}
	done     chan struct{}
}

func newScheduler(clk clock.Clock, workers int, run func(*timerEntry, time.Time)) *scheduler {
	s := &scheduler{clk: clk, run: run, sem: make(chan struct{}, max(workers, 1)), stop: make(chan struct{}), done: make(chan struct{})}
	s.timer = clk.NewTimer(time.Hour)
	s.timer.Stop()
	go s.loop()
	return s
}

// setWorkers changes the bound; probes running keep their slot in the old
// one until they end.
func (s *scheduler) setWorkers(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cap(s.sem) != max(n, 1) {
		s.sem = make(chan struct{}, max(n, 1))
	}
}

func (s *scheduler) workers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cap(s.sem)
}

// schedule queues e at at, or moves it there if it is queued.
func (s *scheduler) schedule(e *timerEntry, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scheduleLocked(e, at)
	s.armLocked()
}

func (s *scheduler) scheduleLocked(e *timerEntry, at time.Time) {
	e.at = at
	if e.idx >= 0 {
		heap.Fix(&s.h, int(e.idx))
	} else {
		heap.Push(&s.h, e)
	}
}

// scheduleMany queues a batch (a reload) under one lock.
func (s *scheduler) scheduleMany(es []*timerEntry, at []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range es {
		s.scheduleLocked(e, at[i])
	}
	s.armLocked()
}

// queued reports whether e waits in the heap (false while it runs).
func (s *scheduler) queued(e *timerEntry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.idx >= 0
}

// remove takes e out of the heap.
func (s *scheduler) remove(e *timerEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.idx >= 0 {
		heap.Remove(&s.h, int(e.idx))
		s.armLocked()
	}
}

// armLocked points the timer at the earliest entry.
func (s *scheduler) armLocked() {
	if len(s.h) == 0 {
		if !s.armed.IsZero() {
			s.timer.Stop()
			s.armed = time.Time{}
		}
		return
	}
	at := s.h[0].at
	if at.Equal(s.armed) {
		return
	}
	s.armed = at
	s.timer.Reset(max(at.Sub(s.clk.Now()), 0))
}

func (s *scheduler) loop() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.timer.C():
		}
		s.mu.Lock()
		s.armed = time.Time{}
		s.mu.Unlock()
		if !s.dispatch() {
			return
		}
	}
}

// dispatch hands every entry due by now to a worker, in due order, waiting
// for a free worker when all are busy; then it arms the timer for the next.
// It reports false when stopped meanwhile.
func (s *scheduler) dispatch() bool {
	now := s.clk.Now()
	for {
		s.mu.Lock()
		if len(s.h) == 0 || s.h[0].at.After(now) {
			s.armLocked()
			s.mu.Unlock()
			return true
		}
		e := heap.Pop(&s.h).(*timerEntry)
		at, sem := e.at, s.sem
		s.inFlight.Add(1)
		s.mu.Unlock()
		select {
		case sem <- struct{}{}:
		case <-s.stop:
			s.inFlight.Add(-1)
			return false
		}
		go func() {
			defer func() {
				<-sem
				s.inFlight.Add(-1)
			}()
			s.run(e, at)
		}()
	}
}

// close stops the loop; running work goes on (the supervisor waits for it
// per device).
func (s *scheduler) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}
