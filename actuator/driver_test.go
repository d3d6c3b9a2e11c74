package actuator_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/state"
)

// memoryRelay is a plug type that exists only in these tests: a relay kept
// in memory, with keys of its own, to show a second type goes through the
// same registry as Kasa.
type memoryRelaySettings struct {
	Channels int `yaml:"channels"`
}

func (s *memoryRelaySettings) Check() error {
	if s.Channels < 1 {
		return errors.New("channels must be at least 1")
	}
	return nil
}

type memoryRelay struct {
	cfg      config.PlugConfig
	env      actuator.DriverEnv
	mu       sync.Mutex
	on       []bool
	switches int
	arms     int
}

func (m *memoryRelay) Status(context.Context) (actuator.Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := actuator.Status{Model: "memory relay", Strip: len(m.on) > 1}
	for i, on := range m.on {
		st.Outlets = append(st.Outlets, actuator.Outlet{Index: i, Alias: fmt.Sprint("ch", i), On: on})
	}
	return st, nil
}

func (m *memoryRelay) Switch(ctx context.Context, outlet string, on bool) error {
	st, _ := m.Status(ctx)
	o, err := actuator.SelectOutlet(st, outlet)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.on[o.Index] = on
	m.switches++
	m.mu.Unlock()
	return nil
}

func (m *memoryRelay) ArmFlipBack(context.Context, string, time.Duration) error {
	m.mu.Lock()
	m.arms++
	m.mu.Unlock()
	return fmt.Errorf("%w: a memory relay has no timer", actuator.ErrFlipBackUnsupported)
}
func (m *memoryRelay) DisarmFlipBack(context.Context, string) error { return nil }
func (m *memoryRelay) Close() error                                 { return nil }

var (
	builtMu sync.Mutex
	built   = map[string]*memoryRelay{}
)

func init() {
	actuator.Register(kasa.Driver)
	actuator.Register(actuator.Driver{
		Name: "memoryrelay", Brand: "Test", Models: "in memory",
		Settings: func() config.PlugSettings { return &memoryRelaySettings{Channels: 1} },
		New: func(cfg config.PlugConfig, env actuator.DriverEnv) (actuator.Plug, error) {
			m := &memoryRelay{cfg: cfg, env: env, on: make([]bool, cfg.Settings.(*memoryRelaySettings).Channels)}
			for i := range m.on {
				m.on[i] = true
			}
			builtMu.Lock()
			built[cfg.Name] = m
			builtMu.Unlock()
			return m, nil
		},
	})
}

func TestDriverRegistry(t *testing.T) {
	if got := strings.Join(actuator.DriverNames(), ","); got != "kasa,memoryrelay" {
		t.Fatalf("drivers = %s, want registration order kasa,memoryrelay", got)
	}
	if _, ok := actuator.LookupDriver("KASA"); !ok {
		t.Error("lookup is not case-insensitive")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("registering kasa twice did not panic")
			}
		}()
		actuator.Register(kasa.Driver)
	}()
	_, err := actuator.NewPlug(config.PlugConfig{Name: "z", Type: "zigbee", Host: "h"}, actuator.DriverEnv{})
	if err == nil || !strings.Contains(err.Error(), `no driver for plug type "zigbee" (known: kasa, memoryrelay)`) {
		t.Errorf("unknown type: %v", err)
	}
}

