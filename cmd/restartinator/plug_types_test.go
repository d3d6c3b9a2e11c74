package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/actuator/shelly/shellysim"
)

// startShelly serves a simulated Shelly on loopback for one test.
func startShelly(t *testing.T, opt shellysim.Options) (*shellysim.Device, string, string) {
	t.Helper()
	d, err := shellysim.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go d.Serve(ln)
	t.Cleanup(func() { d.Close() })
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	return d, host, port
}

// plug status without --type finds each type on its own and says which in
// one log line; the JSON has the same keys for every type.
func TestPlugAutoDetects(t *testing.T) {
	ctx := context.Background()
	kp := startKasaSim(t, kasasim.Options{Model: "HS110"})
	_, g1host, g1port := startShelly(t, shellysim.Options{Model: "shelly25"})
	_, g2host, g2port := startShelly(t, shellysim.Options{Model: "shellypro4pm"})
	_, p1host, p1port := startShelly(t, shellysim.Options{Model: "shellyplusplugs"})
	tsim, err := startTasmotaSimulator(simPlug{Model: "tasmota", Outlets: 3}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tsim.Close() })
	thost, tport, _ := net.SplitHostPort(tsim.Addr())
	for _, tc := range []struct {
		name, host, port, typ, model string
		outlets                      int
	}{
		{"kasa", kp.Host(), strconv.Itoa(kp.Port()), "kasa", "HS110(EU)", 0},
		{"shelly gen1 strip", g1host, g1port, "shelly", "SHSW-25", 2},
		{"shelly gen2 strip", g2host, g2port, "shelly", "SPSW-104PE16EU", 4},
		{"shelly gen2 plug", p1host, p1port, "shelly", "SNPL-00112EU", 0},
		{"tasmota strip", thost, tport, "tasmota", "", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, logs := runKasa(t, ctx, "plug", "status", "--host", tc.host, "--port", tc.port, "-o", "json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, logs)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			outs, _ := m["outlets"].([]any)
			if tc.model != "" && m["model"] != tc.model || m["model"] == "" || len(outs) != tc.outlets {
				t.Fatalf("json %v", m)
			}
			if tc.outlets == 0 && (m["on"] != true || m["power_watts"] == nil && tc.typ == "shelly") {
				t.Fatalf("single plug json %v", m)
			}
			if n := strings.Count(logs, "detected the plug type"); n != 1 || !strings.Contains(logs, "type="+tc.typ) {
				t.Fatalf("want one line saying type %s:\n%s", tc.typ, logs)
			}
		})
	}
	// Nothing answering: every type's error, and what to do.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	code, _, logs := runKasa(t, ctx, "plug", "status", "--host", "127.0.0.1", "--port", port, "--timeout", "2s")
	if code != 1 || !strings.Contains(logs, "no plug type answered") || !strings.Contains(logs, "give --type") {
		t.Fatalf("exit %d: %s", code, logs)
	}
}

func TestPlugShelly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	right, wrong := filepath.Join(dir, "right"), filepath.Join(dir, "wrong")
	os.WriteFile(right, []byte("s3cret\n"), 0o600)
	os.WriteFile(wrong, []byte("nope\n"), 0o600)
	for _, model := range []string{"shelly25", "shellypro4pm"} {
		t.Run(model, func(t *testing.T) {
			d, host, port := startShelly(t, shellysim.Options{Model: model, Password: "s3cret"})
			args := func(a ...string) []string { return append(a, "--type", "shelly", "--host", host, "--port", port) }
			for _, tc := range []struct {
				name string
				args []string
				want string
			}{
				{"no password", args("plug", "status"), `set the plug's password`},
				{"wrong password", args("plug", "status", "--password-file", wrong), `the device rejected the username/password`},
				{"kasa flag", args("plug", "status", "--protocol", "xor", "--password-file", right), `unknown key \"protocol\" for a plug of type shelly`},
				{"no such outlet", args("plug", "off", "--outlet", "7", "--password-file", right), `no such outlet \"7\"`},
			} {
				code, _, logs := runKasa(t, ctx, tc.args...)
				if code != 1 || !strings.Contains(logs, tc.want) {
					t.Fatalf("%s: exit %d, logs %s", tc.name, code, logs)
				}
				for i, o := range d.Outlets() {
					if !o.On {
						t.Fatalf("%s: outlet %d off after a failed command", tc.name, i)
					}
				}
			}
			code, _, logs := runKasa(t, ctx, args("plug", "off", "--outlet", "1", "--password-file", right)...)
			if code != 0 || d.On(1) || !d.On(0) {
				t.Fatalf("off outlet 1: exit %d, outlets %+v, %s", code, d.Outlets(), logs)
			}
			code, out, logs := runKasa(t, ctx, args("plug", "cycle", "--outlet", "1", "--off-time", "50ms", "--password-file", right, "-o", "json")...)
			var rep map[string]any
			json.Unmarshal([]byte(out), &rep)
			if code != 0 || rep["flip_back_armed"] != true || rep["verified"] != true || !d.On(1) {
				t.Fatalf("cycle: exit %d, %s, outlets %+v, %s", code, out, d.Outlets(), logs)
			}
		})
	}
}

