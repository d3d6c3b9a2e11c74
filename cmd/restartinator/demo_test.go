package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDemoServesCleanMetrics runs --demo as a newcomer would and checks the
// whole exposition with promtool once every device has been probed.
func TestDemoServesCleanMetrics(t *testing.T) {
	_, addr, logs := startBinary(t, "--demo")
	waitFor(t, "every demo device to be probed", func() bool {
		_, body := get(t, "http://"+addr+"/api/v1/devices")
		var resp devicesResponse
		if json.Unmarshal([]byte(body), &resp) != nil || len(resp.Devices) != 5 {
			return false
		}
		for _, d := range resp.Devices {
			if d.LastProbe == nil {
				return false
			}
		}
		return true
	})
	_, metrics := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`restartinator_device_up{device="Router"} 1`,
		`restartinator_device_state_code{device="Router"} 1`,
		`restartinator_plug_up{plug="rack-strip"}`,
		`restartinator_plug_power_watts{outlet="`,
		`restartinator_probes_total{type="tcp"}`,
		`restartinator_power_cycles_total{device="Router",trigger="auto"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	promtoolCheckMetrics(t, metrics)
	if t.Failed() {
		t.Log(logs.String())
	}
}
