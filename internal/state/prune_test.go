package state

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
)

// onDisk is what the state file holds for each device, read as another
// program would read it.
type onDisk struct {
	history      map[string]int
	availability map[string]bool
	pauses       map[string]bool
	removed      map[string]time.Time
}

func readDisk(t *testing.T, path string) onDisk {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		History      []struct{ Device string }  `json:"history"`
		Availability map[string]json.RawMessage `json:"availability"`
		Pauses       map[string]json.RawMessage `json:"pauses"`
		Removed      map[string]time.Time       `json:"removed_since"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	d := onDisk{history: map[string]int{}, availability: map[string]bool{}, pauses: map[string]bool{}, removed: f.Removed}
	for _, c := range f.History {
		d.history[c.Device]++
	}
	for k := range f.Availability {
		d.availability[k] = true
	}
	for k := range f.Pauses {
		d.pauses[k] = true
	}
	return d
}

// kept says whether the file still has device's history, timeline and pause.
func (d onDisk) kept(device string) bool {
	return d.history[device] > 0 && d.availability[device] && d.pauses[device]
}

func (d onDisk) gone(device string) bool {
	return d.history[device] == 0 && !d.availability[device] && !d.pauses[device] && d.removed[device].IsZero()
}

// openWithDevices opens a store on a fake clock and gives each device a
// cycle, a timeline and a pause.
func openWithDevices(t *testing.T, path string, clk *clock.Fake, devices ...string) *Store {
	t.Helper()
	s, err := Open(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	s.SetClock(clk)
	now := clk.Now()
	for _, d := range devices {
		if err := s.AddCycle(Cycle{Device: d, Trigger: "auto", Started: now, Ended: now.Add(time.Minute), OK: true}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAvailability(map[string][]Transition{d: {{At: now.Unix(), Up: Up}}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPause(d, Pause{Until: now.Add(30 * 24 * time.Hour), Reason: "long"}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func reopen(t *testing.T, path string, clk *clock.Fake) *Store {
	t.Helper()
	s, err := Open(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	s.SetClock(clk)
	return s
}

// A device taken out of the config keeps its state for the grace period,
// across restarts, and loses it at the first save after; the others keep
// theirs.
func TestRemovedDeviceStateIsDroppedAfterTheGrace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	clk := clock.NewFake(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	s := openWithDevices(t, path, clk, "router", "old-camera")
	if err := s.SetConfigured([]string{"router", "old-camera"}); err != nil {
		t.Fatal(err)
	}
	if d := readDisk(t, path); len(d.removed) != 0 {
		t.Fatalf("configured devices marked removed: %v", d.removed)
	}

	removedAt := clk.Now()
	if err := s.SetConfigured([]string{"router"}); err != nil { // the reload that removes it
		t.Fatal(err)
	}
	d := readDisk(t, path)
	if !d.kept("old-camera") || !d.removed["old-camera"].Equal(removedAt) {
		t.Fatalf("at removal the state must stay and the removal be dated %s: %+v", removedAt, d)
	}

	// A restart six days later: the date of removal is the file's, not
	// the restart's.
	clk.Advance(6 * 24 * time.Hour)
	s = reopen(t, path, clk)
	if err := s.SetConfigured([]string{"router"}); err != nil {
		t.Fatal(err)
	}
	s.AddCycle(Cycle{Device: "router", Trigger: "auto", Started: clk.Now(), Ended: clk.Now(), OK: true})
	if d := readDisk(t, path); !d.kept("old-camera") || !d.removed["old-camera"].Equal(removedAt) {
		t.Fatalf("dropped or re-dated within the grace: %+v", d)
	}

	// Just past the grace: the next save, whatever it is for, drops it.
	clk.Advance(RemovedGrace - 6*24*time.Hour + time.Second)
	if err := s.AddCycle(Cycle{Device: "router", Trigger: "manual", Started: clk.Now(), Ended: clk.Now(), OK: true}); err != nil {
		t.Fatal(err)
	}
	d = readDisk(t, path)
	if !d.gone("old-camera") {
		t.Errorf("old-camera still in the file after the grace: %+v", d)
	}
	if !d.kept("router") || d.history["router"] != 3 {
		t.Errorf("router lost state: %+v", d)
	}
	if h := s.History("old-camera"); len(h) != 0 {
		t.Errorf("dropped history still served: %+v", h)
	}
}

// A reload that removes a device and one that puts it back within the
// grace keep its history for good: the removal mark goes with the re-add.
func TestReloadRemovingThenReaddingKeepsHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	clk := clock.NewFake(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	s := openWithDevices(t, path, clk, "nas")
	s.SetConfigured([]string{"nas"})
	s.SetConfigured(nil) // removed by a reload
	if d := readDisk(t, path); d.removed["nas"].IsZero() {
		t.Fatalf("removal not recorded: %+v", d)
	}
	clk.Advance(3 * 24 * time.Hour)
	s.SetConfigured([]string{"nas"}) // back
	if d := readDisk(t, path); len(d.removed) != 0 || !d.kept("nas") {
		t.Fatalf("re-added device still marked removed or lost state: %+v", d)
	}
	clk.Advance(30 * 24 * time.Hour)
	s.AddCycle(Cycle{Device: "nas", Trigger: "auto", Started: clk.Now(), Ended: clk.Now(), OK: true})
	if d := readDisk(t, path); d.history["nas"] != 2 || !d.availability["nas"] {
		t.Errorf("history of a device configured again was dropped: %+v", d)
	}
}

// An open intent (an outlet a cycle left off) keeps the device's state
// past the grace: the intent is reconciled first, and only the save after
// that drops it.
func TestOpenIntentHoldsTheDrop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	clk := clock.NewFake(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	s := openWithDevices(t, path, clk, "modem", "router")
	if err := s.AddIntent(Intent{Plug: "strip", Outlet: "1", Devices: []string{"router", "modem"}, Trigger: "auto", Started: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	s.SetConfigured([]string{"router"})
	clk.Advance(RemovedGrace + time.Hour)
	s = reopen(t, path, clk) // a restart long after; the intent is still open
	s.SetConfigured([]string{"router"})
	d := readDisk(t, path)
	if !d.kept("modem") {
		t.Fatalf("state dropped while an intent names the device: %+v", d)
	}
	if in := s.Intents(); len(in) != 1 || !slices.Contains(in[0].Devices, "modem") {
		t.Fatalf("intent lost: %+v", in)
	}
	if err := s.ClearIntent("strip", "1"); err != nil { // reconciled: power back on
		t.Fatal(err)
	}
	if d := readDisk(t, path); !d.gone("modem") || !d.kept("router") {
		t.Errorf("after the intent cleared: %+v", d)
	}
}

// Until the store knows the config's devices (a tool opening the state
// file, or before the first config is applied) nothing is dropped or
// marked, however old.
func TestNothingDroppedWithoutTheConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	clk := clock.NewFake(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	s := openWithDevices(t, path, clk, "a")
	clk.Advance(365 * 24 * time.Hour)
	s.AddCycle(Cycle{Device: "b", Trigger: "auto", Started: clk.Now(), Ended: clk.Now(), OK: true})
	if d := readDisk(t, path); !d.kept("a") || len(d.removed) != 0 {
		t.Errorf("dropped or marked without a config: %+v", d)
	}
}
