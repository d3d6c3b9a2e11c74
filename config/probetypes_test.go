package config

import (
	"slices"
	"strings"
	"testing"
)

// registerTestProbeType adds a probe type for the length of one test.
func registerTestProbeType(t *testing.T, pt ProbeType) {
	t.Helper()
	RegisterProbeType(pt)
	t.Cleanup(func() {
		probeTypes.Lock()
		defer probeTypes.Unlock()
		delete(probeTypes.m, pt.Name)
		probeTypes.names = slices.DeleteFunc(probeTypes.names, func(n string) bool { return n == pt.Name })
	})
}

// Validation knows probe types only through the registry: a type
// registered elsewhere is accepted, checked by its own Check (with the key
// rewritten for probes[i]), and listed, after the built-in ones, when a
// config names a type nobody registered.
func TestProbeTypeRegistry(t *testing.T) {
	registerTestProbeType(t, ProbeType{Name: "smoke", Check: func(d *DeviceConfig, p *ProbeConfig, fail func(string, ...any)) {
		if p.Target == "" {
			fail("a smoke probe needs probe.target")
		}
	}})
	for _, tc := range []struct{ name, yml, want string }{
		{"registered type passes its check", `
devices:
  - {name: cam, mode: monitor, probe: {type: smoke, target: detector}}
`, ""},
		{"its check reports with the key", `
devices:
  - {name: cam, mode: monitor, probes: [{type: tcp, target: "cam:80"}, {type: Smoke}]}
`, `device "cam": a smoke probe needs probes[1].target`},
		{"unknown type lists registered ones in order", `
devices:
  - {name: cam, mode: monitor, probe: {type: fog}}
`, `device "cam": probe.type "fog" is not one of tcp, http, icmp, power, bmc, smoke`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.yml), "probes.yml")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestRegisterProbeTypePanics(t *testing.T) {
	check := func(*DeviceConfig, *ProbeConfig, func(string, ...any)) {}
	for _, tc := range []struct {
		name string
		pt   ProbeType
	}{
		{"twice", ProbeType{Name: ProbeTCP, Check: check}},
		{"upper case", ProbeType{Name: "Smoke", Check: check}},
		{"no check", ProbeType{Name: "smoke"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("registering %+v did not panic", tc.pt.Name)
				}
			}()
			RegisterProbeType(tc.pt)
		})
	}
	if got := ProbeTypeNames(); !slices.Equal(got, []string{ProbeTCP, ProbeHTTP, ProbeICMP, ProbePower, ProbeBMC}) {
		t.Errorf("a refused registration changed the list: %v", got)
	}
}
