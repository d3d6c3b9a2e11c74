package state

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
)

// BenchmarkSaveFleet is one save of a 1,000-device state file (10 cycles
// and a day of transitions each), without and with the sweep for removed
// devices that every save runs once the config's devices are known: the
// sweep's cost next to the write it rides on.
func BenchmarkSaveFleet(b *testing.B) {
	for _, sweep := range []bool{false, true} {
		b.Run(fmt.Sprintf("sweep=%t", sweep), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "state.json"), quiet())
			if err != nil {
				b.Fatal(err)
			}
			clk := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
			s.SetClock(clk)
			var names []string
			avail := map[string][]Transition{}
			for i := range 1000 {
				d := fmt.Sprintf("device-%04d", i)
				names = append(names, d)
				for j := range 10 {
					at := clk.Now().Add(time.Duration(j) * time.Hour)
					s.f.History = append(s.f.History, Cycle{Device: d, Trigger: "auto", Started: at, Ended: at.Add(time.Minute), OK: true})
				}
				for j := range 48 {
					avail[d] = append(avail[d], Transition{At: clk.Now().Unix() + int64(j)*1800, Up: int8(j % 2)})
				}
			}
			if err := s.SetAvailability(avail); err != nil {
				b.Fatal(err)
			}
			if sweep {
				// A tenth removed, within the grace: swept, kept.
				if err := s.SetConfigured(names[100:]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s.mu.Lock()
				err := s.save()
				s.mu.Unlock()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSweepFleet is the sweep alone over the same file.
func BenchmarkSweepFleet(b *testing.B) {
	s, err := Open("", quiet())
	if err != nil {
		b.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	s.SetClock(clk)
	var names []string
	for i := range 1000 {
		d := fmt.Sprintf("device-%04d", i)
		names = append(names, d)
		for j := range 10 {
			s.f.History = append(s.f.History, Cycle{Device: d, Started: clk.Now().Add(time.Duration(j) * time.Hour)})
		}
	}
	s.SetConfigured(names[100:])
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.mu.Lock()
		s.sweepLocked()
		s.mu.Unlock()
	}
}
