package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
)

// runKasa parses args into the Kasa commands and runs the chosen one.
func runKasa(t *testing.T, ctx context.Context, args ...string) (code int, stdout, logs string) {
	t.Helper()
	app := kingpin.New("restartinator", "")
	app.Terminate(nil)
	cmds := plugCommands(app)
	chosen, err := app.Parse(args)
	if err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	out, log := &lockedBuffer{}, &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(log, nil))
	for _, c := range cmds {
		if c.clause.FullCommand() == chosen {
			code = c.run(ctx, logger, out)
			return code, out.String(), log.String()
		}
	}
	t.Fatalf("no command for %q", chosen)
	return
}

func startKasaSim(t *testing.T, opt kasasim.Options) *kasasim.Plug {
	t.Helper()
	p, err := kasasim.Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func plugArgs(p *kasasim.Plug, args ...string) []string {
	return append(args, "--host", p.Host(), "--port", strconv.Itoa(p.Port()))
}

func TestPlugStatusJSON(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		model string
		check func(t *testing.T, m map[string]any)
	}{
		{"HS110", func(t *testing.T, m map[string]any) {
			if m["on"] != true || m["protocol"] != "xor" || m["power_watts"].(float64) <= 0 || m["voltage_volts"].(float64) <= 0 ||
				m["current_amperes"] == nil || m["energy_watt_hours"] == nil || m["outlets"] != nil {
				t.Fatalf("json %v", m)
			}
		}},
		{"KP125M", func(t *testing.T, m map[string]any) {
			if m["on"] != true || m["protocol"] != "klap" || m["api"] != "smart" || m["power_watts"] == nil {
				t.Fatalf("json %v", m)
			}
		}},
		{"KP303", func(t *testing.T, m map[string]any) {
			outs, _ := m["outlets"].([]any)
			if len(outs) != 3 || m["on"] != nil || m["power_watts"] != nil {
				t.Fatalf("json %v", m)
			}
			o := outs[1].(map[string]any)
			if o["alias"] != "Outlet 2" || o["on"] != true || !strings.HasSuffix(o["id"].(string), "01") {
				t.Fatalf("outlet %v", o)
			}
		}},
	} {
		t.Run(tc.model, func(t *testing.T) {
			p := startKasaSim(t, kasasim.Options{Model: tc.model})
			code, out, logs := runKasa(t, ctx, plugArgs(p, "plug", "status", "-o", "json")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, logs)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if !strings.HasPrefix(m["model"].(string), tc.model) {
				t.Fatalf("model %v", m["model"])
			}
			tc.check(t, m)
		})
	}
}

func TestPlugSwitchAndCycle(t *testing.T) {
	ctx := context.Background()
	p := startKasaSim(t, kasasim.Options{Model: "HS300"})
	for _, tc := range []struct {
		name string
		args []string
		want []bool
		out  string
	}{
		{"off by alias", []string{"plug", "off", "--outlet", "Outlet 2"}, []bool{true, false, true, true, true, true}, `switched outlet "Outlet 2"`},
		{"on by index", []string{"plug", "on", "--outlet", "1"}, []bool{true, true, true, true, true, true}, "on"},
		{"cycle", []string{"plug", "cycle", "--outlet", "Outlet 6", "--off-time", "50ms"}, []bool{true, true, true, true, true, true}, "back on and verified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, logs := runKasa(t, ctx, plugArgs(p, tc.args...)...)
			if code != 0 || !strings.Contains(out, tc.out) {
				t.Fatalf("exit %d, out %q, logs %s", code, out, logs)
			}
			for i, o := range p.Outlets() {
				if o.On != tc.want[i] || o.Countdown {
					t.Fatalf("outlet %d: %+v", i, o)
				}
			}
		})
	}
}

