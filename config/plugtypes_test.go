package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// relaySettings are the keys of a plug type that exists only in these tests:
// a relay board with numbered channels and no timer of its own.
type relaySettings struct {
	Channels int  `yaml:"channels"`
	Invert   bool `yaml:"invert,omitempty"`
}

func (r *relaySettings) Check() error {
	if r.Channels < 1 || r.Channels > 16 {
		return errors.New("channels must be 1 to 16")
	}
	return nil
}

func init() {
	RegisterPlugType(PlugType{Name: "testrelay", Settings: func() PlugSettings { return &relaySettings{Channels: 1} }})
	RegisterPlugType(PlugType{Name: "testbare", FlipBack: true})
}

func TestPlugTypes(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want string // error text; empty: loads
		ok   func(t *testing.T, p *PlugConfig)
	}{
		"old kasa entry without type": {in: "plugs:\n  - {name: p, host: h, protocol: XOR}\n", ok: func(t *testing.T, p *PlugConfig) {
			if p.Type != PlugKasa || p.Kasa().Protocol != ProtocolXOR || p.FlipBack != FlipBackAuto {
				t.Errorf("plug = %+v settings %+v", p, p.Settings)
			}
		}},
		"type is case-insensitive": {in: "plugs:\n  - {name: p, type: TestRelay, host: h, channels: 4}\n", ok: func(t *testing.T, p *PlugConfig) {
			if s, _ := p.Settings.(*relaySettings); p.Type != "testrelay" || s == nil || s.Channels != 4 {
				t.Errorf("plug = %+v settings %+v", p, p.Settings)
			}
		}},
		"type's default": {in: "plugs:\n  - {name: p, type: testrelay, host: h}\n", ok: func(t *testing.T, p *PlugConfig) {
			if s := p.Settings.(*relaySettings); s.Channels != 1 {
				t.Errorf("default channels = %d", s.Channels)
			}
		}},
		"type without keys of its own": {in: "plugs:\n  - {name: p, type: testbare, host: h, flip_back: Required}\n", ok: func(t *testing.T, p *PlugConfig) {
			if p.Settings != nil || p.FlipBack != FlipBackRequired {
				t.Errorf("plug = %+v", p)
			}
		}},
		"another type's key": {in: "plugs:\n  - name: p\n    type: testrelay\n    host: h\n    protocol: xor\n",
			want: `line 5: unknown key "protocol" for a plug of type testrelay (its keys: name, type, host, port, username, password, password_file, timeout, flip_back, channels, invert)`},
		"kasa key on a bare type": {in: "plugs:\n  - name: p\n    type: testbare\n    host: h\n\n    protocol: xor\n",
			want: `line 6: unknown key "protocol" for a plug of type testbare`},
		// A complaint that names no key (not a KeyError) gets the entry's line.
		"type's own check": {in: "plugs:\n  - {name: p, type: testrelay, host: h, channels: 99}\n", want: `line 2: plug "p": channels must be 1 to 16`},
		"required without a timer": {in: "plugs:\n  - {name: p, type: testrelay, host: h, flip_back: required}\n",
			want: `plug "p": flip_back: required, but a testrelay plug has no timer of its own`},
		"unknown type":              {in: "plugs:\n  - {name: p, type: zigbee, host: h}\n", want: `line 2: type: "zigbee" is not a plug type restartinator knows: use one of kasa, testbare, testrelay`},
		"bad value of a type's key": {in: "plugs:\n  - name: p\n    type: testrelay\n    channels: many\n    host: h\n", want: "line 4: cannot unmarshal !!str `many` into int"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := Load([]byte(tc.in), "plugs.yml")
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "plugs.yml: ") {
					t.Fatalf("error = %v\nwant it to name the file and contain %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.ok(t, &c.Plugs[0])
		})
	}
}

