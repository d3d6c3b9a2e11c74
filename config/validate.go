package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/alertmanager/matcher/parse"
	"github.com/robfig/cron/v3"
)

// Events a notification channel can be limited to.
var Events = []string{"offline", "cycle_started", "recovered", "cycle_failed", "gave_up", "held", "plug_unreachable", "host_reset", "notify", "channel_failing", "channel_recovered"}

// CronParser parses device schedules: five fields or a descriptor (@daily).
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// validate checks what a single key cannot: references between sections,
// ranges, and the shorthand plug_host. It returns every problem it finds.
func (c *Config) validate() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Global.MaxConcurrentProbes < 0 {
		fail("global.max_concurrent_probes must be 0 (sized from the devices) or more, got %d", c.Global.MaxConcurrentProbes)
	}
	if c.Global.MaxPause <= 0 {
		fail("global.max_pause must be positive, got %s", c.Global.MaxPause)
	}
	if c.Global.MaxConcurrentCycles < 1 {
		fail("global.max_concurrent_cycles must be at least 1, got %d", c.Global.MaxConcurrentCycles)
	}
	if g := c.Global.Guard; g.MaxFailingRatio <= 0 || g.MaxFailingRatio > 1 {
		fail("global.guard.max_failing_ratio must be above 0 and at most 1, got %g", g.MaxFailingRatio)
	}
	if c.Global.Guard.CheckInterval <= 0 || c.Global.Guard.Timeout <= 0 {
		fail("global.guard.check_interval and timeout must be positive")
	}
	for _, t := range c.Global.Guard.Targets {
		if _, _, err := net.SplitHostPort(t); err != nil {
			fail("global.guard.targets: %q must be host:port (a TCP service the monitor should always reach, e.g. your router's DNS at 192.168.1.1:53)", t)
		}
	}
	if err := c.Defaults.check("defaults"); err != nil {
		errs = append(errs, err)
	}

	plugs := map[string]*PlugConfig{}
	for i := range c.Plugs {
		p := &c.Plugs[i]
		if p.Name == "" {
			fail("plugs[%d]: name is required", i)
			continue
		}
		if plugs[p.Name] != nil {
			fail("plug %q is defined twice: plug names must be unique", p.Name)
		}
		plugs[p.Name] = p
		errs = append(errs, p.checkIn(c.source, i)...)
	}

	names := map[string]bool{}
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.Name == "" {
			fail("devices[%d]: name is required", i)
			continue
		}
		if names[d.Name] {
			fail("device %q is defined twice: device names must be unique", d.Name)
		}
		names[d.Name] = true
		if d.PlugHost != "" {
			if err := c.expandPlugHost(d, plugs); err != nil {
				errs = append(errs, err)
			}
		}
		errs = append(errs, c.checkDevice(d, plugs)...)
		if h := c.Global.HA; h.PeerCheck && d.Plug != "" && d.Settings.CycleTime > 0 && d.Settings.CycleTime <= h.PeerDelay {
			// The standby must look while the outlet is still off.
			fail("device %q: cycle_time %s must be longer than global.ha.peer_delay %s, or a peer's cycle is over before this instance looks", d.Name, d.Settings.CycleTime, h.PeerDelay)
		}
	}

	errs = append(errs, c.checkDependencies(names)...)

	if e := c.Notifications.Email; e != nil {
		errs = append(errs, e.check()...)
	}
	errs = append(errs, c.Notifications.checkChannels()...)

	needsHostReset := func(where string) {
		if c.HostReset == nil {
			fail("%s asks for host_reset but no host_reset section is configured: add one (method: watchdog or rtc)", where)
		}
	}
	if c.Webhook.BearerToken != "" && c.Webhook.BearerTokenFile != "" {
		fail("webhook: give bearer_token or bearer_token_file, not both")
	}
	if err := checkSecretFile("webhook.bearer_token_file", c.Webhook.BearerTokenFile); err != nil {
		errs = append(errs, err)
	} else if f := c.Webhook.BearerTokenFile; f != "" {
		// An empty token would turn token auth off and fall back to loopback trust.
		if tok, err := ReadSecret("", f); err != nil {
			fail("webhook.bearer_token_file: %v", err)
		} else if tok == "" {
			fail("webhook.bearer_token_file %s is empty: put the token in it, or remove the key to rely on loopback trust", f)
		}
	}
	if c.Webhook.MaxAlertsPerRequest < 0 {
		fail("webhook.max_alerts_per_request must be positive")
	}
	if c.Webhook.MaxAlertsPerRequest == 0 {
		c.Webhook.MaxAlertsPerRequest = DefaultMaxAlertsPerRequest
	}
	if c.Webhook.MaxBodyBytes < 0 {
		fail("webhook.max_body_bytes must be positive")
	}
	if c.Webhook.MaxBodyBytes == 0 {
		c.Webhook.MaxBodyBytes = DefaultMaxBody
	}
	if c.Webhook.EpisodeQuiet < 0 {
		fail("webhook.episode_quiet must be positive")
	}
	if c.Webhook.EpisodeQuiet == 0 {
		c.Webhook.EpisodeQuiet = DefaultEpisodeQuiet
	}
	for i := range c.Webhook.Routes {
		r := &c.Webhook.Routes[i]
		where := fmt.Sprintf("webhook.routes[%d]", i)
		r.Action = lower(r.Action)
		if !slices.Contains([]string{ActionCycle, ActionHostReset, ActionNotify}, r.Action) {
			fail("%s: action %q is not one of cycle, host_reset, notify", where, r.Action)
		}
		if r.Action == ActionHostReset {
			needsHostReset(where)
		}
		if r.DeviceLabel == "" {
			r.DeviceLabel = "device"
		}
		r.Parsed = nil
		for _, m := range r.Matchers {
			pm, err := parse.Matcher(m)
			if err != nil {
				fail("%s: matcher %q: %v", where, m, err)
				continue
			}
			r.Parsed = append(r.Parsed, pm)
		}
	}

	if h := c.HostReset; h != nil {
		errs = append(errs, h.check()...)
	}
	if m := c.MQTT; m != nil {
		errs = append(errs, m.check()...)
	}
	for i := range c.Triggers.Files {
		t := &c.Triggers.Files[i]
		where := fmt.Sprintf("triggers.files[%d] (%s)", i, t.Path)
		t.Action = lower(t.Action)
		if t.Path == "" {
			fail("triggers.files[%d]: path is required", i)
		}
		if t.CheckInterval <= 0 {
			fail("%s: check_interval must be positive", where)
		}
		switch t.Action {
		case ActionHostReset:
			needsHostReset(where)
		case ActionCycle:
			d := c.Device(t.Device)
			switch {
			case t.Device == "":
				fail("%s: action cycle needs device: NAME", where)
			case d == nil:
				fail("%s: device %q is not defined", where, t.Device)
			case d.Plug == "":
				fail("%s: device %q has no plug to cycle", where, t.Device)
			}
		default:
			fail("%s: action %q is not one of host_reset, cycle", where, t.Action)
		}
	}
	return errors.Join(errs...)
}

