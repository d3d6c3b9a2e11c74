package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/internal/porthold"
	"github.com/restartinator/restartinator/internal/simdevice"
)

// closedPort is a loopback port on which connections are refused for the
// whole test: it stays bound, not listening (internal/porthold), so no
// other process on a busy machine takes it and answers instead.
func closedPort(t *testing.T) int {
	t.Helper()
	p, err := porthold.Closed()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ap, err := netip.ParseAddrPort(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return int(ap.Port())
}

var simulatingRE = regexp.MustCompile(`^simulating .* on (127\.0\.0\.1:(\d+))$`)

// startSimulatorProcess runs `restartinator simulate` on 127.0.0.1:0 in a process
// of its own and returns the port it reports: no port picked in advance
// that another process could take first.
func startSimulatorProcess(t *testing.T, args ...string) int {
	t.Helper()
	sim := exec.Command(binary(t), append(append([]string{"simulate"}, args...), "--listen", "127.0.0.1:0")...)
	sim.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := sim.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	sim.Stderr = &logWriter{logs}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Process.Kill(); sim.Wait() })
	port := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			logs.WriteLine(sc.Text())
			if m := simulatingRE.FindStringSubmatch(sc.Text()); m != nil {
				n, _ := strconv.Atoi(m[2])
				select {
				case port <- n:
				default:
				}
			}
		}
		close(port)
	}()
	select {
	case p, ok := <-port:
		if !ok {
			t.Fatalf("the simulator ended before listening:\n%s", logs.String())
		}
		return p
	case <-time.After(60 * time.Second):
		t.Fatalf("the simulator did not report its address:\n%s", logs.String())
	}
	return 0
}

// logWriter is an io.Writer into a syncBuffer.
type logWriter struct{ b *syncBuffer }

