package config

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
)

// ProbeType is how the config knows one type of probe: its name (the value
// of probe.type) and the check of the probe: keys that type reads.
type ProbeType struct {
	Name string
	// Check validates and normalises p for device d. It reports each problem
	// through fail, whose messages name keys as "probe.x"; they are rewritten
	// to "probes[i].x" for an entry of probes and prefixed with the device.
	Check func(d *DeviceConfig, p *ProbeConfig, fail func(format string, args ...any))
}

var probeTypes = struct {
	sync.RWMutex
	names []string // registration order: the order errors list them in
	m     map[string]ProbeType
}{m: map[string]ProbeType{}}

// RegisterProbeType adds a probe type. Registering a name twice is a
// programming error and panics.
func RegisterProbeType(t ProbeType) {
	probeTypes.Lock()
	defer probeTypes.Unlock()
	if t.Name == "" || t.Name != lower(t.Name) {
		panic(fmt.Sprintf("config: probe type name %q must be lower case and not empty", t.Name))
	}
	if t.Check == nil {
		panic(fmt.Sprintf("config: probe type %q has no Check", t.Name))
	}
	if _, ok := probeTypes.m[t.Name]; ok {
		panic(fmt.Sprintf("config: probe type %q registered twice", t.Name))
	}
	probeTypes.m[t.Name] = t
	probeTypes.names = append(probeTypes.names, t.Name)
}

// LookupProbeType returns the registered probe type of that name.
func LookupProbeType(name string) (ProbeType, bool) {
	probeTypes.RLock()
	defer probeTypes.RUnlock()
	t, ok := probeTypes.m[lower(name)]
	return t, ok
}

// ProbeTypeNames lists the registered probe types in the order they were
// registered: the built-in ones first, cheapest check first.
func ProbeTypeNames() []string {
	probeTypes.RLock()
	defer probeTypes.RUnlock()
	return append([]string(nil), probeTypes.names...)
}

// The built-in probe types, in the order users see them listed.
func init() {
	RegisterProbeType(ProbeType{Name: ProbeTCP, Check: checkTCPProbe})
	RegisterProbeType(ProbeType{Name: ProbeHTTP, Check: checkHTTPProbe})
	RegisterProbeType(ProbeType{Name: ProbeICMP, Check: checkICMPProbe})
	RegisterProbeType(ProbeType{Name: ProbePower, Check: checkPowerProbe})
	RegisterProbeType(ProbeType{Name: ProbeBMC, Check: checkBMCProbe})
}

func checkTCPProbe(d *DeviceConfig, p *ProbeConfig, fail func(string, ...any)) {
	if p.Target == "" && (d.Host == "" || d.Port == 0) {
		fail("a tcp probe needs host and port, or probe.target host:port")
	} else if p.Target != "" {
		if _, _, err := net.SplitHostPort(p.Target); err != nil {
			fail("probe.target %q must be host:port", p.Target)
		}
	}
}

func checkHTTPProbe(d *DeviceConfig, p *ProbeConfig, fail func(string, ...any)) {
	if p.URL == "" {
		if d.Host == "" {
			fail("an http probe needs probe.url")
		}
	} else if !strings.HasPrefix(p.URL, "http://") && !strings.HasPrefix(p.URL, "https://") {
		fail("probe.url %q must start with http:// or https://", RedactURL(p.URL))
	}
	for _, code := range p.ValidStatusCodes {
		if code < 100 || code > 599 {
			fail("probe.valid_status_codes: %d is not an HTTP status code", code)
		}
	}
	if p.BodyRegexp != "" {
		re, err := regexp.Compile(p.BodyRegexp)
		if err != nil {
			fail("probe.body_regexp: %v", err)
		}
		p.BodyRE = re
	}
	if p.HTTPClientConfig != nil {
		if err := p.HTTPClientConfig.Validate(); err != nil {
			fail("probe.http_client_config: %v", err)
		}
	}
}

func checkICMPProbe(d *DeviceConfig, p *ProbeConfig, fail func(string, ...any)) {
	if p.Target == "" && d.Host == "" {
		fail("an icmp probe needs host or probe.target")
	}
}

func checkPowerProbe(d *DeviceConfig, p *ProbeConfig, fail func(string, ...any)) {
	if d.Plug == "" {
		fail("a power probe reads the plug's meter: set plug")
	}
	if p.MinWatts == nil && p.MaxWatts == nil {
		fail("a power probe needs probe.min_watts, probe.max_watts or both")
	}
	if p.MinWatts != nil && p.MaxWatts != nil && *p.MinWatts > *p.MaxWatts {
		fail("probe.min_watts (%g) is above probe.max_watts (%g)", *p.MinWatts, *p.MaxWatts)
	}
}

func checkBMCProbe(d *DeviceConfig, _ *ProbeConfig, fail func(string, ...any)) {
	if d.Plug == "" {
		fail("a bmc probe asks the server's BMC: set plug to its redfish or ipmi plug")
	}
}
