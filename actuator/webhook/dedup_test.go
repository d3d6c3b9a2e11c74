package webhook

import (
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/state"
)

// Alertmanager repeats a notification every group_interval and
// repeat_interval, and HA peers each send it: the alert cycles once, also
// across a restart, and again only when it fires anew.
func TestDuplicateDeliveriesCycleOnce(t *testing.T) {
	cfg := testWebhookConfig(t)
	r := newRig(t, cfg)
	a := deviceDown("cam")
	body := payload(t, 0, a)
	expect := func(step string, wantResult string, wantCalls int) {
		t.Helper()
		code, rep := r.postString(body)
		if code != 200 || len(rep.Alerts) != 1 || rep.Alerts[0].Result != wantResult {
			t.Errorf("%s: got %d %q, want 200 %q", step, code, rep.results(), wantResult)
		}
		if got := len(r.actions.Calls()); got != wantCalls {
			t.Errorf("%s: %d calls %q, want %d", step, got, r.actions.Calls(), wantCalls)
		}
	}

	expect("first delivery", "started", 1)
	r.clock.Advance(5 * time.Minute)
	expect("group_interval repeat", "duplicate", 1)
	r.clock.Advance(4 * time.Hour)
	expect("repeat_interval repeat", "duplicate", 1)

	// An HA peer in another time zone writes the same startsAt differently.
	b := a
	b.StartsAt = a.StartsAt.In(time.FixedZone("CEST", 2*3600))
	body = payload(t, 0, b)
	expect("HA peer", "duplicate", 1)

	r.start(cfg)
	expect("after a restart", "duplicate", 1)

	// Resolved, then firing again: a new startsAt acts.
	body = payload(t, 0, resolved("alertname", "RestartinatorDeviceDown", "device", "cam", "severity", "warning"))
	expect("resolved", "resolved", 1)
	again := deviceDown("cam")
	again.StartsAt = t0.Add(5 * time.Hour)
	body = payload(t, 0, again)
	expect("fired anew", "started", 2)

	// Keys are remembered for DedupTTL only.
	r.clock.Advance(DefaultDedupTTL + time.Hour)
	expect("after the dedup TTL", "started", 3)
}

