package kasa_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
)

func TestDiscover(t *testing.T) {
	for _, tc := range []struct {
		model, protocol, api string
		outlets              int
		alias                string
	}{
		{"HS100", "xor", "iot", 1, "Simulated HS100"},
		{"HS300", "xor", "iot", 6, "Simulated HS300"},
		{"KP125M", "klap", "smart", 0, ""},
		{"HS100v4", "klap", "iot", 0, ""},
	} {
		t.Run(tc.model, func(t *testing.T) {
			sim := startSim(t, kasasim.Options{Model: tc.model})
			found, err := kasa.Discover(ctxT(t), kasa.DiscoverOptions{Broadcast: sim.Addr(), Timeout: 2 * time.Second, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != 1 {
				t.Fatalf("found %+v", found)
			}
			d := found[0]
			if d.Host != "127.0.0.1" || d.Port != sim.Port() || d.Protocol != tc.protocol || d.API != tc.api ||
				d.Model == "" || len(d.Outlets) != tc.outlets || d.Alias != tc.alias {
				t.Fatalf("discovered %+v", d)
			}
			// What discovery says is enough to connect.
			c, err := kasa.New(kasa.Options{Host: d.Host, Port: d.Port, Protocol: d.Protocol, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Status(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDiscoverSilentWhenUnreachable(t *testing.T) {
	sim := startSim(t, kasasim.Options{Model: "HS110"})
	sim.SetFault(kasasim.Unreachable)
	found, err := kasa.Discover(ctxT(t), kasa.DiscoverOptions{Broadcast: sim.Addr(), Timeout: 100 * time.Millisecond, Logger: quiet})
	if err != nil || len(found) != 0 {
		t.Fatalf("found %+v, %v", found, err)
	}
}

// Every recording with a port-20002 answer, replayed by the simulator: the
// discovered family, encryption and login version are the device's.
func TestDiscoverRecordedAnswers(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if len(files) == 0 {
		t.Skipf("no device recordings in %s", fixtureDir)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var rec struct {
			Disc *struct {
				Result struct {
					Type string `json:"device_type"`
					Schm struct {
						Enc string `json:"encrypt_type"`
						LV  int    `json:"lv"`
					} `json:"mgt_encrypt_schm"`
				} `json:"result"`
			} `json:"discovery_result"`
		}
		if json.Unmarshal(b, &rec) != nil || rec.Disc == nil {
			continue
		}
		want := rec.Disc.Result
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			sim := startSim(t, kasasim.Options{From: f})
			found, err := kasa.Discover(ctxT(t), kasa.DiscoverOptions{Broadcast: sim.Addr(), Timeout: 2 * time.Second, First: true, Logger: quiet})
			if err != nil || len(found) != 1 {
				t.Fatalf("found %+v, %v", found, err)
			}
			d := found[0]
			family, _, _ := strings.Cut(want.Type, ".")
			if d.Family != family || d.Encryption != want.Schm.Enc || d.LoginVersion != want.Schm.LV || !d.Supported ||
				d.Protocol != strings.ToLower(want.Schm.Enc) || d.Port != sim.Port() {
				t.Fatalf("discovered %+v; the recording says %+v", d, want)
			}
		})
	}
}

// Protocol auto asks the plug first: an AES plug without "lv" gets the v1
// login straight away (Kasa default refused, Tapo default taken: two
// handshakes), not every form in turn.
func TestAutoUsesDiscovery(t *testing.T) {
	ctx := ctxT(t)
	sim := startSim(t, kasasim.Options{Model: "KP125M", Protocol: "aes", LoginVersion: 1})
	c := newClient(t, sim, kasa.Options{})
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Protocol != "aes" || sim.Handshakes() != 2 {
		t.Fatalf("protocol %s after %d handshakes, want aes after 2", st.Protocol, sim.Handshakes())
	}
}