func (s DeviceSettings) check(where string) error {
	var errs []error
	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"check_interval", s.CheckInterval}, {"retry_interval", s.RetryInterval}, {"timeout", s.Timeout},
		{"cycle_time", s.CycleTime}, {"boot_time", s.BootTime}, {"cycle_window", s.CycleWindow},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: %s must be positive, got %s", where, d.key, d.v))
		}
	}
	for i, w := range s.Maintenance {
		if _, err := CronParser.Parse(w.Schedule); err != nil {
			errs = append(errs, fmt.Errorf("%s: maintenance[%d].schedule %q: %v", where, i, w.Schedule, err))
		}
		if w.Duration <= 0 {
			errs = append(errs, fmt.Errorf("%s: maintenance[%d].duration must be positive, got %s", where, i, w.Duration))
		}
	}
	if s.Retries < 1 {
		errs = append(errs, fmt.Errorf("%s: retries must be at least 1, got %d", where, s.Retries))
	}
	if s.MaxCycles < 1 {
		errs = append(errs, fmt.Errorf("%s: max_cycles must be at least 1, got %d", where, s.MaxCycles))
	}
	return errors.Join(errs...)
}

func (p *PlugConfig) check() []error { return p.checkIn(nil, 0) }

// checkIn is check for the index-th entry of plugs: in the file source
// (nil: not from a file), so a type's complaint names its key's line.
func (p *PlugConfig) checkIn(source []byte, index int) []error {
	var errs []error
	where := fmt.Sprintf("plug %q", p.Name)
	t, err := p.checkType()
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", where, err))
	}
	if p.Host == "" {
		errs = append(errs, fmt.Errorf("%s: host is required", where))
	}
	if p.Port < 0 || p.Port > 65535 {
		errs = append(errs, fmt.Errorf("%s: port %d is out of range", where, p.Port))
	}
	if err == nil && p.Settings != nil {
		if err := p.Settings.Check(); err != nil {
			errs = append(errs, settingsErrors(where, err, source, index)...)
		}
	}
	p.FlipBack = lower(p.FlipBack)
	switch p.FlipBack {
	case "":
		p.FlipBack = FlipBackAuto
	case FlipBackAuto, FlipBackOff:
	case FlipBackRequired:
		if err == nil && !t.FlipBack {
			errs = append(errs, fmt.Errorf("%s: flip_back: required, but a %s plug has no timer of its own to switch power back on: use auto or off", where, p.Type))
		}
	default:
		errs = append(errs, fmt.Errorf("%s: flip_back %q is not one of auto, required, off", where, p.FlipBack))
	}
	if p.Password != "" && p.PasswordFile != "" {
		errs = append(errs, fmt.Errorf("%s: give password or password_file, not both", where))
	}
	if err := checkSecretFile(where+": password_file", p.PasswordFile); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// expandPlugHost turns the seed's plug_host shorthand into a Kasa plug named
