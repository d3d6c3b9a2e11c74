package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/internal/simdevice"
)

// mixedPlug is one brand in the mixed test: its simulator, its config entry
// and the device it powers.
type mixedPlug struct {
	name, model string
	sim         demoPlug
	dev         *demoDevice
}

// TestMixedBrandsDetectCycleRecover runs the real binary on a config that
// mixes every plug type (Kasa, Shelly Gen1 and Gen2, Tasmota), each simulated on loopback with a device on its
// outlet. Every device hangs at once; each must be detected, power-cycled
// through its own plug's protocol with the plug's own flip-back timer
// armed, and recover; the PC behind the Gen2 Shelly gets its Wake-on-LAN
// packet once power is back.
func TestMixedBrandsDetectCycleRecover(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "shelly.pass")
	os.WriteFile(pwFile, []byte("s3cret\n"), 0o600)
	plugs := []*mixedPlug{
		{name: "kasa-plug", model: "HS100"},
		{name: "shelly-gen1", model: "shelly1"},
		{name: "shelly-gen2", model: "shellyplus1"},
		{name: "tasmota", model: "tasmota"},
	}
	wolAddr, packets := listenWakeOnLAN(t)
	var plugCfg, devCfg strings.Builder
	for _, p := range plugs {
		var err error
		switch {
		case p.model == "tasmota":
			var s runningSim
			s, err = startTasmotaSimulator(simPlug{Model: p.model, Password: "t4smota"}, slog.New(slog.DiscardHandler))
			if err == nil {
				p.sim = demoTasmota{s.(tasmotaSim)}
			}
		case strings.HasPrefix(p.model, "shelly"):
			var s runningSim
			s, err = startShellySimulator(simPlug{Model: p.model, Password: map[bool]string{true: "s3cret"}[p.name == "shelly-gen2"]}, slog.New(slog.DiscardHandler))
			if err == nil {
				p.sim = demoShelly{s.(shellySim)}
			}
		default:
			var k *kasasim.Plug
			k, err = kasasim.Start(kasasim.Options{Model: p.model, Listen: "127.0.0.1:0"})
			if err == nil {
				p.sim = demoKasa{k}
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.sim.Close() })
		p.sim.SetOn(0, true)
		entry := p.sim.ConfigEntry(p.name)
		switch p.name {
		case "shelly-gen2":
			entry = strings.Replace(entry, "}", ", password_file: "+pwFile+", flip_back: required}", 1)
		case "tasmota":
			entry = strings.Replace(entry, "}", ", password: t4smota}", 1)
		}
		fmt.Fprintf(&plugCfg, "  - %s\n", entry)
		dev, err := simdevice.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dev.Close() })
		p.dev = &demoDevice{name: "dev-" + p.name, dev: dev, plug: p.sim, bootFor: 500 * time.Millisecond, wasOn: true}
		fmt.Fprintf(&devCfg, "  - {name: %s, host: 127.0.0.1, port: %d, plug: %s", p.dev.name, dev.Port(), p.name)
		if p.name == "shelly-gen2" {
			fmt.Fprintf(&devCfg, ", wake_on_lan: {mac: \"00:11:22:aa:bb:cc\", broadcast: \"%s\", delay: 0s}", wolAddr)
		}
		devCfg.WriteString("}\n")
	}
	cfg := fmt.Sprintf(`global:
  state_file: %s
  max_concurrent_cycles: 4
  guard: {max_failing_ratio: 1}
defaults: {check_interval: 300ms, retry_interval: 200ms, retries: 2, timeout: 500ms, cycle_time: 1s, boot_time: 20s}
plugs:
%sdevices:
%s`, filepath.Join(dir, "state.json"), plugCfg.String(), devCfg.String())
	cfgPath := filepath.Join(dir, "mixed.yml")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // each device follows its outlet
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				for _, p := range plugs {
					p.dev.step(now)
				}
			}
		}
	}()
	_, addr, logs := startBinary(t, "--config.file", cfgPath)
	devices := func() map[string]deviceView {
		_, body := get(t, "http://"+addr+"/api/v1/devices")
		var resp struct {
			Devices []deviceView `json:"devices"`
		}
		json.Unmarshal([]byte(body), &resp)
		out := map[string]deviceView{}
		for _, d := range resp.Devices {
			out[d.Name] = d
		}
		return out
	}
	waitFor(t, "every device to be up", func() bool {
		ds := devices()
		for _, p := range plugs {
			if ds[p.dev.name].State != "up" {
				return false
			}
		}
		return true
	})
	for _, p := range plugs {
		p.dev.hang()
	}
	waitFor(t, "every device to be detected, cycled and back up", func() bool {
		ds := devices()
		for _, p := range plugs {
			if d := ds[p.dev.name]; d.State != "up" || d.LastCycle == nil {
				return false
			}
		}
		return true
	})
	for _, p := range plugs {
		p.dev.mu.Lock()
		off := p.dev.offSeen
		p.dev.mu.Unlock()
		if off != 1 || !p.sim.On(0) {
			t.Errorf("%s: outlet seen off %d times (want 1), on now %v", p.name, off, p.sim.On(0))
		}
		if !strings.Contains(logs.String(), fmt.Sprintf(`msg="outlet switched off" plug=%s outlet="" devices=[%s] trigger=auto outlet="" off_time=1s flip_back_armed=true`, p.name, p.dev.name)) {
			t.Errorf("%s: no switch-off with the plug's own timer armed in the log", p.name)
		}
	}
	select {
	case pkt := <-packets:
		if len(pkt) != 102 {
			t.Errorf("wake-on-LAN packet of %d bytes", len(pkt))
		}
	case <-time.After(10 * time.Second):
		t.Error("no Wake-on-LAN packet for the PC behind shelly-gen2")
	}
	if t.Failed() {
		t.Logf("config:\n%s\nlog:\n%s", cfg, logs.String())
	}
}

type deviceView struct {
	Name      string     `json:"name"`
	State     string     `json:"state"`
	LastCycle *time.Time `json:"last_cycle"`
}

// listenWakeOnLAN is the sleeping PC's network card: a UDP socket on
// loopback that hands over each datagram.
func listenWakeOnLAN(t *testing.T) (string, <-chan []byte) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	got := make(chan []byte, 4)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			got <- append([]byte(nil), buf[:n]...)
		}
	}()
	return pc.LocalAddr().String(), got
}
