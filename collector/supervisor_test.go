package collector_test

import (
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/internal/event"
)

// A device that stops answering is declared offline, and cycled, at its
// retries-th failed probe, the probes spaced retry_interval apart: about
// timeout + (retries-1)*retry_interval after it hung, not retries*check_interval.
// (A refused connect fails at once, so the timeout adds no fake time here.)
func TestDetectionAfterRetriesSpacedByRetryInterval(t *testing.T) {
	h := newHarness(t, harnessOpts{devices: []dev{{name: "cam"}}})
	h.first()
	if s := h.status("cam"); s.State != collector.StateUp || !s.LastProbe.Success {
		t.Fatalf("after the first probe: %+v", s)
	}
	h.setUp("cam", false)

	// The next check is check_interval later; then retries follow every
	// retry_interval.
	hung := h.clk.Now()
	s := h.probe("cam", 10*time.Second, h.base())
	if s.State != collector.StateFailing || s.ConsecutiveFailures != 1 {
		t.Fatalf("after one failed probe: %+v", s)
	}
	firstFail := h.clk.Now()
	s = h.probe("cam", time.Second, h.base())
	if s.State != collector.StateFailing || s.ConsecutiveFailures != 2 {
		t.Fatalf("after two failed probes: %+v", s)
	}
	// Just before the third probe is due nothing has happened.
	h.clk.Advance(time.Second - time.Millisecond)
	if s := h.status("cam"); s.ConsecutiveFailures != 2 || !s.LastProbe.Time.Equal(firstFail.Add(time.Second)) {
		t.Fatalf("probed before retry_interval passed: %+v", s)
	}
	if n := len(h.ev.of(event.Offline, "cam")) + len(h.ev.of(event.CycleStarted, "cam")); n != 0 {
		t.Fatalf("offline or cycling before the retries-th failure: %s", describeEvents(h.ev.all()))
	}
	h.clk.Advance(time.Millisecond)

	off := h.ev.wait(t, event.Offline, "cam", 1)
	want := firstFail.Add(2 * time.Second)
	if !off.Time.Equal(want) || off.ConsecutiveFailures != 3 {
		t.Fatalf("offline event at %s with %d failures, want at %s (%s after the first failure) with 3",
			off.Time, off.ConsecutiveFailures, want, want.Sub(firstFail))
	}
	if got := off.Time.Sub(hung); got != 12*time.Second {
		t.Fatalf("detected %s after the device hung, want check_interval + 2*retry_interval = 12s", got)
	}
	u := h.update()
	if u.Phase != actuator.PhaseCycling || u.Request.Trigger != actuator.TriggerAuto || !u.Time.Equal(want) ||
		len(u.Request.Devices) != 1 || u.Request.Devices[0] != "cam" || u.Request.Off != 5*time.Second {
		t.Fatalf("first Cycler update = %+v", u)
	}
	cs := h.ev.wait(t, event.CycleStarted, "cam", 1)
	if !cs.Time.Equal(want) || cs.Trigger != actuator.TriggerAuto || cs.State != collector.StateCycling {
		t.Fatalf("cycle_started = %+v", cs)
	}
}
