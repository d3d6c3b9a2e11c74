package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/notify/webhook"
)

// TestDemoServesCleanMetrics runs --demo as a newcomer would and checks the
// whole exposition with promtool once every device has been probed.
func TestDemoServesCleanMetrics(t *testing.T) {
	_, addr, logs := startBinary(t, "--demo")
	waitFor(t, "every demo device to be probed", func() bool {
		_, body := get(t, "http://"+addr+"/api/v1/devices")
		var resp devicesResponse
		if json.Unmarshal([]byte(body), &resp) != nil || len(resp.Devices) != 8 {
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
		`restartinator_plug_up{plug="shelly-plug"} 1`,
		`restartinator_plug_up{plug="shelly-pro"} 1`,
		`restartinator_plug_up{plug="tasmota-plug"} 1`,
		`restartinator_device_up{device="Media Server"} 1`,
		`restartinator_plug_info{hw_version="`,
		`restartinator_device_up{device="Access Point"} 1`,
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

// --demo.notify-url posts the demo's events to a local webhook.
func TestDemoNotifyURL(t *testing.T) {
	got := make(chan webhook.Payload, 100)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p webhook.Payload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("not a webhook payload: %v", err)
		}
		select {
		case got <- p:
		default:
		}
	}))
	defer hook.Close()
	_, addr, logs := startBinary(t, "--demo", "--demo.notify-url="+hook.URL+"/hook")
	select {
	case p := <-got:
		if p.Channel != "demo" || len(p.Events) == 0 || p.Events[0].Kind != "offline" {
			t.Errorf("first payload %+v", p)
		}
	case <-time.After(60 * time.Second): // a device hangs after 8 s; detection takes a few more
		t.Fatalf("no notification within a minute:\n%s", logs.String())
	}
	waitFor(t, "the delivery to be counted", func() bool {
		_, metrics := get(t, "http://"+addr+"/metrics")
		return strings.Contains(metrics, `restartinator_notifications_total{channel="demo",event="offline"} `) &&
			!strings.Contains(metrics, `restartinator_notifications_total{channel="demo",event="offline"} 0`)
	})
}
