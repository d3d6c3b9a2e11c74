package kasa_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/internal/testtool"
)

// npmDir holds the launcher for the third-party simulator from npm
// (tplink-smarthome-simulator); `make npm-deps` installs it.
const npmDir = "../../test/npm"

type npmDevice struct {
	Port     int    `json:"port"`
	DeviceID string `json:"deviceId"`
}

// startNPM starts one device of the npm simulator on loopback. Without node
// or the package it skips, except in CI where it fails.
func startNPM(t *testing.T, model string) npmDevice {
	t.Helper()
	missing := func(why string) {
		testtool.Missing(t, "npm simulator unavailable: "+why+" (run `make npm-deps`)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(npmDir, "node_modules", "tplink-smarthome-simulator")); err != nil {
		missing("tplink-smarthome-simulator is not installed in " + npmDir)
	}
	// The npm device binds UDP on a free port, then TCP on the same number,
	// which another socket may hold: try a few times.
	var why string
	for range 10 {
		d, err := launchNPM(t, node, model)
		if err == nil {
			return d
		}
		why = err.Error()
	}
	t.Fatalf("npm simulator did not start: %s", why)
	return npmDevice{}
}

func launchNPM(t *testing.T, node, model string) (npmDevice, error) {
	cmd := exec.Command(node, "sim.js", model)
	cmd.Dir = npmDir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return npmDevice{}, err
	}
	stop := func() {
		stdin.Close() // the launcher stops when stdin closes
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
	}()
	select {
	case l, ok := <-line:
		var d npmDevice
		if !ok || json.Unmarshal([]byte(l), &d) != nil || d.Port == 0 {
			stop()
			return d, fmt.Errorf("%q; stderr: %s", l, stderr.String())
		}
		t.Cleanup(stop)
		return d, nil
	case <-time.After(20 * time.Second):
		stop()
		return npmDevice{}, fmt.Errorf("not listening within 20s; stderr: %s", stderr.String())
	}
}

// TestAgainstNPMSimulator checks our client against an implementation we
// did not write. Its quirks: relays start off, each TCP chunk is a whole
// message, HS300 child ids are deviceId + "00".."05", no KLAP.
func TestAgainstNPMSimulator(t *testing.T) {
	for _, tc := range []struct {
		model   string
		outlets int
		energy  bool
	}{
		{"hs100", 1, false},
		{"hs110", 1, true},
		{"hs110v2", 1, true},
		{"hs300", 6, true},
	} {
		t.Run(tc.model, func(t *testing.T) {
			ctx := ctxT(t)
			dev := startNPM(t, tc.model)
			c, err := kasa.New(kasa.Options{Host: "127.0.0.1", Port: dev.Port, Timeout: 3 * time.Second, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			st, err := c.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Protocol != "xor" || !strings.EqualFold(st.Model[:5], tc.model[:5]) || len(st.Outlets) != tc.outlets {
				t.Fatalf("status %+v", st)
			}
			sel := ""
			if tc.outlets > 1 {
				sel = "3"
				if st.Outlets[3].ID != dev.DeviceID+"03" {
					t.Fatalf("outlet 3 id %q, want deviceId+03", st.Outlets[3].ID)
				}
			}
			for _, o := range st.Outlets {
				if (o.Energy != nil) != tc.energy || tc.energy && o.Energy.Volts <= 0 {
					t.Fatalf("outlet %d energy %+v", o.Index, o.Energy)
				}
			}
			for _, on := range []bool{true, false, true} {
				if err := c.Switch(ctx, sel, on); err != nil {
					t.Fatal(err)
				}
				st, err := c.Status(ctx)
				if err != nil {
					t.Fatal(err)
				}
				o := st.Outlets[len(st.Outlets)/2]
				if tc.outlets == 1 {
					o = st.Outlets[0]
				}
				if o.On != on {
					t.Fatalf("after switching on=%v status says %+v", on, o)
				}
			}
			if err := c.ArmFlipBack(ctx, sel, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := c.DisarmFlipBack(ctx, sel); err != nil {
				t.Fatal(err)
			}

			found, err := kasa.Discover(ctx, kasa.DiscoverOptions{Broadcast: "127.0.0.1:" + itoa(dev.Port), Timeout: 2 * time.Second, Logger: quiet})
			if err != nil || len(found) != 1 || found[0].Protocol != "xor" || len(found[0].Outlets) != tc.outlets {
				t.Fatalf("discovery: %+v, %v", found, err)
			}
		})
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
