package shelly_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/restartinator/restartinator/actuator/shelly"
)

// fixtureDir holds real device answers (see its README); tests skip without it.
const fixtureDir = "../../../shared/fixtures/shelly"

func fixtures(t *testing.T, pattern string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(fixtureDir, pattern))
	if len(files) == 0 {
		t.Skipf("no Shelly fixtures at %s (they live outside the repository)", fixtureDir)
	}
	return files
}

type dump struct {
	Shelly   json.RawMessage            `json:"shelly"`
	Settings map[string]json.RawMessage `json:"settings"`
	Status   map[string]json.RawMessage `json:"status"`
}

// replay serves a recorded whole-device dump as the device would.
func replay(t *testing.T, d dump, gen int) string {
	raw := func(m map[string]json.RawMessage) []byte { b, _ := json.Marshal(m); return b }
	js := func(w http.ResponseWriter, b []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /shelly", func(w http.ResponseWriter, r *http.Request) { js(w, d.Shelly) })
	if gen == 1 {
		mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { js(w, raw(d.Status)) })
		mux.HandleFunc("GET /settings", func(w http.ResponseWriter, r *http.Request) { js(w, raw(d.Settings)) })
	} else {
		mux.HandleFunc("POST /rpc", func(w http.ResponseWriter, r *http.Request) {
			var req struct {
				ID     int            `json:"id"`
				Method string         `json:"method"`
				Params map[string]int `json:"params"`
			}
			json.NewDecoder(r.Body).Decode(&req)
			var res json.RawMessage
			switch req.Method {
			case "Shelly.GetDeviceInfo":
				res = d.Shelly
			case "Shelly.GetStatus":
				res = raw(d.Status)
			case "Switch.GetConfig":
				res = d.Settings["switch:"+strconv.Itoa(req.Params["id"])]
			case "Switch.GetStatus":
				res = d.Status["switch:"+strconv.Itoa(req.Params["id"])]
			}
			if res == nil {
				js(w, []byte(`{"id":`+strconv.Itoa(req.ID)+`,"src":"x","error":{"code":404,"message":"No handler for `+req.Method+`"}}`))
				return
			}
			b, _ := json.Marshal(map[string]any{"id": req.ID, "src": "x", "result": res})
			js(w, b)
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// TestFixtures drives the client against every recorded whole device and
// checks it reads the model, each relay and the energy as recorded.
func TestFixtures(t *testing.T) {
	var files []string
	for _, p := range []string{"gen1-*.json", "gen2-*.json", "gen4-power-strip.json"} {
		files = append(files, fixtures(t, p)...)
	}
	for _, f := range files {
		base := filepath.Base(f)
		if strings.Contains(base, "-shelly.json") || strings.Contains(base, "auth-failure") {
			continue // single answers, read in TestFixtureSingleAnswers
		}
		t.Run(base, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var d dump
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			info, err := shelly.DecodeInfo(d.Shelly)
			if err != nil {
				t.Fatal(err)
			}
			gen := info.Generation()
			c := newClient(t, replay(t, d, gen), shelly.Config{})
			st, err := c.Status(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			wantModel := info.Type
			if gen > 1 {
				wantModel = info.Model
			}
			if st.Model != wantModel || wantModel == "" {
				t.Errorf("model %q, want %q", st.Model, wantModel)
			}
			type relay struct {
				on      bool
				wh      float64
				metered bool
			}
			var want []relay
			if gen == 1 {
				var rs []struct {
					IsOn bool `json:"ison"`
				}
				var ms []struct {
					Total float64 `json:"total"`
				}
				json.Unmarshal(d.Status["relays"], &rs)
				json.Unmarshal(d.Status["meters"], &ms)
				for i, r := range rs {
					x := relay{on: r.IsOn}
					if i < len(ms) {
						x.metered, x.wh = true, ms[i].Total/60 // Gen1 meters count watt-minutes
					}
					want = append(want, x)
				}
			} else {
				for i := 0; ; i++ {
					raw, ok := d.Status["switch:"+strconv.Itoa(i)]
					if !ok {
						break
					}
					var s struct {
						Output  bool     `json:"output"`
						APower  *float64 `json:"apower"`
						AEnergy struct {
							Total float64 `json:"total"`
						} `json:"aenergy"`
					}
					json.Unmarshal(raw, &s)
					want = append(want, relay{on: s.Output, metered: s.APower != nil, wh: s.AEnergy.Total})
				}
			}
			if len(st.Outlets) != len(want) || len(want) == 0 {
				t.Fatalf("%d outlets, recorded %d", len(st.Outlets), len(want))
			}
			for i, w := range want {
				o := st.Outlets[i]
				if o.On != w.on {
					t.Errorf("outlet %d on=%v, recorded %v", i, o.On, w.on)
				}
				if (o.Energy != nil) != w.metered {
					t.Errorf("outlet %d energy %v, recorded metered=%v", i, o.Energy, w.metered)
				} else if o.Energy != nil && math.Abs(o.Energy.WattHours-w.wh) > 1e-6 {
					t.Errorf("outlet %d energy %v Wh, recorded %v Wh", i, o.Energy.WattHours, w.wh)
				}
			}
		})
	}
}

func TestFixtureSingleAnswers(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(fixtureDir, name))
		if err != nil {
			t.Skipf("fixture %s: %v", name, err)
		}
		return b
	}
	fixtures(t, "*.json")
	info, err := shelly.DecodeInfo(read("gen2-plus-2pm-shelly.json"))
	if err != nil || info.Generation() != 2 || !info.AuthEn || info.ID == "" {
		t.Errorf("Plus 2PM /shelly: %+v, %v", info, err)
	}
	// The recorded 401 frame carries the digest challenge our client answers.
	frame := read("gen2-plus-2pm-rpc-401-auth-failure.json")
	if _, err := shelly.DecodeFrame("Cover.Close", frame); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("401 frame: %v", err)
	}
	if realm, nonce, ok := shelly.ChallengeFromBody(frame); !ok || realm != "shellyplus2pm-485519992590" || nonce != "1725185413" {
		t.Errorf("challenge = %q %q %v", realm, nonce, ok)
	}
	// Gen4 Mini: info, status and config recorded as separate answers.
	mini, err := shelly.DecodeInfo(read("gen4-mini-1-Shelly.GetDeviceInfo.json"))
	if err != nil || mini.Generation() != 4 {
		t.Fatalf("Gen4 info: %+v %v", mini, err)
	}
	st, err := shelly.Gen2Status(mini, read("gen4-mini-1-Shelly.GetStatus.json"), nil)
	if err != nil || st.Model != "S4SW-001X8EU" || len(st.Outlets) != 1 || st.Outlets[0].On || st.Protocol != "shelly-gen4" {
		t.Errorf("Gen4 status: %+v %v", st, err)
	}
}
