package kasa_test

import (
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
)

// smartStrip is a P300-like SMART strip whose child list is not in the
// order of the sockets (recorded P300/P306/EP40M answers are not): each
// child says its socket in "position".
func smartStrip() string {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	child := func(id string, pos int, nick string) string {
		return fmt.Sprintf(`{"device_id": %q, "position": %d, "nickname": %q, "device_on": true, "on_time": 5, "type": "SMART.TAPOPLUG", "category": "plug.powerstrip.sub-plug"}`, id, pos, b64(nick))
	}
	return `{
  "component_nego": {"component_list": [{"id": "device", "ver_code": 2}, {"id": "child_device", "ver_code": 1}, {"id": "countdown", "ver_code": 1}]},
  "get_device_info": {"device_id": "STRIP", "model": "P300", "hw_ver": "1.0", "fw_ver": "1.0.7", "type": "SMART.TAPOPLUG", "mac": "00-00-00-00-00-02", "nickname": "` + b64("Rack") + `"},
  "get_child_device_list": {"start_index": 0, "sum": 3, "child_device_list": [` +
		child("C-THIRD", 3, "Router") + `, ` + child("C-FIRST", 1, "Modem") + `, ` + child("C-SECOND", 2, "NAS") + `]},
  "discovery_result": {"result": {"device_type": "SMART.TAPOPLUG", "device_model": "P300(EU)", "mgt_encrypt_schm": {"encrypt_type": "AES", "http_port": 80, "is_support_https": false, "lv": 2}}}
}`
}

// Strip outlets are indexed by the socket position the strip reports, and
// selected by index, alias or id alike.
func TestSMARTStripOrderedByPosition(t *testing.T) {
	ctx := ctxT(t)
	sim := startSim(t, kasasim.Options{From: writeRecording(t, smartStrip())})
	c := newClient(t, sim, kasa.Options{})
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range st.Outlets {
		got = append(got, fmt.Sprintf("%d %s %s", o.Index, o.ID, o.Alias))
	}
	want := []string{"0 C-FIRST Modem", "1 C-SECOND NAS", "2 C-THIRD Router"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outlets = %v, want %v", got, want)
	}
	// The simulator keeps the recorded (unsorted) order: index 1 there is
	// C-FIRST, our index 0.
	for _, sel := range []string{"0", "Modem", "C-FIRST"} {
		if err := c.Switch(ctx, sel, false); err != nil {
			t.Fatal(err)
		}
		if o := sim.Outlets()[1]; o.ID != "C-FIRST" || o.On {
			t.Fatalf("%q switched %+v", sel, o)
		}
		if err := c.Switch(ctx, sel, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Switch(ctx, "2", false); err != nil {
		t.Fatal(err)
	}
	if o := sim.Outlets()[0]; o.ID != "C-THIRD" || o.On {
		t.Fatalf("index 2 switched %+v, want C-THIRD off", o)
	}
}
