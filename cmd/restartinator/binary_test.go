package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the real restartinator once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "restartinator-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "restartinator")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the binary: %v\n%s", buildErr, binPath)
	}
	return binPath
}

const sharedSeeds = "../../../shared/fixtures/seed-configs"

func TestConfigCheckAsAUserWould(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	misspelt := filepath.Join(dir, "misspelt.yml")
	os.WriteFile(misspelt, []byte("defaults:\n  retires: 3\n"), 0o600)

	type tc struct {
		name, file string
		code       int
		want       []string
	}
	cases := []tc{{"misspelt key", misspelt, 1, []string{"misspelt.yml", `line 2: unknown key "retires"`}}}
	if _, err := os.Stat(sharedSeeds); err == nil {
		sample := filepath.Join(sharedSeeds, "restartinator-sample.conf")
		data, _ := os.ReadFile(sample)
		fixed := filepath.Join(dir, "fixed.conf")
		os.WriteFile(fixed, bytes.Replace(data, []byte(`"use_ssl": 1`), []byte(`"use_ssl": 1,`), 1), 0o600)
		cases = append(cases,
			tc{"py-stability-iot ini", filepath.Join(sharedSeeds, "py-stability-iot-config.ini"), 0, []string{"SUCCESS", "host reset by watchdog /dev/watchdog"}},
			tc{"seed sample missing comma", sample, 1, []string{"line 8, column 7", "comma is probably missing"}},
			tc{"seed sample fixed", fixed, 0, []string{"SUCCESS", "Front Door Camera"}},
		)
	} else {
		t.Logf("shared fixtures absent (%v): checking only the project's own cases", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := exec.Command(bin, "--config.check", "--config.file", c.file).CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s", code, c.code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestConvertCommand(t *testing.T) {
	bin := binary(t)
	out, err := exec.Command(bin, "config", "convert", "../../config/testdata/legacy.json").Output()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "converted.yml")
	os.WriteFile(path, out, 0o600)
	check, err := exec.Command(bin, "--config.check", "--config.file", path).CombinedOutput()
	if err != nil || !strings.Contains(string(check), "Front Door Camera") {
		t.Fatalf("converted config does not check: %v\n%s\n%s", err, check, out)
	}
}

var listenRE = regexp.MustCompile(`msg=listening address=(\S+)`)

// startBinary runs the real binary on a free loopback port and returns its
// address once it listens; stderr lines go to lines.
func startBinary(t *testing.T, args ...string) (*exec.Cmd, string, *syncBuffer) {
	t.Helper()
	bin := binary(t)
	cmd := exec.Command(bin, append([]string{"--web.listen-address=127.0.0.1:0", "--log.level=debug"}, args...)...)
	cmd.Dir = t.TempDir() // a default state file lands there, not in the source tree
	// Dies with the test binary, also when -timeout kills it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, _ := cmd.StderrPipe()
	logs := &syncBuffer{}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteLine(sc.Text())
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, a, logs
	case <-time.After(60 * time.Second):
		t.Fatalf("binary did not start listening:\n%s", logs.String())
	}
	return nil, "", nil
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) WriteLine(s string) {
	b.mu.Lock()
	b.buf.WriteString(s + "\n")
	b.mu.Unlock()
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond (a real process answers on its own time; this bounds
// the wait, it asserts nothing about speed).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func TestSIGHUPReloadAndSIGTERM(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.yml")
	os.WriteFile(path, []byte(goodConfig), 0o600)
	cmd, addr, logs := startBinary(t, "--config.file", path)
	metrics := func() string { // a poll; a failed one just polls again
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	os.WriteFile(path, []byte("devices: [{name: x}]\n"), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the bad reload to be reported", func() bool {
		return strings.Contains(metrics(), "restartinator_config_last_reload_successful 0")
	})
	if _, body := get(t, "http://"+addr+"/config"); !strings.Contains(body, "name: cam") {
		t.Errorf("running config replaced by a bad one:\n%s", body)
	}
	os.WriteFile(path, []byte(strings.Replace(goodConfig, "name: cam", "name: cam2", 1)), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the good reload", func() bool {
		return strings.Contains(metrics(), "restartinator_config_last_reload_successful 1")
	})
	if _, body := get(t, "http://"+addr+"/config"); !strings.Contains(body, "name: cam2") {
		t.Errorf("good config not applied:\n%s", body)
	}
	terminate(t, cmd, logs)
}

// terminate sends SIGTERM and waits (bounded) for a clean exit.
func terminate(t *testing.T, cmd *exec.Cmd, logs *syncBuffer) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
}
