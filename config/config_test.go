package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const fixtures = "../../shared/fixtures/seed-configs"

func fixture(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(fixtures, name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared fixture %s not present (%v); skipping", p, err)
	}
	return p
}

func TestInvalidConfigs(t *testing.T) {
	cases := map[string]string{
		"unknown-key":              `line 2: unknown key "check_intervall"`,
		"unknown-top":              `line 3: unknown key "plug"`,
		"dup-device":               `device "a" is defined twice`,
		"dup-plug":                 `plug "p" is defined twice`,
		"missing-plug":             `device "cam": plug "nope" is not defined in plugs`,
		"no-plug-auto":             `device "cam": mode auto needs a plug to cycle`,
		"negative-duration":        `line 2: check_interval: "-5" is negative`,
		"zero-duration":            `device "cam": boot_time must be positive, got 0s`,
		"bad-duration":             `line 2: timeout: "soon" is not a duration`,
		"retries-zero":             `device "cam": retries must be at least 1, got 0`,
		"bad-mode":                 `device "cam": mode "sometimes" is not one of auto, alert, monitor`,
		"bad-matcher":              `webhook.routes[0]: matcher "alertname=~\"(":`,
		"bad-action":               `webhook.routes[0]: action "explode" is not one of cycle, host_reset, notify`,
		"bad-cron":                 `device "cam": schedule "61 * * * *": end of range (61) above maximum (59)`,
		"route-needs-host-reset":   `webhook.routes[0] asks for host_reset but no host_reset section is configured`,
		"trigger-needs-host-reset": `triggers.files[0] (/tmp/x) asks for host_reset but no host_reset section`,
		"trigger-unknown-device":   `triggers.files[0] (/tmp/x): device "ghost" is not defined`,
		"bad-protocol":             `plug "p": protocol "carrier-pigeon" is not one of auto, xor, klap, aes`,
		"no-probe":                 `device "cam": set host and port (a TCP check) or a probe`,
		"bad-probe-type":           `device "cam": probe.type "smoke" is not one of tcp, http, icmp, power, bmc`,
		"power-no-bounds":          `device "pc": a power probe needs probe.min_watts, probe.max_watts or both`,
		"email-no-to":              `notifications.email: email_to needs at least one address`,
		"secret-both":              `plug "p": give password or password_file, not both`,
		"smtp-alias-conflict":      `smtp_host and smtp_server are two spellings of one setting and disagree`,
		"bad-ratio":                `global.guard.max_failing_ratio must be above 0 and at most 1, got 2`,
		"plug-and-plug-host":       `device "cam": give plug or plug_host, not both`,
		"bad-body-regexp":          `device "cam": probe.body_regexp: error parsing regexp`,
		"bad-bool":                 `line 4: use_ssl: "maybe" is not a boolean`,
		"empty-token-file":         `webhook.bearer_token_file testdata/empty-token is empty`,
		"channel-no-url":           `notifications.channels[0] "phone" (line 6): give exactly one of url, url_file or webhook`,
		"channel-dup":              `notifications.channels[2] "phone" (line 7): is defined twice: channel names must be unique`,
		"channel-bad-event":        `notifications.channels[0] "phone" (line 3): events: "exploded" is not one of offline,`,
		"channel-named-email":      `notifications.channels[0] "email" (line 3): the name "email" is the notifications.email channel's; pick another`,
		"ha-peer-delay":            `peer_delay 1h: must be between 0s and 5m`,
		"ha-delay-cycle-time":      `device "cam": cycle_time 5s must be longer than global.ha.peer_delay 10s`,
		"plug-unknown-key":         `line 5: unknown key "protcol" for a plug of type kasa (its keys: name, type, host, port, username, password, password_file, timeout, flip_back, protocol)`,
		"plug-unknown-type":        `line 3: type: "zigbee" is not a plug type restartinator knows: use one of kasa, testbare, testrelay`,
		"bad-flip-back":            `plug "p": flip_back "sometimes" is not one of auto, required, off`,
		"require-range":            `device "internet": require "3" must be all, any, or a number from 1 to 2 (the targets in probes)`,
		"probe-and-probes":         `device "internet": give probe or probes, not both`,
		"probes-bad-target":        `device "internet": probes[1].target "no-port" must be host:port`,
		"depends-unknown":          `device "router" (line 4): depends_on: device "ghost" is not defined`,
		"depends-self":             `device "modem" (line 3): depends_on names the device itself`,
		"depends-cycle":            `device "router" (line 4) depends on device "switch" (line 9), which depends back on it (router -> switch -> router)`,
		"wol-bad-mac":              `device "pc": wake_on_lan.mac "00:11:22:33:44" is not a MAC address like 00:11:22:33:44:55`,
	}
	files, _ := filepath.Glob("testdata/invalid-*.yml")
	if len(files) != len(cases) {
		t.Errorf("%d invalid-*.yml files but %d cases: every file needs its expected error", len(files), len(cases))
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			path := "testdata/invalid-" + name + ".yml"
			_, err := LoadFile(path)
			if err == nil {
				t.Fatalf("%s loaded without error", path)
			}
			if !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("error does not name the file: %v", err)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error\n  %v\ndoes not contain\n  %s", err, want)
			}
		})
	}
}

