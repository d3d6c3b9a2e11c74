package collector_test

import (
	"slices"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/internal/event"
)

// The modem goes down and the camera behind it with it: the camera is
// blocked (no offline of its own, no cycle), the modem's offline names it.
// When the modem is back the camera counts its failures from nought and
// is not cycled before its boot_time; failing alone after that, it is.
func TestParentDownBlocksChildThenGraceThenCycle(t *testing.T) {
	h := newHarness(t, harnessOpts{devices: []dev{
		{name: "modem", plug: "-", extra: "mode: monitor"},
		{name: "cam", extra: "depends_on: [modem]"},
	}})
	h.first()
	h.setUp("modem", false)
	h.setUp("cam", false)
	h.tickUntil("the camera blocked", time.Second, 40, func() bool { return h.status("cam").State == collector.StateBlocked })
	off := h.ev.wait(t, event.Offline, "modem", 1)
	if !slices.Equal(off.Affected, []string{"cam"}) {
		t.Errorf("the modem's offline lists %v as affected, want [cam]; next: %q", off.Affected, off.Next)
	}
	// Long past retries and any decision: nothing happens to the camera.
	for range 60 {
		h.tick(time.Second)
	}
	if s := h.status("cam"); s.State != collector.StateBlocked || !slices.Equal(s.ParentsDown, []string{"modem"}) {
		t.Fatalf("camera while the modem is down: %+v", s)
	}
	if n := len(h.ev.of(event.Offline, "cam")); n != 0 {
		t.Errorf("a blocked camera announced offline %d times", n)
	}
	if c := h.switchCalls(); len(c) != 0 {
		t.Fatalf("the camera's outlet was switched while its parent is down: %+v", c)
	}

	// The modem is back; the camera is not.
	h.setUp("modem", true)
	h.tickUntil("the modem up", time.Second, 20, func() bool { return h.status("modem").State == collector.StateUp })
	back := h.clk.Now()
	h.waitUntil("the camera probed after its parent came back", func() bool {
		s := h.status("cam")
		return s.State == collector.StateFailing && s.ParentsDown == nil
	})
	// Within its boot_time (60s) it is declared offline but not cycled.
	for h.clk.Now().Sub(back) < 55*time.Second {
		h.tick(time.Second)
	}
	if c := h.switchCalls(); len(c) != 0 {
		t.Fatalf("the camera was cycled within its boot grace after its parent came back: %+v", c)
	}
	if len(h.ev.of(event.Offline, "cam")) != 1 {
		t.Errorf("the camera, failing alone, announced offline %d times, want 1", len(h.ev.of(event.Offline, "cam")))
	}
	// After the grace, failing alone, it is cycled.
	h.tickUntil("the camera's cycle", time.Second, 20, func() bool { return len(h.updates) > 0 })
	u := h.update()
	if u.Phase != actuator.PhaseCycling || !slices.Contains(u.Request.Devices, "cam") || u.Request.Trigger != actuator.TriggerAuto {
		t.Fatalf("update %+v, want the camera's automatic cycle", u)
	}
	if d := u.Time.Sub(back); d < 60*time.Second {
		t.Errorf("cycled %s after its parent came back, before its boot_time of 60s", d)
	}
}
