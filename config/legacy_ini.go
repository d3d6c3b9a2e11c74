package config

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// parsePyStabilityINI maps py-stability-iot's config.ini onto host_reset and
// a file trigger. Its keys and their meaning:
//
//	[general]         recovery_device -> host_reset.method
//	                  checking_interval, indicator_file_path -> triggers.files[0]
//	                  (default DefaultIndicatorPath, not the original's /tmp one)
//	                  single_run -> global.single_run (a real boolean; 0 interval means single run too)
//	[watchdog-device] wdt_path, wdt_kill_delay -> host_reset.watchdog.device, timeout
//	[rtc-device]      rtc_path, rtc_mode -> host_reset.rtc.device, mode
func parsePyStabilityINI(data []byte) (*Config, error) {
	sections, err := parseINI(data)
	if err != nil {
		return nil, err
	}
	known := map[string][]string{
		"general":         {"recovery_device", "checking_interval", "indicator_file_path", "single_run"},
		"watchdog-device": {"wdt_path", "wdt_kill_delay"},
		"rtc-device":      {"rtc_path", "rtc_mode"},
	}
	for sec, keys := range sections {
		allowed, ok := known[sec]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown section [%s] (known: general, watchdog-device, rtc-device)", keys.line, sec)
		}
		for k, v := range keys.values {
			if !slices.Contains(allowed, k) {
				return nil, fmt.Errorf("line %d: unknown key %q in [%s]", v.line, k, sec)
			}
		}
	}
	get := func(sec, key, def string) iniValue {
		if s, ok := sections[sec]; ok {
			if v, ok := s.values[key]; ok {
				return v
			}
		}
		return iniValue{value: def}
	}
	dur := func(sec, key, def string) (Duration, error) {
		v := get(sec, key, def)
		d, err := parseDuration(v.value)
		if err != nil {
			return 0, fmt.Errorf("line %d: [%s] %s: %w", v.line, sec, key, err)
		}
		return d, nil
	}

	c := &Config{Global: DefaultGlobal, Defaults: DefaultDeviceSettings, Format: FormatPyStabilityINI}
	interval, err := dur("general", "checking_interval", "5")
	if err != nil {
		return nil, err
	}
	sr := get("general", "single_run", "false")
	single, err := parseBool(sr.value)
	if err != nil {
		return nil, fmt.Errorf("line %d: [general] single_run: %w", sr.line, err)
	}
	// The original ran once when the interval was 0 ("use cron").
	c.Global.SingleRun = bool(single) || interval == 0
	if interval == 0 {
		interval = Duration(5e9)
	}
	kill, err := dur("watchdog-device", "wdt_kill_delay", "300")
	if err != nil {
		return nil, err
	}
	c.HostReset = &HostResetConfig{
		Method:   strings.ToLower(get("general", "recovery_device", "watchdog").value),
		Watchdog: &WatchdogConfig{Device: get("watchdog-device", "wdt_path", "/dev/watchdog").value, Timeout: kill},
		RTC: &RTCConfig{
			Device:    get("rtc-device", "rtc_path", "/dev/rtc").value,
			Mode:      get("rtc-device", "rtc_mode", "off").value,
			WakeAfter: DefaultRTC.WakeAfter,
			RTCWake:   DefaultRTC.RTCWake,
		},
	}
	c.Triggers.Files = []FileTrigger{{
		Path:          get("general", "indicator_file_path", DefaultIndicatorPath).value,
		CheckInterval: interval,
		Action:        ActionHostReset,
	}}
	return c, nil
}

// DefaultIndicatorPath is the indicator file when config.ini names none.
// py-stability-iot's own default, /tmp/pywatchdog-fault-indicator, let any
// local user reset the host; /run/restartinator is writable only by root
// and the service (systemd's RuntimeDirectory=restartinator creates it).
const DefaultIndicatorPath = "/run/restartinator/pywatchdog-fault-indicator"

type iniValue struct {
	value string
	line  int
}

type iniSection struct {
	line   int
	values map[string]iniValue
}

// parseINI reads the INI dialect Python's configparser writes: [sections],
// key = value or key: value, # and ; comments on their own lines.
func parseINI(data []byte) (map[string]*iniSection, error) {
	sections := map[string]*iniSection{}
	var cur *iniSection
	var curName string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: section header %q lacks its closing ]", n, line)
			}
			curName = strings.ToLower(strings.TrimSpace(line[1 : len(line)-1]))
			if sections[curName] != nil {
				return nil, fmt.Errorf("line %d: section [%s] appears twice", n, curName)
			}
			cur = &iniSection{line: n, values: map[string]iniValue{}}
			sections[curName] = cur
		default:
			i := strings.IndexAny(line, "=:")
			if i < 0 {
				return nil, fmt.Errorf("line %d: %q is not key = value", n, line)
			}
			if cur == nil {
				return nil, fmt.Errorf("line %d: key before any [section]", n)
			}
			k := strings.ToLower(strings.TrimSpace(line[:i]))
			v := strings.TrimSpace(line[i+1:])
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			}
			if _, dup := cur.values[k]; dup {
				return nil, fmt.Errorf("line %d: key %q appears twice in [%s]", n, k, curName)
			}
			cur.values[k] = iniValue{value: v, line: n}
		}
	}
	return sections, sc.Err()
}
