package state

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestIntentsAndHistorySurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	s.AddIntent(Intent{Plug: "strip", Outlet: "2", Devices: []string{"cam"}, Trigger: "auto", Started: now})
	s.AddCycle(Cycle{Device: "cam", Trigger: "auto", Started: now, Ended: now.Add(time.Minute), OK: true})
	if seen, _ := s.SeenAlert("fp@t", now, time.Hour); seen {
		t.Fatal("new alert reported as seen")
	}
	s.SaveQueue("email", []byte(`[{"to":"x"}]`))
	s.SaveQueue("phone", []byte(`[{"to":"y"}]`))

	r, err := Open(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if in := r.Intents(); len(in) != 1 || in[0].Plug != "strip" || in[0].Devices[0] != "cam" {
		t.Errorf("intents after reopen = %+v", in)
	}
	if h := r.History("cam"); len(h) != 1 || !h[0].OK {
		t.Errorf("history after reopen = %+v", h)
	}
	if seen, _ := r.SeenAlert("fp@t", now.Add(time.Minute), time.Hour); !seen {
		t.Error("dedup key lost across reopen: a restart would act twice")
	}
	if seen, _ := r.SeenAlert("fp@t", now.Add(2*time.Hour), time.Hour); seen {
		t.Error("dedup key never expires")
	}
	if q, _ := r.LoadQueue("email"); string(q) != `[{"to":"x"}]` {
		t.Errorf("email queue = %s", q)
	}
	if q, _ := r.LoadQueue("phone"); string(q) != `[{"to":"y"}]` {
		t.Errorf("phone queue = %s", q)
	}
	r.ClearIntent("strip", "2")
	if in := r.Intents(); len(in) != 0 {
		t.Errorf("intent not cleared: %+v", in)
	}
}

func TestDamagedFileSetAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	os.WriteFile(path, []byte(`{"intents": {`), 0o600)
	s, err := Open(path, quiet())
	if err != nil {
		t.Fatalf("damaged file was fatal: %v", err)
	}
	if len(s.Intents()) != 0 {
		t.Error("damaged file gave intents")
	}
	entries, _ := os.ReadDir(dir)
	var aside bool
	for _, e := range entries {
		aside = aside || strings.HasPrefix(e.Name(), "state.json.damaged-")
	}
	if !aside {
		t.Error("damaged file was not kept aside for inspection")
	}
	if err := s.AddCycle(Cycle{Device: "d"}); err != nil {
		t.Fatal(err)
	}
}

func TestHistoryBounded(t *testing.T) {
	s, _ := Open(filepath.Join(t.TempDir(), "s.json"), quiet())
	for i := 0; i < maxHistory+20; i++ {
		s.AddCycle(Cycle{Device: "a", Detail: string(rune('a' + i%26))})
		if i%10 == 0 {
			s.AddCycle(Cycle{Device: "b"})
		}
	}
	if n := len(s.History("a")); n != maxHistory {
		t.Errorf("history of a = %d, want %d", n, maxHistory)
	}
	if n := len(s.History("b")); n != 12 {
		t.Errorf("history of b = %d, want 12 (another device's cycles must not push it out)", n)
	}
}

func TestAtomicWriteLeavesNoTempFiles(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(filepath.Join(dir, "s.json"), quiet())
	for i := 0; i < 5; i++ {
		s.AddIntent(Intent{Plug: "p", Outlet: "", Started: time.Unix(int64(i), 0)})
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "s.json s.json.bak" {
		t.Errorf("directory holds %v, want only the state file and its backup", names)
	}
}

// A state file damaged mid-cycle (after the intent was written) is set
// aside and everything — the intent above all — comes back from the backup.
func TestDamagedFileRestoredFromBackup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	s, err := Open(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	s.AddCycle(Cycle{Device: "cam", Trigger: "auto", Started: now, Ended: now.Add(time.Minute), OK: true})
	if err := s.AddIntent(Intent{Plug: "strip", Outlet: "2", Devices: []string{"cam"}, Trigger: "auto", Started: now}); err != nil {
		t.Fatal(err)
	}
	for name, damage := range map[string][]byte{"truncated": []byte(`{"version":1,"intents":{"strip/2":{"plug":"str`), "zeroed": make([]byte, 512)} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, damage, 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := Open(path, quiet())
			if err != nil {
				t.Fatalf("damaged file was fatal: %v", err)
			}
			if in := r.Intents(); len(in) != 1 || in[0].Plug != "strip" || in[0].Outlet != "2" {
				t.Fatalf("intents after the damage = %+v, want the pending one from the backup", in)
			}
			if h := r.History("cam"); len(h) != 1 {
				t.Errorf("history after the damage = %+v", h)
			}
			if _, err := parseFile(t, path); err != nil {
				t.Errorf("the main file was not rewritten from the backup: %v", err)
			}
		})
	}
}

