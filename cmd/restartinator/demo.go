package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/internal/simdevice"
)

// demoDevice is a simulated device powered by a simulated plug outlet: it
// goes down when the outlet goes off, boots for a moment when it comes back,
// and now and then hangs until someone power-cycles it.
type demoDevice struct {
	name, mode string
	dev        *simdevice.Device
	plug       demoPlug // nil: not on a plug
	plugName   string
	outlet     int
	strip      bool

	bootFor time.Duration // how long it boots once power returns (default 3s)

	mu      sync.Mutex
	hung    bool
	wasOn   bool
	upAt    time.Time // booting until then
	offSeen int       // times the outlet was seen off
}

// step makes the device follow its outlet and its hang.
func (d *demoDevice) step(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	on := true
	if d.plug != nil {
		on = d.plug.On(d.outlet)
	}
	switch {
	case !on:
		if d.wasOn {
			d.offSeen++
		}
		d.hung, d.upAt = false, time.Time{} // power off clears any hang
	case on && !d.wasOn:
		boot := d.bootFor
		if boot == 0 {
			boot = 3 * time.Second
		}
		d.upAt = now.Add(boot) // booting
	}
	d.wasOn = on
	_ = d.dev.SetUp(on && !d.hung && !now.Before(d.upAt)) // a failed rebind is tried again on the next tick
}

func (d *demoDevice) hang() {
	d.mu.Lock()
	d.hung = true
	d.mu.Unlock()
}

// runDemo starts simulated plugs and devices on loopback, writes a config for
// them and runs the real service against it.
func (o *serveOptions) runDemo(ctx context.Context, logger *slog.Logger, stdout io.Writer) int {
	dir, err := os.MkdirTemp("", "restartinator-demo")
	if err != nil {
		logger.Error("demo", "err", err)
		return 1
	}
	defer os.RemoveAll(dir)

	plugs := map[string]demoPlug{}
	for _, p := range demoPlugs {
		sim, err := p.start(p.model, p.name)
		if err != nil {
			logger.Error("demo: starting a simulated plug", "model", p.model, "err", err)
			return 1
		}
		defer func() { _ = sim.Close() }() // the demo is ending
		for i := range sim.Outlets() {
			sim.SetOn(i, true)
		}
		plugs[p.name] = sim
	}
	var devices []*demoDevice
	for _, d := range []struct {
		name, mode, plug string
		outlet           int
	}{
		{"Front Door Camera", "auto", "rack-strip", 0},
		{"Router", "auto", "desk-plug", 0},
		{"NAS", "auto", "tapo-plug", 0},
		{"Printer", "alert", "rack-strip", 1},
		{"Weather Station", "monitor", "", 0},
		{"Modem", "auto", "shelly-plug", 0},
		{"Access Point", "auto", "shelly-pro", 2},
		{"Media Server", "auto", "tasmota-plug", 0},
	} {
		dev, err := simdevice.Start()
		if err != nil {
			logger.Error("demo: starting a simulated device", "err", err)
			return 1
		}
		defer dev.Close()
		dd := &demoDevice{name: d.name, mode: d.mode, dev: dev, plugName: d.plug, outlet: d.outlet, wasOn: true}
		if d.plug != "" {
			dd.plug, dd.strip = plugs[d.plug], plugs[d.plug].Outlets() > 1
		}
		devices = append(devices, dd)
	}

	cfg := demoConfig(dir, plugs, devices) + demoNotifications(o.demoNotifyURL)
	path := filepath.Join(dir, "restartinator.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		logger.Error("demo", "err", err)
		return 1
	}
	fmt.Fprintf(stdout, "restartinator demo: simulated plugs and devices on loopback. The config it runs (copy it to start your own):\n\n%s\n", cfg)
	fmt.Fprintln(stdout, "Every ~20 s one device hangs; watch the log, /metrics and /api/v1/devices as it is detected, power-cycled and recovers.")
	if o.demoNotifyURL == "" {
		fmt.Fprintln(stdout, "Add --demo.notify-url=http://127.0.0.1:8080/hook (a JSON webhook) or --demo.notify-url=ntfy://ntfy.sh/your-topic to get its notifications.")
	}

	go func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		nextHang := time.Now().Add(8 * time.Second)
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				for _, d := range devices {
					d.step(now)
				}
				if now.After(nextHang) {
					var auto []*demoDevice
					for _, d := range devices {
						if d.mode == "auto" && d.dev.Up() {
							auto = append(auto, d)
						}
					}
					if len(auto) > 0 {
						victim := auto[rand.IntN(len(auto))]
						logger.Warn("demo: this device hangs now; restartinator should notice and power-cycle it", "device", victim.name)
						victim.hang()
					}
					nextHang = now.Add(20 * time.Second)
				}
			}
		}
	}()

	demo := *o
	demo.configFile = path
	if addrs := *o.web.WebListenAddresses; len(addrs) == 1 && addrs[0] == ":9788" {
		loop := []string{"127.0.0.1:9788"} // the demo stays on loopback unless told otherwise
		demo.web.WebListenAddresses = &loop
	}
	return demo.serve(ctx, logger)
}