func (w *logWriter) Write(p []byte) (int, error) {
	w.b.WriteLine(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// cycleRig is the real binary supervising a simulated device on a plug
// simulated by a second, separate restartinator process, so the plug
// outlives the supervisor when the test kills it.
type cycleRig struct {
	cfgPath string
	plug    *kasa.Client
	state   string
}

func newCycleRig(t *testing.T) *cycleRig { return newCycleRigOff(t, "10m") }

// newCycleRigOff is newCycleRig with the given cycle_time.
func newCycleRigOff(t *testing.T, off string) *cycleRig {
	return newCycleRigPlug(t, off, "HS100", "xor")
}

// newCycleRigPlug is newCycleRigOff with the simulated plug's model and the
// protocol it speaks.
func newCycleRigPlug(t *testing.T, off, model, protocol string) *cycleRig {
	t.Helper()
	port := startSimulatorProcess(t, "--model", model, "--protocol", protocol)
	opt := kasa.Options{Host: "127.0.0.1", Port: port, Protocol: protocol, Timeout: 2 * time.Second}
	account := ""
	if protocol == "aes" {
		// The simulator's account (the default Tapo one), given outright:
		// one handshake instead of trying the default accounts in turn.
		opt.Credentials, opt.LoginVersion = &kasa.Credentials{Username: "test@tp-link.net", Password: "test"}, 2
		account = ", username: test@tp-link.net, password: test"
	}
	client, err := kasa.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	waitFor(t, "the simulated plug to answer", func() bool {
		return client.Switch(context.Background(), "", true) == nil
	})
	dev, err := simdevice.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	dir := t.TempDir()
	r := &cycleRig{cfgPath: filepath.Join(dir, "r.yml"), plug: client, state: filepath.Join(dir, "state.json")}
	// A long off time: only restartinator itself (not the plug's flip-back
	// timer) can have switched the outlet on within the test.
	cfg := fmt.Sprintf(`global: {state_file: %s}
plugs: [{name: p, host: 127.0.0.1, port: %d, protocol: %s%s}]
devices:
  - {name: cam, host: 127.0.0.1, port: %d, plug: p, mode: alert, cycle_time: %s, boot_time: 1m}
webhook:
  routes: [{matchers: ['alertname="RestartinatorDeviceDown"'], action: cycle}]
`, r.state, port, protocol, account, dev.Port(), off)
	os.WriteFile(r.cfgPath, []byte(cfg), 0o600)
	return r
}

func (r *cycleRig) relayOn(t *testing.T) bool {
	t.Helper()
	st, err := r.plug.Status(context.Background())
	if err != nil {
		t.Fatalf("plug status: %v", err)
	}
	return st.Outlets[0].On
}

func (r *cycleRig) startCycle(t *testing.T, addr string) {
	t.Helper()
	code, body := post(t, "http://"+addr+"/api/v1/devices/cam/cycle", "")
	if code != http.StatusAccepted {
		t.Fatalf("manual cycle: %d %s", code, body)
	}
	waitFor(t, "the outlet to go off", func() bool { return !r.relayOn(t) })
}

func TestSIGKILLMidCycleOutletOnAfterRestart(t *testing.T) {
	testSIGKILLMidCycle(t, newCycleRig(t))
}

// The same over the AES securePassthrough transport of older Tapo firmware:
// `simulate --protocol aes` and `protocol: aes` in the config.
func TestSIGKILLMidCycleOutletOnAfterRestartAES(t *testing.T) {
	testSIGKILLMidCycle(t, newCycleRigPlug(t, "10m", "KP125M", "aes"))
}

func testSIGKILLMidCycle(t *testing.T, r *cycleRig) {
	t.Helper()
	cmd, addr, _ := startBinary(t, "--config.file", r.cfgPath)
	r.startCycle(t, addr)
	cmd.Process.Kill()
	cmd.Wait()
	if r.relayOn(t) {
		t.Fatal("outlet on right after the kill: the test proves nothing")
	}
	_, addr2, logs := startBinary(t, "--config.file", r.cfgPath)
	waitFor(t, "the restarted binary to switch the outlet back on", func() bool { return r.relayOn(t) })
	if !strings.Contains(logs.String(), "previous run stopped mid-cycle") {
		t.Errorf("the reconcile was not logged:\n%s", logs.String())
	}
	_, body := get(t, "http://"+addr2+"/api/v1/devices")
	var resp devicesResponse
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Devices) != 1 || resp.Devices[0].CyclesInWindow != 1 || resp.Devices[0].LastCycle == nil {
		t.Errorf("cycle history not kept across the kill: %s", body)
	}
}

func TestSIGTERMMidCyclePowerBackBeforeExit(t *testing.T) {
	r := newCycleRig(t)
	cmd, addr, logs := startBinary(t, "--config.file", r.cfgPath)
	r.startCycle(t, addr)
	code, body := post(t, "http://"+addr+"/api/v1/devices/cam/cycle", "")
	if code != http.StatusConflict {
		t.Errorf("second cycle of a cycling outlet: %d %s, want 409", code, body)
	}
	terminate(t, cmd, logs)
	if !r.relayOn(t) {
		t.Fatalf("outlet left off after SIGTERM\n%s", logs.String())
	}
}

func TestManualCycleAPI(t *testing.T) {
	r := newCycleRig(t)
	_, addr, _ := startBinary(t, "--config.file", r.cfgPath)
	if code, _ := post(t, "http://"+addr+"/api/v1/devices/ghost/cycle", ""); code != http.StatusNotFound {
		t.Errorf("unknown device: %d, want 404", code)
	}
	code, body := post(t, "http://"+addr+"/api/v1/devices/cam/cycle", "")
	if code != http.StatusAccepted || !strings.Contains(body, "off for 10m") {
		t.Errorf("cycle: %d %s", code, body)
	}
	_, list := get(t, "http://"+addr+"/api/v1/devices")
	if !strings.Contains(list, `"name": "cam"`) {
		t.Errorf("device list: %s", list)
	}
}