func TestFullConfig(t *testing.T) {
	c, err := LoadFile("testdata/valid-full.yml")
	if err != nil {
		t.Fatal(err)
	}
	cam := c.Device("Front Door Camera")
	if cam.Settings.BootTime.D() != 2*time.Minute || cam.Settings.CheckInterval.D() != 30*time.Second {
		t.Errorf("camera settings = %+v, want boot_time 2m from the device and check_interval 30s from defaults", cam.Settings)
	}
	if c.Defaults.RetryInterval.D() != 5*time.Second {
		t.Errorf("bare number of seconds: retry_interval = %v", c.Defaults.RetryInterval)
	}
	router := c.Device("router")
	if router.Plug != "127.0.0.2:9999" || router.Probe.Type != ProbeTCP {
		t.Errorf("plug_host shorthand: plug=%q probe=%v", router.Plug, router.Probe)
	}
	if p := c.Plug("127.0.0.2:9999"); p == nil || p.Host != "127.0.0.2" || p.Port != 9999 || p.Type != PlugKasa {
		t.Errorf("plug_host did not become a kasa plug: %+v", p)
	}
	if nas := c.Device("nas"); nas.Plug != "" || nas.Mode != ModeMonitor {
		t.Errorf("monitor device: %+v", nas)
	}
	if got := len(c.Webhook.Routes[1].Parsed); got != 2 {
		t.Errorf("route 1 parsed %d matchers, want 2", got)
	}
	if c.Webhook.Routes[0].DeviceLabel != "device" || c.Webhook.MaxBodyBytes != 1<<20 {
		t.Errorf("webhook defaults not applied: %+v", c.Webhook)
	}
	if c.Triggers.Files[1].CheckInterval.D() != 5*time.Second {
		t.Errorf("file trigger default check_interval = %v", c.Triggers.Files[1].CheckInterval)
	}
	if c.Notifications.Email.StartTLS != StartTLSOpportunistic {
		t.Errorf("starttls default = %q", c.Notifications.Email.StartTLS)
	}
}

func TestEmptyConfigGetsDefaults(t *testing.T) {
	c, err := Load(nil, "empty.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Defaults, DefaultDeviceSettings) || c.Global.MaxConcurrentCycles != 2 {
		t.Errorf("defaults not applied to an empty file: %+v", c)
	}
}

func TestLegacyJSON(t *testing.T) {
	c, err := LoadFile("testdata/legacy.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.Format != FormatRestartinator {
		t.Errorf("format = %q", c.Format)
	}
	cam, router := c.Device("Front Door Camera"), c.Device("Router")
	want := DeviceSettings{CheckInterval: Duration(30 * time.Second), RetryInterval: DefaultDeviceSettings.RetryInterval,
		Retries: 3, Timeout: DefaultDeviceSettings.Timeout, CycleTime: Duration(10 * time.Second), BootTime: Duration(120 * time.Second),
		MaxCycles: DefaultDeviceSettings.MaxCycles, CycleWindow: DefaultDeviceSettings.CycleWindow}
	if !reflect.DeepEqual(cam.Settings, want) {
		t.Errorf("camera settings\n got %+v\nwant %+v", cam.Settings, want)
	}
	if router.Settings.CheckInterval.D() != time.Minute || router.Settings.Retries != 5 || router.Settings.CycleTime.D() != 20*time.Second ||
		router.Settings.BootTime.D() != 300*time.Second {
		t.Errorf("router settings = %+v (seed default boot_time is 300 s)", router.Settings)
	}
	if cam.Probe.Type != ProbeTCP || cam.Host != "camera1" || cam.Port != 80 {
		t.Errorf("camera probe = %+v", cam.Probe)
	}
	if p := c.Plug(router.Plug); p == nil || p.Host != "switch-router" || p.Port != 9999 {
		t.Errorf("router plug = %+v", p)
	}
	e := c.Notifications.Email
	if e.SMTPHost != "smtp.example.com" || e.SMTPUser != "alerts" || bool(e.UseSSL) || !reflect.DeepEqual([]string(e.EmailTo), []string{"me@example.com"}) {
		t.Errorf("email = %+v", e)
	}
}

