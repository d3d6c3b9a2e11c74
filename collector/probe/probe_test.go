package probe

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/config"
)

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		dev  config.DeviceConfig
		opts Options
		want string
	}{
		{"nothing to probe", config.DeviceConfig{Name: "d", Host: "h"}, Options{},
			`device "d": no probe configured: set host and port (a TCP check) or a probe`},
		{"unknown type", config.DeviceConfig{Name: "d", Probe: &config.ProbeConfig{Type: "snmp"}}, Options{},
			`device "d": probe type "snmp" is not one of tcp, http, icmp, power, bmc`},
		{"tcp without target", config.DeviceConfig{Name: "d", Host: "h", Probe: &config.ProbeConfig{Type: "tcp"}}, Options{},
			`device "d": a tcp probe needs host and port, or probe.target host:port`},
		{"tcp target without port", config.DeviceConfig{Name: "d", Probe: &config.ProbeConfig{Type: "tcp", Target: "camera1"}}, Options{},
			`device "d": tcp probe target "camera1" must be host:port`},
		{"http without url or host", config.DeviceConfig{Name: "d", Probe: &config.ProbeConfig{Type: "http"}}, Options{},
			`device "d": an http probe needs probe.url or the device's host`},
		{"http url scheme", config.DeviceConfig{Name: "d", Probe: &config.ProbeConfig{Type: "http", URL: "ftp://u:pw@camera1/"}}, Options{},
			`device "d": http probe url "ftp://u:xxxxx@camera1/" must start with http:// or https://`},
		{"icmp without host", config.DeviceConfig{Name: "d", Probe: &config.ProbeConfig{Type: "icmp"}}, Options{},
			`device "d": an icmp probe needs the device's host or probe.target`},
		{"power without reader", config.DeviceConfig{Name: "d", Plug: "p", Probe: &config.ProbeConfig{Type: "power", MinWatts: watt(1)}}, Options{},
			`device "d": a power probe reads the plug's meter, but no meter reader was given`},
		{"power without bounds", config.DeviceConfig{Name: "d", Plug: "p", Probe: &config.ProbeConfig{Type: "power"}}, Options{PowerReader: reads(1)},
			`device "d": a power probe needs probe.min_watts, probe.max_watts or both`},
		{"power bounds crossed", config.DeviceConfig{Name: "d", Plug: "p", Probe: &config.ProbeConfig{Type: "power", MinWatts: watt(20), MaxWatts: watt(10)}}, Options{PowerReader: reads(1)},
			`device "d": probe.min_watts (20 W) is above probe.max_watts (10 W)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(&tc.dev, tc.opts)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestNewFromLoadedConfig builds every device of a real config file, as the
// program will: what validation leaves (defaults, compiled regexps, decoded
// http_client_config) is what New expects.
func TestNewFromLoadedConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "restartinator.yml")
	if err := os.WriteFile(path, []byte(`
defaults:
  timeout: 3s
plugs:
  - {name: strip, type: kasa, host: 192.0.2.50}
devices:
  - {name: router, host: 192.0.2.1, port: 443, plug: strip}
  - name: camera
    host: camera1
    plug: strip
    timeout: 7s
    probe:
      type: http
      valid_status_codes: [200, 401]
      body_regexp: 'ok|ready'
      http_client_config:
        basic_auth: {username: admin, password: s3cret}
  - {name: nas, host: nas.lan, plug: strip, probe: {type: icmp, privileged: true}}
  - {name: pc, plug: strip, outlet: PC, probe: {type: power, min_watts: 15}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"router": {"tcp", "192.0.2.1:443"},
		"camera": {"http", "http://camera1/"},
		"nas":    {"icmp", "nas.lan"},
		"pc":     {"power", `plug "strip" outlet "PC"`},
	}
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		p, err := New(d, Options{PowerReader: reads(20)})
		if err != nil {
			if d.Name == "nas" && strings.Contains(err.Error(), "CAP_NET_RAW") {
				continue // raw sockets not permitted here; TestICMPPrivileged says so
			}
			t.Fatalf("%s: %v", d.Name, err)
		}
		if got := [2]string{p.Type(), p.Target()}; got != want[d.Name] {
			t.Errorf("%s: got %q, want %q", d.Name, got, want[d.Name])
		}
	}
	cam, err := New(&cfg.Devices[1], Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := cam.(*HTTP)
	if h.timeout.Seconds() != 7 || h.bodyRE == nil || h.client.CheckRedirect != nil {
		t.Errorf("camera: timeout %v, body regexp %v, redirects followed %v; want 7s, compiled, followed (the YAML default)",
			h.timeout, h.bodyRE, h.client.CheckRedirect == nil)
	}
}

// Every probe type a config can name is one New can build, in the config's
// order: a type registered with config but not here would pass
// --config.check and then fail at start-up.
func TestTypesMatchConfig(t *testing.T) {
	if got, want := Types(), config.ProbeTypeNames(); !slices.Equal(got, want) {
		t.Errorf("probe types New builds: %v\nconfig probe types: %v", got, want)
	}
}

func TestRegisterRefuses(t *testing.T) {
	f := func(*config.DeviceConfig, *config.ProbeConfig, time.Duration, Options) (Prober, error) {
		return nil, nil
	}
	for _, name := range []string{config.ProbeTCP, "snmp"} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("register(%q) did not panic", name)
				}
			}()
			register(name, f)
		})
	}
}
