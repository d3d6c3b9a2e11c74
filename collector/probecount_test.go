package collector

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A probe type the counters did not start with gets counters of its own;
// it does not count as tcp (the fixed [4] array did).
func TestProbeCountersByType(t *testing.T) {
	s := New(t.Context(), Options{})
	defer s.Stop()
	s.probes.of("tcp").add(true)
	s.probes.of("snmp").add(false)
	s.probes.of("snmp").add(true)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	want := `
# HELP restartinator_probes_total Probes run, by probe type.
# TYPE restartinator_probes_total counter
restartinator_probes_total{type="http"} 0
restartinator_probes_total{type="icmp"} 0
restartinator_probes_total{type="power"} 0
restartinator_probes_total{type="snmp"} 2
restartinator_probes_total{type="tcp"} 1
# HELP restartinator_probe_failures_total Probes that failed, by probe type.
# TYPE restartinator_probe_failures_total counter
restartinator_probe_failures_total{type="http"} 0
restartinator_probe_failures_total{type="icmp"} 0
restartinator_probe_failures_total{type="power"} 0
restartinator_probe_failures_total{type="snmp"} 1
restartinator_probe_failures_total{type="tcp"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "restartinator_probes_total", "restartinator_probe_failures_total"); err != nil {
		t.Fatal(err)
	}
}