func TestLegacySMTPSpellings(t *testing.T) {
	c, err := LoadFile("testdata/legacy-smtp-server.json")
	if err != nil {
		t.Fatal(err)
	}
	e := c.Notifications.Email
	if e.SMTPHost != "mail.example.com" || e.SMTPUser != "bob" || !bool(e.UseSSL) {
		t.Errorf("smtp_server/smtp_username/use_ssl 1 not understood: %+v", e)
	}
}

func TestSeedSampleNeedsItsComma(t *testing.T) {
	path := fixture(t, "restartinator-sample.conf")
	_, err := LoadFile(path)
	if err == nil {
		t.Fatal("the seed's sample (missing a comma) loaded")
	}
	for _, want := range []string{path, "line 8, column 7", "a comma is probably missing at the end of line 7"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	data, _ := os.ReadFile(path)
	fixed := strings.Replace(string(data), `"use_ssl": 1`, `"use_ssl": 1,`, 1)
	c, err := Load([]byte(fixed), "fixed.conf")
	if err != nil {
		t.Fatalf("with the comma added: %v", err)
	}
	e := c.Notifications.Email
	if e.SMTPHost != "server.mail.com" || e.SMTPUser != "username" || !bool(e.UseSSL) {
		t.Errorf("email = %+v", e)
	}
	if d := c.Device("Front Door Camera"); d == nil || d.Settings.BootTime.D() != 120*time.Second || d.Plug != "switch-camera1" {
		t.Errorf("device = %+v", d)
	}
}

func TestPyStabilityINI(t *testing.T) {
	check := func(t *testing.T, c *Config, method, file, wdt string, kill time.Duration, rtc, mode string, interval time.Duration, single bool) {
		t.Helper()
		if c.Format != FormatPyStabilityINI {
			t.Errorf("format = %q", c.Format)
		}
		h := c.HostReset
		if h.Method != method || h.Watchdog.Device != wdt || h.Watchdog.Timeout.D() != kill || h.RTC.Device != rtc || h.RTC.Mode != mode {
			t.Errorf("host_reset = %+v watchdog=%+v rtc=%+v", h, h.Watchdog, h.RTC)
		}
		tr := c.Triggers.Files
		if len(tr) != 1 || tr[0].Path != file || tr[0].Action != ActionHostReset || tr[0].CheckInterval.D() != interval {
			t.Errorf("triggers = %+v", tr)
		}
		if c.Global.SingleRun != single {
			t.Errorf("single_run = %v, want %v", c.Global.SingleRun, single)
		}
	}
	t.Run("seed default", func(t *testing.T) {
		c, err := LoadFile(fixture(t, "py-stability-iot-config.ini"))
		if err != nil {
			t.Fatal(err)
		}
		// single_run = false means false (the original read any non-empty string as true).
		check(t, c, ResetWatchdog, "/tmp/pywatchdog-fault-indicator", "/dev/watchdog", 300*time.Second, "/dev/rtc", "off", 5*time.Second, false)
	})
	t.Run("rtc single run", func(t *testing.T) {
		c, err := LoadFile("testdata/legacy-single-run.ini")
		if err != nil {
			t.Fatal(err)
		}
		check(t, c, ResetRTC, "/run/fault", "/dev/watchdog1", time.Minute, "/dev/rtc1", "mem", 10*time.Second, true)
	})
	t.Run("interval 0 means run once", func(t *testing.T) {
		c, err := Load([]byte("[general]\nchecking_interval = 0\n"), "cron.ini")
		if err != nil {
			t.Fatal(err)
		}
		if !c.Global.SingleRun {
			t.Error("checking_interval = 0 did not mean single run")
		}
	})
	for name, tc := range map[string]struct{ in, want string }{
		"unknown key":     {"[general]\nrecovery_devices = rtc\n", `line 2: unknown key "recovery_devices" in [general]`},
		"unknown section": {"[general]\n[gpio]\n", "line 2: unknown section [gpio]"},
		"bad bool":        {"[general]\nsingle_run = perhaps\n", `line 2: [general] single_run: "perhaps" is not a boolean`},
		"bad method":      {"[general]\nrecovery_device = hammer\n", `host_reset.method "hammer" is not one of watchdog, rtc`},
		"no equals":       {"[general]\njust words\n", `line 2: "just words" is not key = value`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load([]byte(tc.in), "bad.ini")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestConvertRoundTrip(t *testing.T) {
	for _, path := range []string{"testdata/legacy.json", "testdata/legacy-smtp-server.json", "testdata/legacy-single-run.ini", "testdata/valid-full.yml"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			first, err := LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, err := first.Marshal(true)
			if err != nil {
				t.Fatal(err)
			}
			if DetectFormat(out) != FormatYAML {
				t.Fatalf("converted output is not detected as YAML:\n%s", out)
			}
			second, err := Load(out, "converted.yml")
			if err != nil {
				t.Fatalf("converted config does not load: %v\n%s", err, out)
			}
			first.Format, second.Format = "", ""
			// Where a channel stands in the file is not part of it.
			for _, c := range []*Config{first, second} {
				for i := range c.Notifications.Channels {
					c.Notifications.Channels[i].Line = 0
				}
				c.deviceLines = nil
			}
			if !reflect.DeepEqual(first, second) {
				a, _ := first.Marshal(true)
				b, _ := second.Marshal(true)
				t.Errorf("round trip changed the config:\n--- first\n%s\n--- second\n%s", a, b)
			}
		})
	}
}

func TestSecretsRedacted(t *testing.T) {
	c, err := LoadFile("testdata/valid-full.yml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal(false)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"kasa-secret-value", "smtp-secret-value", "webhook-secret-value", "ntfy-secret-value", "hook-secret-value", "header-secret-value"} {
		if strings.Contains(string(out), s) {
			t.Errorf("redacted config shows secret %q", s)
		}
	}
	if !strings.Contains(string(out), "<secret>") {
		t.Error("redacted config does not mark secrets")
	}
	withSecrets, _ := c.Marshal(true)
	if !strings.Contains(string(withSecrets), "smtp-secret-value") {
		t.Error("Marshal(true) dropped a secret: convert would lose it")
	}
}

func TestSecretFileTwin(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("from-file\n"), 0o600)
	c, err := Load([]byte("plugs: [{name: p, host: h, password_file: "+pw+"}]\n"), "x.yml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadSecret(string(c.Plugs[0].Password), c.Plugs[0].PasswordFile)
	if err != nil || got != "from-file" {
		t.Errorf("ReadSecret = %q, %v", got, err)
	}
	_, err = Load([]byte("plugs: [{name: p, host: h, password_file: "+filepath.Join(dir, "missing")+"}]\n"), "x.yml")
	if err == nil || !strings.Contains(err.Error(), `plug "p": password_file`) {
		t.Errorf("missing password file: %v", err)
	}
}

func TestDetectFormat(t *testing.T) {
	for in, want := range map[string]string{
		"{\"devices\": []}":             FormatRestartinator,
		"  \n{}":                        FormatRestartinator,
		"# comment\n[general]\nx = 1\n": FormatPyStabilityINI,
		"global:\n  dry_run: true\n":    FormatYAML,
		"devices: []\n":                 FormatYAML,
	} {
		if got := DetectFormat([]byte(in)); got != want {
			t.Errorf("DetectFormat(%q) = %q, want %q", in, got, want)
		}
	}
}

// Without indicator_file_path the legacy INI's indicator lives under
// /run/restartinator, not /tmp where any local user could create it.
func TestLegacyINIDefaultIndicatorUnderRun(t *testing.T) {
	c, err := Load([]byte("[general]\nrecovery_device = rtc\n"), "config.ini")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Triggers.Files[0].Path; got != "/run/restartinator/pywatchdog-fault-indicator" {
		t.Errorf("default indicator %q", got)
	}
}

func TestRequireResolves(t *testing.T) {
	for _, tc := range []struct {
		require string
		want    int
	}{{"", 3}, {"all", 3}, {"ALL", 3}, {"any", 1}, {"2", 2}, {"3", 3}} {
		y := "devices:\n  - name: internet\n    mode: monitor\n    require: \"" + tc.require + "\"\n    probes:\n" +
			"      - {type: tcp, target: \"127.0.0.1:1\"}\n      - {type: icmp, target: 127.0.0.2}\n      - {type: http, url: \"http://127.0.0.3/\"}\n"
		c, err := Load([]byte(y), "t.yml")
		if err != nil {
			t.Fatalf("require %q: %v", tc.require, err)
		}
		if got := c.Devices[0].RequireN; got != tc.want {
			t.Errorf("require %q resolves to %d, want %d", tc.require, got, tc.want)
		}
	}
}