// after its host, shared by every device that names the same host.
func (c *Config) expandPlugHost(d *DeviceConfig, plugs map[string]*PlugConfig) error {
	if d.Plug != "" {
		return fmt.Errorf("device %q: give plug or plug_host, not both", d.Name)
	}
	host, port := d.PlugHost, 0
	if h, p, err := net.SplitHostPort(d.PlugHost); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("device %q: plug_host %q has a bad port", d.Name, d.PlugHost)
		}
		host, port = h, n
	}
	if strings.TrimSpace(host) == "" {
		return fmt.Errorf("device %q: plug_host %q names no host", d.Name, d.PlugHost)
	}
	if p := plugs[d.PlugHost]; p != nil {
		if p.Host != host || p.Port != port {
			return fmt.Errorf("device %q: plug_host %q clashes with the plug of that name at %s", d.Name, d.PlugHost, p.Host)
		}
	} else {
		c.Plugs = append(c.Plugs, PlugConfig{Name: d.PlugHost, Type: PlugKasa, Host: host, Port: port, FlipBack: FlipBackAuto, Settings: &KasaSettings{Protocol: ProtocolAuto}})
		plugs[d.PlugHost] = &c.Plugs[len(c.Plugs)-1]
		// The append may have moved the slice: refresh the index.
		for i := range c.Plugs {
			plugs[c.Plugs[i].Name] = &c.Plugs[i]
		}
	}
	d.Plug, d.PlugHost = d.PlugHost, ""
	return nil
}