// HA peers deliver the same notification at the same moment: one acts.
func TestConcurrentDuplicatesCycleOnce(t *testing.T) {
	r := newRig(t, testWebhookConfig(t))
	body := payload(t, 0, deviceDown("cam"), deviceDown("nvr"))
	const peers = 6
	results := make([][]string, peers)
	var wg sync.WaitGroup
	for i := range peers {
		wg.Go(func() {
			code, rep := r.postString(body)
			if code != 200 {
				t.Errorf("peer %d: %d", i, code)
			}
			results[i] = rep.results()
		})
	}
	wg.Wait()
	calls := r.actions.Calls()
	slices.Sort(calls)
	if want := []string{"cycle cam", "cycle nvr"}; !slices.Equal(calls, want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
	started := 0
	for _, res := range results {
		for _, s := range res {
			if s == "cam cycle started" || s == "nvr cycle started" {
				started++
			}
		}
	}
	if started != 2 {
		t.Errorf("%d started across peers, want 2: %q", started, results)
	}
}

// A skipped alert (the device was mid-cycle) stays remembered; an unknown
// device is forgotten so a repeat acts once the config names it.
func TestSkippedAlertsMemory(t *testing.T) {
	r := newRig(t, testWebhookConfig(t))
	r.actions.failNext("cam", ErrAlreadyCycling)
	body := payload(t, 0, deviceDown("cam"), deviceDown("lamp"))
	if _, rep := r.postString(body); !slices.Equal(rep.results(), []string{"cam cycle already_cycling", "lamp cycle unknown_device"}) {
		t.Fatalf("first: %q", rep.results())
	}
	r.actions.mu.Lock()
	r.actions.devices = append(r.actions.devices, "lamp") // the config now has it
	r.actions.mu.Unlock()
	if _, rep := r.postString(body); !slices.Equal(rep.results(), []string{"cam cycle duplicate", "lamp cycle started"}) {
		t.Errorf("repeat: %q", rep.results())
	}
	if got, want := r.actions.Calls(), []string{"cycle cam", "cycle lamp", "cycle lamp"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

// A hand-written payload without fingerprints dedups on Alertmanager's
// fingerprint of the labels.
func TestMissingFingerprint(t *testing.T) {
	r := newRig(t, testWebhookConfig(t))
	a := deviceDown("cam")
	want := a.Fingerprint
	a.Fingerprint = ""
	body := payload(t, 0, a)
	for range 2 {
		code, rep := r.postString(body)
		if code != 200 || rep.Alerts[0].Fingerprint != want {
			t.Errorf("got %d fingerprint %q, want %q", code, rep.Alerts[0].Fingerprint, want)
		}
	}
	if got := r.actions.Calls(); len(got) != 1 {
		t.Errorf("calls %q, want one cycle", got)
	}
}

// When the state file cannot be written, a cycle still acts (a device is
// down), but a host reset does not: without a record that survives the
// reset, Alertmanager's repeat after the reboot would reset the host again.
func TestStateFileUnwritable(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	st, err := state.Open(filepath.Join(t.TempDir(), "missing-dir", "s.json"), logger)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeActions("cam")
	h := New(Options{Config: testWebhookConfig(t), Actions: f, State: st, Logger: logger})
	body := payload(t, 0, deviceDown("cam"), firing("alertname", "HostHung", "severity", "page"))
	for i := range 2 {
		rec := serve(h, body)
		if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"result":"failed","detail":"not resetting the host: cannot record the alert in the state file`) {
			t.Errorf("delivery %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	if got, want := f.Calls(), []string{"cycle cam"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q: the cycle acts once, the host reset never", got, want)
	}
	if !strings.Contains(logs.String(), "acted anyway") {
		t.Errorf("log lacks the warning:\n%s", logs.String())
	}
}

// Two Prometheus replicas give one outage two startsAt, and Alertmanager
// merges to the earlier one after the later one reached us: one episode, one
// cycle, also across a restart. An alert that began after the cycle is a new
// outage; so is one after the device has been up for episode_quiet, but a
// stale repeat of the startsAt that already acted still is not.
func TestEpisodeAcrossStartsAt(t *testing.T) {
	cfg := testWebhookConfig(t)
	r := newRig(t, cfg)
	post := func(step string, startsAt time.Time, wantResult string, wantCalls int) {
		t.Helper()
		a := deviceDown("cam")
		a.StartsAt = startsAt
		code, rep := r.postString(payload(t, 0, a))
		if code != 200 || len(rep.Alerts) != 1 || rep.Alerts[0].Result != wantResult {
			t.Errorf("%s: got %d %q, want 200 %q", step, code, rep.results(), wantResult)
		}
		if got := len(r.actions.Calls()); got != wantCalls {
			t.Errorf("%s: %d calls %q, want %d", step, got, r.actions.Calls(), wantCalls)
		}
	}
	now := r.clock.Now()
	later, earlier := now.Add(-30*time.Second), now.Add(-90*time.Second)
	post("the replica with the later startsAt", later, "started", 1)
	r.clock.Advance(2 * time.Second)
	post("merged to the earlier startsAt", earlier, "duplicate", 1)
	post("the later one again", later, "duplicate", 1)
	r.start(cfg)
	post("after a restart", earlier.Add(-time.Second), "duplicate", 1)

	// Up again, but not for episode_quiet yet: still the same episode.
	r.actions.setUpSince("cam", r.clock.Now())
	r.clock.Advance(config.DefaultEpisodeQuiet.D() - time.Second)
	post("up, not yet quiet", earlier.Add(-2*time.Second), "duplicate", 1)
	r.clock.Advance(time.Second)
	post("stale repeat after the quiet period", earlier, "duplicate", 1)
	post("another startsAt after the quiet period", earlier.Add(-3*time.Second), "started", 2)

	// An outage that began after the cycle is a new one at once.
	post("began after the cycle", r.clock.Now().Add(time.Second), "started", 3)
}

// A cycle that could not start (the plug did not answer) closes its episode,
// so Alertmanager's retry of it acts.
func TestEpisodeForgottenWhenTheCycleFailed(t *testing.T) {
	r := newRig(t, testWebhookConfig(t))
	r.actions.failNext("cam", ErrPlugUnreachable)
	a := deviceDown("cam")
	if code, rep := r.postString(payload(t, 0, a)); code != 503 || rep.Alerts[0].Result != "failed" {
		t.Fatalf("first delivery: %d %q", code, rep.results())
	}
	a.StartsAt = a.StartsAt.Add(-time.Minute)
	if code, rep := r.postString(payload(t, 0, a)); code != 200 || rep.Alerts[0].Result != "started" {
		t.Fatalf("retry with the merged startsAt: %d %q", code, rep.results())
	}
}
