package mqtt

import (
	"fmt"
	"testing"
)

// BenchmarkPlan1000 is one state comparison round (every state_interval and
// every event) for 1,000 devices, discovery on.
func BenchmarkPlan1000(b *testing.B) {
	base := sampleView().devices[0]
	v := view{}
	for i := range 1000 {
		d := base
		d.Name = fmt.Sprintf("device %d", i)
		v.devices = append(v.devices, d)
	}
	pl := newPlanner(testConfig(), "bench")
	b.ReportAllocs()
	for b.Loop() {
		pl.plan(v)
	}
}