func (c *Config) checkDevice(d *DeviceConfig, plugs map[string]*PlugConfig) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("device %q: "+format, append([]any{d.Name}, args...)...))
	}
	d.Settings = d.resolve(c.Defaults)
	if err := d.Settings.check(fmt.Sprintf("device %q", d.Name)); err != nil {
		errs = append(errs, err)
	}
	if d.Mode == "" {
		d.Mode = ModeAuto
	}
	d.Mode = lower(d.Mode)
	if !slices.Contains([]string{ModeAuto, ModeAlert, ModeMonitor}, d.Mode) {
		fail("mode %q is not one of auto, alert, monitor", d.Mode)
	}
	if d.Port < 0 || d.Port > 65535 {
		fail("port %d is out of range", d.Port)
	}
	if d.Plug == "" && d.Mode != ModeMonitor {
		fail("mode %s needs a plug to cycle: set plug (or plug_host), or use mode: monitor", d.Mode)
	}
	if d.Plug != "" && plugs[d.Plug] == nil {
		fail("plug %q is not defined in plugs", d.Plug)
	}
	if w := d.WakeOnLAN; w != nil {
		if err := w.check(); err != nil {
			fail("%v", err)
		}
		if d.Plug == "" {
			fail("wake_on_lan wakes the device after a power cycle: set plug")
		}
	}
	if d.Schedule != "" {
		if d.Plug == "" {
			fail("schedule needs a plug to cycle")
		}
		if _, err := CronParser.Parse(d.Schedule); err != nil {
			fail("schedule %q: %v", d.Schedule, err)
		}
	}
	if len(d.Probes) > 0 {
		if d.Probe != nil {
			fail("give probe or probes, not both")
			return errs
		}
		for i := range d.Probes {
			errs = append(errs, d.checkProbe(&d.Probes[i], fmt.Sprintf("probes[%d].", i))...)
		}
		n, err := parseRequire(d.Require, len(d.Probes))
		if err != nil {
			fail("%v", err)
		}
		d.RequireN = n
		return errs
	}
	if d.Require != "" {
		fail("require counts the targets of probes: give probes (a list) or drop require")
	}
	if d.Probe == nil {
		if d.Host == "" || d.Port == 0 {
			fail("set host and port (a TCP check) or a probe")
			return errs
		}
		// Host and port are checked: nothing more to check.
		d.Probe = defaultProbe
		return errs
	}
	return append(errs, d.checkProbe(d.Probe, "probe.")...)
}

// defaultProbe is the probe of every device that names none. It is shared
// and never written (checkProbe is not run on it): a fleet of plain TCP
// devices held one 280-byte copy per device.
var defaultProbe = &ProbeConfig{Type: ProbeTCP}

// parseRequire resolves require against n targets: all (or empty), any,
// or a number from 1 to n.
func parseRequire(r string, n int) (int, error) {
	switch lower(r) {
	case "", "all":
		return n, nil
	case "any":
		return 1, nil
	}
	k, err := strconv.Atoi(strings.TrimSpace(r))
	if err != nil || k < 1 || k > n {
		return 0, fmt.Errorf("require %q must be all, any, or a number from 1 to %d (the targets in probes)", r, n)
	}
	return k, nil
}

// checkProbe checks one probe config; key is its place ("probe." or
// "probes[1].") for the messages.
func (d *DeviceConfig) checkProbe(p *ProbeConfig, key string) []error {
	var errs []error
	fail := func(format string, args ...any) {
		format = strings.ReplaceAll(format, "probe.", key)
		errs = append(errs, fmt.Errorf("device %q: "+format, append([]any{d.Name}, args...)...))
	}
	p.Type = lower(p.Type)
	t, ok := LookupProbeType(p.Type)
	if !ok {
		fail("probe.type %q is not one of %s", p.Type, strings.Join(ProbeTypeNames(), ", "))
		return errs
	}
	t.Check(d, p, fail)
	return errs
}