// simulate starts Kasa and Shelly models side by side; plug status reads
// each back.
func TestSimulateMixedModels(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app := kingpin.New("restartinator", "")
	cmds := plugCommands(app)
	chosen, err := app.Parse([]string{"simulate", "--model", "shellyplus1", "--model", "HS100", "--model", "shelly25",
		"--outlets", "1", "--outlets", "0", "--outlets", "2"})
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
	re := regexp.MustCompile(`simulating (\S+) \(\S+/\S+, (\d+) outlets\) on (127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(10 * time.Second)
	for len(re.FindAllStringSubmatch(out.String(), -1)) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("simulators did not start: %q", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	want := map[string]string{"shellyplus1": "SNSW-001X16EU", "HS100": "HS100(US)", "shelly25": "SHSW-25"}
	for _, m := range re.FindAllStringSubmatch(out.String(), -1) {
		host, port, _ := strings.Cut(m[3], ":")
		rc, stdout, logs := runKasa(t, ctx, "plug", "status", "--host", host, "--port", port, "-o", "json")
		if rc != 0 || !strings.Contains(stdout, `"model": "`+want[m[1]]) {
			t.Fatalf("%s: exit %d, %s %s", m[1], rc, stdout, logs)
		}
	}
	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("simulate exit %d", c)
	}
}

func TestPlugTasmota(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	right, wrong := filepath.Join(dir, "right"), filepath.Join(dir, "wrong")
	os.WriteFile(right, []byte("t4smota\n"), 0o600)
	os.WriteFile(wrong, []byte("nope\n"), 0o600)
	s, err := startTasmotaSimulator(simPlug{Model: "tasmota", Outlets: 2, Password: "t4smota"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	d := s.(tasmotaSim)
	host, port, _ := net.SplitHostPort(d.Addr())
	args := func(a ...string) []string { return append(a, "--type", "tasmota", "--host", host, "--port", port) }
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no password", args("plug", "status"), `set the plug's password`},
		{"wrong password", args("plug", "off", "--outlet", "1", "--password-file", wrong), `Tasmota's web user is always admin`},
		{"kasa flag", args("plug", "status", "--protocol", "klap", "--password-file", right), `unknown key \"protocol\" for a plug of type tasmota`},
	} {
		code, _, logs := runKasa(t, ctx, tc.args...)
		if code != 1 || !strings.Contains(logs, tc.want) {
			t.Fatalf("%s: exit %d, logs %s", tc.name, code, logs)
		}
		if !d.On(0) || !d.On(1) {
			t.Fatalf("%s: an outlet is off after a failed command: %+v", tc.name, d.Outlets())
		}
	}
	code, out, logs := runKasa(t, ctx, args("plug", "status", "--password-file", right, "-o", "json")...)
	var st map[string]any
	json.Unmarshal([]byte(out), &st)
	if outs, _ := st["outlets"].([]any); code != 0 || len(outs) != 2 || outs[0].(map[string]any)["power_watts"] == nil {
		t.Fatalf("status: exit %d, %s %s", code, out, logs)
	}
	code, out, logs = runKasa(t, ctx, args("plug", "cycle", "--outlet", "1", "--off-time", "300ms", "--password-file", right, "-o", "json")...)
	var rep map[string]any
	json.Unmarshal([]byte(out), &rep)
	if code != 0 || rep["flip_back_armed"] != true || rep["verified"] != true || !d.On(1) || !d.On(0) {
		t.Fatalf("cycle: exit %d, %s, outlets %+v, %s", code, out, d.Outlets(), logs)
	}
}
