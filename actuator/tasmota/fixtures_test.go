package tasmota_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restartinator/restartinator/actuator/tasmota"
)

// fixtureDir holds real Tasmota answers (see its README); tests skip without it.
const fixtureDir = "../../../shared/fixtures/tasmota"

// status0 merges a recorded device's STATUS*.json into the `Status 0`
// answer the device would give (the README: "A Status 0 answer is these
// objects merged into one").
func status0(t *testing.T, dir string) map[string]json.RawMessage {
	files, _ := filepath.Glob(filepath.Join(dir, "STATUS*.json"))
	all := map[string]json.RawMessage{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for k, v := range m {
			all[k] = v
		}
	}
	return all
}

// TestFixtures serves each recorded device's Status 0 on /cm and checks
// the client reads its model, relays and energy as recorded.
func TestFixtures(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(fixtureDir, "*"))
	if len(dirs) == 0 {
		t.Skipf("no Tasmota fixtures at %s (they live outside the repository)", fixtureDir)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			all := status0(t, dir)
			body, _ := json.Marshal(all)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.URL.Path != "/cm" || r.URL.Query().Get("cmnd") != "Status 0" {
					http.NotFound(w, r)
					return
				}
				w.Write(body)
			}))
			defer srv.Close()
			c := newClient(t, srv.Listener.Addr().String(), tasmota.Config{})
			st, err := c.Status(ctxT(t))

			var sts map[string]json.RawMessage
			json.Unmarshal(all["StatusSTS"], &sts)
			want := tasmota.PowerStates(sts)
			if len(want) == 0 {
				// An energy monitor without relays (energy-6ch): nothing to switch.
				if err == nil || !strings.Contains(err.Error(), "no POWER") {
					t.Fatalf("a device without relays: %v", err)
				}
				st, err := tasmota.EnergyOnly(body)
				if err != nil || len(st) != 6 || math.Abs(st[1].WattHours-154) > 1e-9 {
					t.Fatalf("energy channels %+v %v, recorded Total[1] 0.154 kWh", st, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var fwr struct{ Version string }
			json.Unmarshal(all["StatusFWR"], &fwr)
			if st.SWVersion != fwr.Version || !strings.HasPrefix(st.Model, "Tasmota") {
				t.Errorf("model %q version %q, recorded %q", st.Model, st.SWVersion, fwr.Version)
			}
			if len(st.Outlets) != len(want) {
				t.Fatalf("%d outlets, recorded %d", len(st.Outlets), len(want))
			}
			for i, on := range want {
				if st.Outlets[i].On != on {
					t.Errorf("outlet %d on=%v, recorded %v", i, st.Outlets[i].On, on)
				}
			}
			var sns struct {
				ENERGY *struct{ Total float64 }
			}
			json.Unmarshal(all["StatusSNS"], &sns)
			if e := st.Outlets[0].Energy; (e != nil) != (sns.ENERGY != nil) {
				t.Errorf("energy %v, recorded %v", e, sns.ENERGY)
			} else if e != nil && math.Abs(e.WattHours-sns.ENERGY.Total*1000) > 1e-6 {
				t.Errorf("energy %v Wh, recorded %v kWh", e.WattHours, sns.ENERGY.Total)
			}
		})
	}
}