// resolve applies a device's overrides to the defaults.
func (d *DeviceConfig) resolve(def DeviceSettings) DeviceSettings {
	s := def
	o := d.DeviceOverrides
	setD := func(dst *Duration, v *Duration) {
		if v != nil {
			*dst = *v
		}
	}
	setI := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	setD(&s.CheckInterval, o.CheckInterval)
	setD(&s.RetryInterval, o.RetryInterval)
	setI(&s.Retries, o.Retries)
	setD(&s.Timeout, o.Timeout)
	setD(&s.CycleTime, o.CycleTime)
	setD(&s.BootTime, o.BootTime)
	setI(&s.MaxCycles, o.MaxCycles)
	setD(&s.CycleWindow, o.CycleWindow)
	if o.Maintenance != nil {
		s.Maintenance = o.Maintenance
	}
	return s
}

func (e *EmailConfig) check() []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("notifications.email: "+format, args...))
	}
	if e.SMTPHost == "" {
		fail("smtp_host is required (host or host:port)")
	}
	if e.EmailFrom == "" {
		fail("email_from is required")
	}
	if len(e.EmailTo) == 0 {
		fail("email_to needs at least one address")
	}
	e.StartTLS = lower(e.StartTLS)
	if !slices.Contains([]string{StartTLSOpportunistic, StartTLSMandatory, StartTLSOff}, e.StartTLS) {
		fail("starttls %q is not one of opportunistic, mandatory, off", e.StartTLS)
	}
	if e.SMTPPassword != "" && e.SMTPPasswordFile != "" {
		fail("give smtp_password or smtp_password_file, not both")
	}
	if err := checkSecretFile("notifications.email.smtp_password_file", e.SMTPPasswordFile); err != nil {
		errs = append(errs, err)
	}
	for _, ev := range e.Events {
		if !slices.Contains(Events, ev) {
			fail("events: %q is not one of %s", ev, strings.Join(Events, ", "))
		}
	}
	if e.Timeout <= 0 {
		fail("timeout must be positive")
	}
	if e.QueueSize < 1 {
		fail("queue_size must be at least 1")
	}
	return errs
}

func (h *HostResetConfig) check() []error {
	var errs []error
	h.Method, h.Fallback = lower(h.Method), lower(h.Fallback)
	for _, m := range []struct{ key, v string }{{"method", h.Method}, {"fallback", h.Fallback}} {
		switch m.v {
		case ResetWatchdog:
			if h.Watchdog == nil {
				w := DefaultWatchdog
				h.Watchdog = &w
			}
		case ResetRTC:
			if h.RTC == nil {
				r := DefaultRTC
				h.RTC = &r
			}
		case "":
			if m.key == "method" {
				errs = append(errs, fmt.Errorf("host_reset.method is required: watchdog or rtc"))
			}
		default:
			errs = append(errs, fmt.Errorf("host_reset.%s %q is not one of watchdog, rtc", m.key, m.v))
		}
	}
	if h.Fallback != "" && h.Fallback == h.Method {
		errs = append(errs, fmt.Errorf("host_reset.fallback must differ from method"))
	}
	if w := h.Watchdog; w != nil && (w.Device == "" || w.Timeout <= 0) {
		errs = append(errs, fmt.Errorf("host_reset.watchdog needs a device and a positive timeout"))
	}
	if r := h.RTC; r != nil && (r.Device == "" || r.Mode == "" || r.RTCWake == "" || r.WakeAfter <= 0) {
		errs = append(errs, fmt.Errorf("host_reset.rtc needs device, mode, rtcwake and a positive wake_after"))
	}
	return errs
}

func checkSecretFile(key, path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// Device returns the device with the given name, or nil.
func (c *Config) Device(name string) *DeviceConfig {
	for i := range c.Devices {
		if c.Devices[i].Name == name {
			return &c.Devices[i]
		}
	}
	return nil
}

// Plug returns the plug with the given name, or nil.
func (c *Config) Plug(name string) *PlugConfig {
	for i := range c.Plugs {
		if c.Plugs[i].Name == name {
			return &c.Plugs[i]
		}
	}
	return nil
}

// ReadSecret returns the secret, or the contents of its file twin with
// surrounding white space removed.
func ReadSecret(secret, file string) (string, error) {
	if file == "" {
		return secret, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