// A type's keys come back out of convert as the user wrote them, and load
// again to the same config.
func TestPlugTypeConvert(t *testing.T) {
	in := "plugs:\n  - {name: r, type: testrelay, host: h, channels: 3, invert: true, flip_back: off}\n  - {name: k, host: h2, protocol: klap, username: u, password: pw}\n  - {name: b, type: testbare, host: h3}\n"
	c, err := Load([]byte(in), "in.yml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal(false)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"channels: 3", "invert: true", "flip_back: \"off\"", "protocol: klap", "type: testbare", "password: <secret>"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("converted config lacks %q:\n%s", want, out)
		}
	}
	withSecrets, _ := c.Marshal(true)
	c2, err := Load(withSecrets, "out.yml")
	if err != nil {
		t.Fatalf("converted config does not load: %v\n%s", err, withSecrets)
	}
	c.Format, c2.Format = "", ""
	for i := range c.Plugs {
		a, b := c.Plugs[i], c2.Plugs[i]
		if a.Name != b.Name || a.Type != b.Type || a.FlipBack != b.FlipBack || a.Password != b.Password {
			t.Errorf("plug %d: %+v became %+v", i, a, b)
		}
		if (a.Settings == nil) != (b.Settings == nil) || a.Settings != nil && a.Settings.Check() != nil {
			t.Errorf("plug %d settings: %+v became %+v", i, a.Settings, b.Settings)
		}
	}
	if *c.Plugs[0].Settings.(*relaySettings) != *c2.Plugs[0].Settings.(*relaySettings) || c2.Plugs[1].Kasa().Protocol != ProtocolKLAP {
		t.Errorf("type keys changed: %+v, %+v", c2.Plugs[0].Settings, c2.Plugs[1].Settings)
	}
}

// A plug built in code (tests, plug_host) gets its type's defaults.
func TestPlugTypeDefaultsInCode(t *testing.T) {
	c := &Config{Global: DefaultGlobal, Defaults: DefaultDeviceSettings,
		Plugs: []PlugConfig{{Name: "a", Host: "h"}, {Name: "b", Type: "testrelay", Host: "h", Settings: &KasaSettings{}}}}
	err := c.validate()
	if err == nil || !strings.Contains(err.Error(), `plug "b": type testrelay has keys *config.relaySettings, not *config.KasaSettings`) {
		t.Errorf("wrong keys type: %v", err)
	}
	if c.Plugs[0].Type != PlugKasa || c.Plugs[0].Kasa().Protocol != ProtocolAuto || c.Plugs[0].FlipBack != FlipBackAuto {
		t.Errorf("defaults not filled: %+v %+v", c.Plugs[0], c.Plugs[0].Settings)
	}
}

func TestRegisterPlugTypeTwice(t *testing.T) {
	// The same keys again is fine (a driver repeating a built-in type).
	RegisterPlugType(PlugType{Name: PlugKasa, Settings: func() PlugSettings { return &KasaSettings{Protocol: ProtocolAuto} }, FlipBack: true})
	defer func() {
		if recover() == nil {
			t.Error("registering kasa with other keys did not panic")
		}
	}()
	RegisterPlugType(PlugType{Name: PlugKasa, Settings: func() PlugSettings { return &relaySettings{} }})
}

func TestWakeOnLAN(t *testing.T) {
	c, err := Load([]byte(`plugs: [{name: p, host: h}]
devices:
  - {name: a, host: a, port: 22, plug: p, wake_on_lan: {mac: "00-11-22-AA-BB-CC"}}
  - {name: b, host: b, port: 22, plug: p, wake_on_lan: {mac: "00:11:22:aa:bb:cd", broadcast: 192.168.1.255, delay: 30s}}
`), "wol.yml")
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Device("a").WakeOnLAN, c.Device("b").WakeOnLAN
	if a.MAC != "00:11:22:aa:bb:cc" || a.Broadcast != "255.255.255.255:9" || a.Delay.D() != 5*time.Second {
		t.Errorf("defaults: %+v", a)
	}
	if b.Broadcast != "192.168.1.255:9" || b.Delay.D() != 30*time.Second {
		t.Errorf("given: %+v", b)
	}
	for in, want := range map[string]string{
		"{mac: 00:11:22:aa:bb:cc, broadcast: lan}":            `wake_on_lan.broadcast "lan" must be an IP address`,
		"{mac: 00:11:22:aa:bb:cc, broadcast: '10.0.0.255:x'}": `wake_on_lan.broadcast "10.0.0.255:x" has a bad port`,
		"{mac: 00:11:22:aa:bb:cc, mack: 1}":                   `unknown key "mack"`,
	} {
		_, err := Load([]byte("plugs: [{name: p, host: h}]\ndevices:\n  - {name: a, host: a, port: 22, plug: p, wake_on_lan: "+in+"}\n"), "wol.yml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", in, err, want)
		}
	}
}