func parseFile(t *testing.T, path string) (file, error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return file{}, err
	}
	return parse(b)
}

func TestBothDamagedStartsEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path, []byte(`{`), 0o600)
	os.WriteFile(path+".bak", []byte(`{"intents": [`), 0o600)
	s, err := Open(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Intents()) != 0 {
		t.Error("intents from two damaged files")
	}
}

// The first version kept the email queue as mail_queue: it loads as the
// email channel's queue and is written back under notify_queues only.
func TestMailQueueMigrates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	old := `{"version":1,"intents":{},"history":[],"webhook_dedup":{},"mail_queue":{"version":1,"messages":[{"id":"a","subject":"[restartinator] A is OFFLINE","body":"b","kinds":["offline"]}],"seq":1}}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	q, _ := s.LoadQueue("email")
	if !strings.Contains(string(q), `"subject":"[restartinator] A is OFFLINE"`) {
		t.Fatalf("email queue after migration = %s", q)
	}
	if err := s.SaveQueue("phone", []byte(`{"version":1}`)); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "mail_queue") || !strings.Contains(string(data), `"notify_queues":{"email":`) {
		t.Errorf("state file after a save:\n%s", data)
	}
}

// The webhook's dedup keys are capped: past maxDedupKeys the oldest go
// first, however young; a batch writes once.
func TestDedupKeysCappedOldestFirst(t *testing.T) {
	s, _ := Open(filepath.Join(t.TempDir(), "s.json"), quiet())
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	b := s.Batch()
	for i := range maxDedupKeys + 5 {
		if b.SeenAlert(fmt.Sprintf("k%05d", i), now.Add(time.Duration(i)*time.Millisecond), 24*time.Hour) {
			t.Fatalf("key %d reported seen", i)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := s.Saves(); got != 1 {
		t.Errorf("%d saves for one batch, want 1", got)
	}
	if n := len(s.f.Dedup); n != maxDedupKeys {
		t.Errorf("%d dedup keys kept, want %d", n, maxDedupKeys)
	}
	for i, want := range map[int]bool{0: false, 4: false, 5: true, maxDedupKeys + 4: true} {
		if _, ok := s.f.Dedup[fmt.Sprintf("k%05d", i)]; ok != want {
			t.Errorf("key %d kept %v, want %v", i, ok, want)
		}
	}
}

func TestPausesSurviveReopenAndExpire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.SetPause("nas", Pause{Until: now.Add(time.Hour), Reason: "disk swap"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPause("cam", Pause{Until: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	got := s2.Pauses(now.Add(2 * time.Minute))
	if len(got) != 1 || got["nas"].Reason != "disk swap" || !got["nas"].Until.Equal(now.Add(time.Hour)) {
		t.Fatalf("pauses after reopening, the camera's over: %+v", got)
	}
	if err := s2.SetPause("nas", Pause{}); err != nil {
		t.Fatal(err)
	}
	s3, _ := Open(path, quiet())
	if got := s3.Pauses(now); len(got) != 0 {
		t.Errorf("a resumed device is still paused after reopening: %+v", got)
	}
}

func TestAvailabilityCompactAndChecked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, _ := Open(path, quiet())
	if err := s.SetAvailability(map[string][]Transition{"cam": {{At: 100, Up: Up}, {At: 160, Up: Down}, {At: 200, Up: Unknown}}}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), `"availability":{"cam":[[100,1],[160,0],[200,-1]]}`) {
		t.Errorf("not compact: %s", data)
	}
	s2, _ := Open(path, quiet())
	if got := s2.Availability("cam"); len(got) != 3 || got[1] != (Transition{At: 160, Up: Down}) {
		t.Errorf("read back %+v", got)
	}
	var tr Transition
	if err := tr.UnmarshalJSON([]byte(`[1,7]`)); err == nil {
		t.Errorf("a value of 7 was accepted")
	}
}
