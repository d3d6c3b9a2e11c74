package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// pace runs fn(i) for slot i at start + i/rate, spread over workers
// goroutines, until ctx ends. A worker that falls behind runs the next slot
// at once, so the achieved rate shows whether the target kept up. It returns
// how many slots ran.
func pace(ctx context.Context, rate float64, workers int, fn func(i int64)) int64 {
	start := time.Now()
	period := time.Duration(float64(time.Second) / rate)
	var next, done atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTimer(time.Hour)
			defer t.Stop()
			for {
				i := next.Add(1) - 1
				due := start.Add(time.Duration(i) * period)
				if d := time.Until(due); d > 0 {
					t.Reset(d)
					select {
					case <-ctx.Done():
						return
					case <-t.C:
					}
				} else if ctx.Err() != nil {
					return
				}
				fn(i)
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return done.Load()
}
