package main

import (
	"fmt"
	"math"
	"net"
	"sort"
	"sync"
	"time"
)

// farm is N accept-and-close listeners on 127.0.0.1, one per simulated
// device, each recording when it accepted a connection. One port per device
// lets the driver follow every device's probe schedule from outside.
type farm struct {
	base  time.Time
	ports []int
	recs  []*portRec
	wg    sync.WaitGroup
}

type portRec struct {
	ln net.Listener
	mu sync.Mutex
	ts []time.Duration // accept times since farm.base
}

func newFarm(n int) (*farm, error) {
	f := &farm{base: time.Now()}
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			f.close()
			return nil, fmt.Errorf("listener %d of %d: %w", i+1, n, err)
		}
		r := &portRec{ln: ln}
		f.recs = append(f.recs, r)
		f.ports = append(f.ports, ln.Addr().(*net.TCPAddr).Port)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						continue
					}
					return
				}
				t := time.Since(f.base)
				c.Close()
				r.mu.Lock()
				r.ts = append(r.ts, t)
				r.mu.Unlock()
			}
		}()
	}
	return f, nil
}

func (f *farm) close() {
	for _, r := range f.recs {
		r.ln.Close()
	}
	f.wg.Wait()
}

// now is the time since the farm started, the clock of the accept records.
func (f *farm) now() time.Duration { return time.Since(f.base) }

// total counts accepts on every port so far.
func (f *farm) total() int {
	n := 0
	for _, r := range f.recs {
		r.mu.Lock()
		n += len(r.ts)
		r.mu.Unlock()
	}
	return n
}

// schedule summarises the accepts in [from, to) against a schedule of one
// probe per interval per port (n ports).
type schedule struct {
	Window    time.Duration
	Scheduled float64 // n * window / interval
	Achieved  int
	// Accepts per 1 s bucket over the window.
	PerSecExpected                        float64
	PerSecMin, PerSecMax                  int
	PerSecStddev                          float64
	IntervalMean                          time.Duration // mean gap between a device's consecutive probes
	DriftPerPeriod                        time.Duration // IntervalMean - interval
	LateP50, LateP99, LateMax, EarlyMax   time.Duration // gap - interval, by percentile
	Gaps                                  int
	LateOver100ms, DevicesWithoutAnyProbe int
}

func (f *farm) schedule(n int, interval, from, to time.Duration) schedule {
	s := schedule{Window: to - from, Scheduled: float64(n) * float64(to-from) / float64(interval)}
	buckets := make([]int, int(math.Ceil((to - from).Seconds())))
	var dev []time.Duration
	var sumGap time.Duration
	for _, r := range f.recs[:n] {
		r.mu.Lock()
		ts := append([]time.Duration(nil), r.ts...)
		r.mu.Unlock()
		var prev time.Duration = -1
		got := 0
		for _, t := range ts {
			if t < from || t >= to {
				if t < from {
					prev = t
				}
				continue
			}
			got++
			buckets[int((t-from)/time.Second)]++
			if prev >= 0 {
				g := t - prev
				sumGap += g
				dev = append(dev, g-interval)
			}
			prev = t
		}
		s.Achieved += got
		if got == 0 {
			s.DevicesWithoutAnyProbe++
		}
	}
	// The last bucket may be partial: leave it out of the per-second figures.
	full := int((to - from) / time.Second)
	if full > 0 {
		buckets = buckets[:full]
	}
	s.PerSecExpected = float64(n) / interval.Seconds()
	s.PerSecMin, s.PerSecMax = math.MaxInt, 0
	var sum, sq float64
	for _, b := range buckets {
		s.PerSecMin = min(s.PerSecMin, b)
		s.PerSecMax = max(s.PerSecMax, b)
		sum += float64(b)
	}
	mean := sum / float64(len(buckets))
	for _, b := range buckets {
		sq += (float64(b) - mean) * (float64(b) - mean)
	}
	s.PerSecStddev = math.Sqrt(sq / float64(len(buckets)))
	s.Gaps = len(dev)
	if len(dev) > 0 {
		sort.Slice(dev, func(i, j int) bool { return dev[i] < dev[j] })
		s.IntervalMean = sumGap / time.Duration(len(dev))
		s.DriftPerPeriod = s.IntervalMean - interval
		s.LateP50 = dev[len(dev)/2]
		s.LateP99 = dev[min(len(dev)-1, len(dev)*99/100)]
		s.LateMax = dev[len(dev)-1]
		s.EarlyMax = -dev[0]
		for _, d := range dev {
			if d > 100*time.Millisecond {
				s.LateOver100ms++
			}
		}
	}
	return s
}