func TestPlugErrorsSayWhatToCheck(t *testing.T) {
	ctx := context.Background()
	refused := startKasaSim(t, kasasim.Options{Model: "HS100"})
	refused.SetFault(kasasim.Refuse)
	strip := startKasaSim(t, kasasim.Options{Model: "KP303"})
	bound := startKasaSim(t, kasasim.Options{Model: "KP125M", Username: "me@example.com", Password: "right"})
	wrong := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(wrong, []byte("wrong\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"refused", plugArgs(refused, "plug", "status", "--protocol", "xor"), "connection refused — is the plug on the network"},
		{"strip without outlet", plugArgs(strip, "plug", "off"), `choose an outlet by alias, index or id: 0 \"Outlet 1\"`},
		{"wrong password", plugArgs(bound, "plug", "on", "--username", "me@example.com", "--password-file", wrong), "check --username and --password-file"},
		{"missing password file", plugArgs(bound, "plug", "on", "--password-file", "/nonexistent/pass"), "reading --password-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, logs := runKasa(t, ctx, tc.args...)
			if code != 1 || !strings.Contains(logs, tc.want) {
				t.Fatalf("exit %d, logs %s", code, logs)
			}
		})
	}
	right := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(right, []byte("right\n"), 0o600)
	if code, _, logs := runKasa(t, ctx, plugArgs(bound, "plug", "off", "--username", "me@example.com", "--password-file", right)...); code != 0 || bound.On(0) {
		t.Fatalf("with the right password: exit %d, %s", code, logs)
	}
}

func TestDiscoverCommand(t *testing.T) {
	p := startKasaSim(t, kasasim.Options{Model: "HS300"})
	code, out, logs := runKasa(t, context.Background(), "discover", "--no-mdns", "--broadcast", p.Addr(), "--timeout", "300ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, logs)
	}
	for _, w := range []string{"127.0.0.1", "HS300(US)", "Simulated HS300", "xor/iot", `"Outlet 6"`} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestSimulateCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := filepath.Join(t.TempDir(), "sim.yml")
	os.WriteFile(cfg, []byte("plugs:\n  - model: KP125M\n    alias: Router\n"), 0o600)
	app := kingpin.New("restartinator", "")
	cmds := plugCommands(app)
	chosen, err := app.Parse([]string{"simulate", "--model", "HS100", "--listen", "127.0.0.1:0", "--config", cfg})
	if err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{}
	code := make(chan int, 1)
	for _, c := range cmds {
		if c.clause.FullCommand() == chosen {
			go func() { code <- c.run(ctx, slog.New(slog.DiscardHandler), out) }()
		}
	}
	re := regexp.MustCompile(`simulating (\S+) \((\S+)/\S+, \d+ outlets\) on (127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(10 * time.Second)
	for len(re.FindAllStringSubmatch(out.String(), -1)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("simulator did not start: %q", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, m := range re.FindAllStringSubmatch(out.String(), -1) {
		host, port, _ := strings.Cut(m[3], ":")
		rc, stdout, logs := runKasa(t, ctx, "plug", "status", "--host", host, "--port", port, "--protocol", m[2], "-o", "json")
		if rc != 0 || !strings.Contains(stdout, `"model": "`+m[1]) {
			t.Fatalf("%s: exit %d, %s %s", m[1], rc, stdout, logs)
		}
	}
	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("simulate exit %d", c)
	}
}

// discover -o json says what the plug announced: family, encryption and
// login version, and whether we speak it.
func TestDiscoverCommandJSON(t *testing.T) {
	p := startKasaSim(t, kasasim.Options{Model: "KP125M", Protocol: "aes"})
	code, out, logs := runKasa(t, context.Background(), "discover", "--no-mdns", "--broadcast", p.Addr(), "--timeout", "500ms", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, logs)
	}
	var found []map[string]any
	if err := json.Unmarshal([]byte(out), &found); err != nil || len(found) != 1 {
		t.Fatalf("output %s: %v", out, err)
	}
	d := found[0]
	for k, want := range map[string]any{"protocol": "aes", "api": "smart", "family": "SMART", "encryption": "AES",
		"login_version": float64(2), "supported": true, "port": float64(p.Port()), "https": false} {
		if d[k] != want {
			t.Errorf("%s = %v, want %v (%s)", k, d[k], want, out)
		}
	}
}