// One config with a Kasa plug and a plug of the test type: each is built by
// its own driver with its own keys and the password from password_file, and
// a key of the other type is an error on its line.
func TestDriversFromConfig(t *testing.T) {
	sim := startSim(t, "HS110", clock.Real{})
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	c, err := config.Load(fmt.Appendf(nil, `plugs:
  - {name: k, type: kasa, host: %s, port: %d, protocol: xor}
  - {name: m, type: memoryrelay, host: nowhere, channels: 3, username: u, password_file: %s, flip_back: off}
`, sim.Host(), sim.Port(), pw), "mixed.yml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	plugs := actuator.NewPlugs(ctx, actuator.Factory(clock.Real{}, slog.New(slog.DiscardHandler)), time.Hour, &eventLog{}, clock.Real{}, slog.New(slog.DiscardHandler))
	defer plugs.Close()
	if err := plugs.Apply(c.Plugs); err != nil {
		t.Fatal(err)
	}
	k, _ := plugs.Plug("k")
	if kc, ok := k.(*kasa.Client); !ok || kc.Protocol() != "xor" {
		t.Fatalf("plug k = %T, want a Kasa client speaking xor", k)
	}
	st, err := k.Status(ctx)
	if err != nil || st.Model == "" {
		t.Fatalf("kasa status through the registry: %+v, %v", st, err)
	}
	builtMu.Lock()
	m := built["m"]
	builtMu.Unlock()
	if m == nil || len(m.on) != 3 || m.env.Password != "s3cret" || m.cfg.Username != "u" || m.env.Clock == nil {
		t.Fatalf("memory relay built from %+v env %+v", m, m.env)
	}

	_, err = config.Load([]byte("plugs:\n  - name: m\n    type: memoryrelay\n    host: h\n    protocol: xor\n"), "bad.yml")
	if err == nil || !strings.Contains(err.Error(), `bad.yml: line 5: unknown key "protocol" for a plug of type memoryrelay`) {
		t.Errorf("kasa key on another type: %v", err)
	}
	_, err = config.Load([]byte("plugs:\n  - {name: m, type: memoryrelay, host: h, flip_back: required}\n"), "bad.yml")
	if err == nil || !strings.Contains(err.Error(), "a memoryrelay plug has no timer of its own") {
		t.Errorf("required on a type without a timer: %v", err)
	}
}

// The Cycler takes each plug's flip_back from its config: required on a
// Kasa plug that refuses the timer fails before switching off; off on the
// test type cycles without asking for a timer.
func TestCyclerFlipBackFromConfig(t *testing.T) {
	clk := clock.NewFake(t0)
	sim := startSim(t, "HS110", clk)
	sim.RefuseMethod("count_down.add_rule")
	c, err := config.Load(fmt.Appendf(nil, `plugs:
  - {name: k, host: %s, port: %d, flip_back: required}
  - {name: m, type: memoryrelay, host: h, channels: 2, flip_back: "off"}
`, sim.Host(), sim.Port()), "policy.yml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	// The plugs poll on the real clock (hourly), so the fake clock's only
	// timers are the cycle's.
	plugs := actuator.NewPlugs(ctx, actuator.Factory(clock.Real{}, logger), time.Hour, &eventLog{}, clock.Real{}, logger)
	defer plugs.Close()
	if err := plugs.Apply(c.Plugs); err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(filepath.Join(t.TempDir(), "state.json"), logger)
	if err != nil {
		t.Fatal(err)
	}
	cy := actuator.NewCycler(actuator.CyclerOptions{Plugs: plugs, State: st, Clock: clk, Logger: logger, MaxConcurrent: 2})
	defer cy.Shutdown(context.Background())

	u, err := cy.Cycle(actuator.Request{Plug: "k", Devices: []string{"cam"}, Trigger: actuator.TriggerManual, Off: 5 * time.Second, Boot: time.Minute})
	if !errors.Is(err, actuator.ErrFlipBackRequired) || u.Phase != actuator.PhaseFailed || u.Report.SwitchedOff || !sim.On(0) {
		t.Fatalf("required on a refusing plug: phase %s, report %+v, err %v, on %v", u.Phase, u.Report, err, sim.On(0))
	}

	done := make(chan actuator.Update, 1)
	go func() {
		u, _ := cy.Cycle(actuator.Request{Plug: "m", Outlet: "1", Devices: []string{"nas"}, Trigger: actuator.TriggerManual, Off: 5 * time.Second, Boot: time.Minute})
		done <- u
	}()
	clk.WaitForTimers(1)
	clk.Advance(5 * time.Second)
	u = <-done
	builtMu.Lock()
	m := built["m"]
	builtMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if u.Err != nil || m.arms != 0 || u.Report.FlipBackUnsupported || !u.Report.Verified || m.switches != 2 {
		t.Fatalf("flip_back off: %+v (switches %d)", u, m.switches)
	}
}
