package webhook

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unicode/utf8"
)

// The payloads under testdata/ are the fuzz seeds; each is also a case here.
func TestTestdataPayloads(t *testing.T) {
	want := map[string]struct {
		code  int
		calls []string
	}{
		"firing-and-resolved.json":   {200, []string{"cycle cam"}},
		"truncated.json":             {200, []string{"host_reset"}},
		"notify-no-fingerprint.json": {200, []string{`notify ups "main" <1>`}},
		"wrong-version.json":         {400, nil},
		"malformed.json":             {400, nil},
		"bad-status.json":            {400, nil},
	}
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) != len(want) {
		t.Fatalf("testdata: %q %v; the table names %d files", files, err, len(want))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			w, ok := want[filepath.Base(file)]
			if !ok {
				t.Fatalf("no expectation for %s", file)
			}
			r := newRig(t, testWebhookConfig(t))
			code, rep := r.postString(string(body))
			if code != w.code {
				t.Errorf("got %d %+v, want %d", code, rep, w.code)
			}
			if got := r.actions.Calls(); !slices.Equal(got, w.calls) {
				t.Errorf("calls %q, want %q", got, w.calls)
			}
		})
	}
}

// FuzzWebhookDecode feeds arbitrary bodies to the decoder and then the whole
// handler: no panic; a body the decoder refuses acts on nothing; a body it
// takes acts only on firing alerts and gets a reply that is valid JSON
// naming each alert.
func FuzzWebhookDecode(f *testing.F) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed payloads under testdata/: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"version":"4"}`))
	f.Add([]byte(`null`))
	cfg := testWebhookConfig(f)

	f.Fuzz(func(t *testing.T, body []byte) {
		var m message
		decErr := decode(body, &m)
		firingAlerts := 0
		if decErr == nil {
			if m.Version != payloadVersion {
				t.Fatalf("decoded version %q", m.Version)
			}
			for _, a := range m.Alerts {
				if a.Status != statusFiring && a.Status != statusResolved {
					t.Fatalf("decoded status %q", a.Status)
				}
				if a.Status == statusFiring {
					firingAlerts++
				}
			}
		}

		acts := newFakeActions("cam", "nvr")
		h := New(Options{Config: cfg, Actions: acts})
		rec := serve(h, string(body))
		calls := acts.Calls()
		if decErr != nil {
			if rec.Code != 400 && rec.Code != 413 || len(calls) > 0 {
				t.Fatalf("refused body (%v) answered %d with calls %q", decErr, rec.Code, calls)
			}
			return
		}
		if len(calls) > firingAlerts {
			t.Fatalf("%d calls for %d firing alerts", len(calls), firingAlerts)
		}
		if rec.Code != 200 {
			t.Fatalf("answered %d to a valid payload with no failing action: %s", rec.Code, rec.Body)
		}
		var rep reply
		if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
			t.Fatalf("reply is not JSON: %v\n%s", err, rec.Body)
		}
		if len(rep.Alerts) != len(m.Alerts) || rep.TruncatedAlerts != m.TruncatedAlerts {
			t.Fatalf("reply names %d alerts (truncated %d), payload has %d (%d)", len(rep.Alerts), rep.TruncatedAlerts, len(m.Alerts), m.TruncatedAlerts)
		}
		for i, a := range rep.Alerts {
			if a.Alertname != m.Alerts[i].Labels["alertname"] {
				t.Fatalf("alert %d: alertname %q, want %q", i, a.Alertname, m.Alerts[i].Labels["alertname"])
			}
		}
	})
}

// appendString writes what encoding/json reads back, for any string.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "cam", "\"\\/\b\f\n\r\t", "<&>", "\x00\x1f\x7f", "é\u2028\u2029", "\xff\xfe", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, b, err)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("%q round-trips to %q", s, got)
		}
		std, _ := json.Marshal(s)
		if string(std) != string(b) {
			t.Fatalf("%q: got %s, encoding/json writes %s", s, b, std)
		}
	})
}
