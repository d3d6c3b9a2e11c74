package reliability

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/internal/simdevice"
)

// killPoint is a moment of a power cycle at which the supervisor dies.
type killPoint struct {
	name string
	// cycleTime is the device's cycle_time while this point is tested:
	// long where only a reconcile at start-up can have switched the
	// outlet on within the test, short where the cycle must finish.
	cycleTime time.Duration
	// reconciles: the state file must hold an intent when killed here.
	reconciles bool
}

var killPoints = []killPoint{
	// Right after POST .../cycle answers 202: the intent may or may not be
	// written, the outlet may or may not be off.
	{name: "before-off", cycleTime: 5 * time.Minute},
	// As soon as the relay reads off.
	{name: "after-off", cycleTime: 5 * time.Minute, reconciles: true},
	// Halfway through cycle_time, the Cycler parked on its off timer.
	// 10s rather than 5m so 20 kills fit the CI budget; the relay must
	// read on after the restart before cycle_time has passed since it went
	// off, so the plug's own flip-back cannot be what switched it on.
	{name: "mid-wait", cycleTime: 10 * time.Second, reconciles: true},
	// As soon as the relay reads on again: cycle_time must pass, so it is
	// short.
	{name: "after-on", cycleTime: time.Second},
}

// stateFile is the part of the state file this test reads.
type stateFile struct {
	Intents map[string]json.RawMessage `json:"intents"`
	History []struct {
		Device string `json:"device"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	} `json:"history"`
}

func readState(t *testing.T, path string) stateFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return stateFile{}
	}
	if err != nil {
		t.Fatal(err)
	}
	var s stateFile
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("the state file does not parse: %v\n%s", err, b)
	}
	return s
}

type apiDevices struct {
	Devices []struct {
		Name           string     `json:"name"`
		State          string     `json:"state"`
		CyclesInWindow int        `json:"cycles_in_window"`
		LastCycle      *time.Time `json:"last_cycle"`
		Events         []struct {
			Kind   string `json:"kind"`
			Detail string `json:"detail"`
		} `json:"events"`
	} `json:"devices"`
	Guard string `json:"guard_holding"`
}

func getDevices(t *testing.T, p *proc) apiDevices {
	t.Helper()
	code, body := do(http.MethodGet, p.url("/api/v1/devices"), "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/devices: %d %s", code, body)
	}
	var d apiDevices
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("GET /api/v1/devices: %v\n%s", err, body)
	}
	return d
}

// TestKillAtEachPointOfACycle is issue 9 item 6: SIGKILL the real binary at
// each point of a cycle, 20 times each; after every kill the binary is
// restarted on the same state file and the outlet must be on at once, with
// the history intact. One plug simulator process and one build serve every
// iteration; each restarted binary runs the next iteration.
func TestKillAtEachPointOfACycle(t *testing.T) {
	enabled(t)
	rounds := scaled(20)
	began := time.Now()
	dir := t.TempDir()
	plug := startPlugProcess(t, "HS100")
	dev, err := simdevice.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	statePath := filepath.Join(dir, "state.json")
	cfgPath := filepath.Join(dir, "restartinator.yml")
	writeConfig := func(cycleTime time.Duration) {
		cfg := fmt.Sprintf(`global: {state_file: %s}
plugs: [{name: p, host: 127.0.0.1, port: %d, protocol: xor}]
devices:
  - {name: cam, host: 127.0.0.1, port: %d, plug: p, mode: alert, cycle_time: %s, boot_time: 1m}
`, statePath, plug.port, dev.Port(), cycleTime)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func() *proc { return start(t, dir, "--config.file", cfgPath, "--log.level=debug") }

	type tally struct {
		kills, onAfter, reconciled, offAtKill int
		restart                               []time.Duration
	}
	tallies := map[string]*tally{}
	for _, kp := range killPoints {
		tallies[kp.name] = &tally{}
	}
	if !plug.relayOn(t) {
		t.Fatal("the simulated plug starts off")
	}
	writeConfig(killPoints[0].cycleTime)
	p := run()
	cycles := 0 // the cycles the history must hold
	for round := range rounds {
		for i, kp := range killPoints {
			next := killPoints[(i+1)%len(killPoints)]
			where := fmt.Sprintf("round %d, %s", round+1, kp.name)
			tl := tallies[kp.name]
			if !plug.relayOn(t) {
				t.Fatalf("%s: the outlet is off before the cycle", where)
			}
			if code, body := do(http.MethodPost, p.url("/api/v1/devices/cam/cycle"), ""); code != http.StatusAccepted {
				t.Fatalf("%s: POST cycle: %d %s\n%s", where, code, body, p.logs.tail(30))
			}
			var offAt time.Time
			switch kp.name {
			case "before-off":
			case "after-off", "mid-wait", "after-on":
				poll(t, where+": the relay to read off", bound, time.Millisecond, func() bool { return !plug.relayOn(t) })
				offAt = time.Now()
				switch kp.name {
				case "mid-wait":
					// A real process's timer: only real time passes it.
					time.Sleep(kp.cycleTime / 2)
				case "after-on":
					poll(t, where+": the relay to read on again", bound, time.Millisecond, func() bool { return plug.relayOn(t) })
				}
			}
			p.kill()
			tl.kills++
			offAtKill := !plug.relayOn(t)
			if offAtKill {
				tl.offAtKill++
			}
			if kp.name == "after-on" && offAtKill {
				t.Fatalf("%s: the relay read on, then off again at the kill", where)
			}
			killed := readState(t, statePath)
			histAtKill := countHistory(killed, "cam")
			switch {
			case kp.reconciles && len(killed.Intents) != 1:
				t.Fatalf("%s: killed with the outlet off but %d intents in the state file", where, len(killed.Intents))
			case kp.reconciles && histAtKill != cycles:
				t.Fatalf("%s: %d cycles in the history at the kill, want %d (this one unfinished)", where, histAtKill, cycles)
			case len(killed.Intents) > 1:
				t.Fatalf("%s: %d intents for one outlet", where, len(killed.Intents))
			case offAtKill && len(killed.Intents) == 0:
				t.Fatalf("%s: the outlet is off with no intent in the state file: nothing would switch it on at start-up", where)
			}

			writeConfig(next.cycleTime)
			restartAt := time.Now()
			p = run() // it reconciles before it listens
			tl.restart = append(tl.restart, time.Since(restartAt))
			if !plug.relayOn(t) {
				t.Fatalf("%s: the outlet is off after the restart\n%s", where, p.logs.tail(30))
			}
			tl.onAfter++
			if kp.name == "mid-wait" {
				if since := time.Since(offAt); since >= kp.cycleTime {
					t.Fatalf("%s: the restart took until %s after the outlet went off: the plug's flip-back (%s) may be what switched it on; the test proves nothing", where, since.Round(time.Millisecond), kp.cycleTime)
				}
			}
			if len(killed.Intents) == 1 {
				tl.reconciled++
				if !strings.Contains(p.logs.String(), "previous run stopped mid-cycle") {
					t.Errorf("%s: the reconcile at start-up was not logged:\n%s", where, p.logs.tail(30))
				}
			}

			// History: every cycle that switched the outlet off is there
			// once, whether it finished or was reconciled.
			after := readState(t, statePath)
			if len(after.Intents) != 0 {
				t.Fatalf("%s: intents left after the restart: %v", where, after.Intents)
			}
			got := countHistory(after, "cam")
			if got != histAtKill+len(killed.Intents) {
				t.Fatalf("%s: %d cycles in the history after the restart, want %d at the kill + %d reconciled", where, got, histAtKill, len(killed.Intents))
			}
			switch {
			case kp.name == "before-off" && (got == cycles || got == cycles+1):
			case got == cycles+1:
			default:
				t.Fatalf("%s: %d cycles in the history, want %d: a cycle that switched the outlet off is missing or counted twice", where, got, cycles+1)
			}
			cycles = got
			api := getDevices(t, p)
			if len(api.Devices) != 1 || api.Devices[0].CyclesInWindow != cycles || (cycles > 0 && api.Devices[0].LastCycle == nil) {
				t.Fatalf("%s: GET /api/v1/devices does not show the %d cycles: %+v", where, cycles, api)
			}
			if m, _ := filepath.Glob(statePath + ".damaged-*"); len(m) > 0 {
				t.Fatalf("%s: the state file was damaged: %v", where, m)
			}
		}
	}
	p.kill()

	for _, kp := range killPoints {
		tl := tallies[kp.name]
		slices.Sort(tl.restart)
		report(t, "%-10s SIGKILLs %d, outlet on after restart %d/%d, reconciled at start-up %d, outlet off at the kill %d, restart-to-listening median %s max %s",
			kp.name, tl.kills, tl.onAfter, tl.kills, tl.reconciled, tl.offAtKill,
			tl.restart[len(tl.restart)/2].Round(time.Millisecond), tl.restart[len(tl.restart)-1].Round(time.Millisecond))
	}
	report(t, "history: %d cycles recorded for %d kills, state file parsed after every restart; %s in all", cycles, rounds*len(killPoints), time.Since(began).Round(time.Second))
}

func countHistory(s stateFile, device string) int {
	n := 0
	for _, c := range s.History {
		if c.Device == device {
			n++
		}
	}
	return n
}