func demoConfig(dir string, plugs map[string]demoPlug, devices []*demoDevice) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global:
  state_file: %s
defaults:
  check_interval: 2s
  retry_interval: 1s
  retries: 3
  timeout: 1s
  cycle_time: 3s
  boot_time: 15s
  max_cycles: 3
  cycle_window: 10m
plugs:
`, filepath.Join(dir, "state.json"))
	for _, p := range demoPlugs {
		fmt.Fprintf(&b, "  - %s\n", plugs[p.name].ConfigEntry(p.name))
	}
	b.WriteString("devices:\n")
	for _, d := range devices {
		fmt.Fprintf(&b, "  - name: %s\n    host: 127.0.0.1\n    port: %d\n    mode: %s\n", d.name, d.dev.Port(), d.mode)
		if d.plug != nil {
			fmt.Fprintf(&b, "    plug: %s\n", d.plugName)
			if d.strip {
				fmt.Fprintf(&b, "    outlet: \"%d\"\n", d.outlet)
			}
		}
	}
	b.WriteString(`webhook:
  routes:
    - matchers: ['alertname="RestartinatorDeviceDown"']
      action: cycle
`)
	return b.String()
}

// demoNotifications is the channel --demo.notify-url asks for: the native
// JSON webhook for http(s), a shoutrrr service URL otherwise. Events go out
// as they come, so the demo's first notification arrives within seconds.
func demoNotifications(url string) string {
	if url == "" {
		return ""
	}
	dest := fmt.Sprintf("      url: %q\n", url)
	if strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://") {
		dest = fmt.Sprintf("      webhook: {url: %q}\n", url)
	}
	return "notifications:\n  channels:\n    - name: demo\n" + dest + "      coalesce_window: 0s\n"
}

// demoPlug is a simulated plug of any brand the demo runs.
type demoPlug interface {
	Outlets() int
	On(i int) bool
	SetOn(i int, on bool)
	// ConfigEntry is the plug's line in the demo's plugs: list.
	ConfigEntry(name string) string
	Close() error
}

// demoPlugs are the demo's plugs: several brands, each with its simulator.
var demoPlugs = []struct {
	name, model string
	start       func(model, alias string) (demoPlug, error)
}{
	{"desk-plug", "HS110", startDemoKasa},
	{"rack-strip", "HS300", startDemoKasa},
	{"tapo-plug", "KP125M", startDemoKasa},
	{"shelly-plug", "shellyplugs", startDemoShelly},
	{"shelly-pro", "shellypro4pm", startDemoShelly},
	{"tasmota-plug", "tasmota", startDemoTasmota},
}

type demoKasa struct{ *kasasim.Plug }

func (k demoKasa) Outlets() int { return len(k.Plug.Outlets()) }
func (k demoKasa) ConfigEntry(name string) string {
	return fmt.Sprintf("{name: %s, type: kasa, host: 127.0.0.1, port: %d, protocol: %s}  # simulated %s", name, k.Port(), k.Protocol(), k.Model())
}

func startDemoKasa(model, alias string) (demoPlug, error) {
	p, err := kasasim.Start(kasasim.Options{Model: model, Listen: "127.0.0.1:0", Alias: alias})
	if err != nil {
		return nil, err
	}
	return demoKasa{p}, nil
}

type demoShelly struct {
	shellySim
}

func (d demoShelly) Outlets() int { return len(d.Device.Outlets()) }
func (d demoShelly) ConfigEntry(name string) string {
	return fmt.Sprintf("{name: %s, type: shelly, host: 127.0.0.1, port: %d}  # simulated %s", name, d.ln.Addr().(*net.TCPAddr).Port, d.Describe())
}

func startDemoShelly(model, _ string) (demoPlug, error) {
	s, err := startShellySimulator(simPlug{Model: model}, slog.Default())
	if err != nil {
		return nil, err
	}
	return demoShelly{s.(shellySim)}, nil
}

type demoTasmota struct{ tasmotaSim }

func (d demoTasmota) Outlets() int { return len(d.Device.Outlets()) }
func (d demoTasmota) ConfigEntry(name string) string {
	return fmt.Sprintf("{name: %s, type: tasmota, host: 127.0.0.1, port: %d}  # simulated %s", name, d.ln.Addr().(*net.TCPAddr).Port, d.Describe())
}

func startDemoTasmota(model, _ string) (demoPlug, error) {
	s, err := startTasmotaSimulator(simPlug{Model: model}, slog.Default())
	if err != nil {
		return nil, err
	}
	return demoTasmota{s.(tasmotaSim)}, nil
}
