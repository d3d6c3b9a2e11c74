package shelly_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/shelly"
)

// fakeGen1 is a minimal Gen1 device that can misbehave.
type fakeGen1 struct {
	ignoreTimer bool
}

func newFakeDevice(t *testing.T, f fakeGen1) string {
	var mu sync.Mutex
	on := true
	mux := http.NewServeMux()
	js := func(w http.ResponseWriter, s string) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(s))
	}
	state := func() string {
		if on {
			return `{"ison":true,"has_timer":false}`
		}
		return `{"ison":false,"has_timer":false}`
	}
	mux.HandleFunc("/shelly", func(w http.ResponseWriter, r *http.Request) {
		js(w, `{"type":"SHSW-1","mac":"AABBCCDDEEFF","auth":false,"fw":"x","num_outputs":1}`)
	})
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		js(w, `{"relays":[`+state()+`]}`)
	})
	mux.HandleFunc("/settings", func(w http.ResponseWriter, r *http.Request) { js(w, `{}`) })
	mux.HandleFunc("/relay/0", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Query().Get("turn") {
		case "on":
			on = true
		case "off":
			on = false
		}
		js(w, state())
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// TestBadAnswers: whatever a device (or something else on its port)
// answers, the client returns a clear error and never panics.
func TestBadAnswers(t *testing.T) {
	const info1 = `{"type":"SHSW-1","mac":"AABBCCDDEEFF","auth":false,"fw":"x","num_outputs":1}`
	const info2 = `{"id":"shellyplus1-aabbccddeeff","mac":"AABBCCDDEEFF","model":"SNSW-001X16EU","gen":2,"ver":"1.7.5","auth_en":true}`
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		pass    string
		want    string
		is      error
	}{
		{"HTML error page", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte("<!DOCTYPE html><html><body>Internal error</body></html>"))
		}, "", "HTML page", shelly.ErrNotShelly},
		{"HTML with 200", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte("<html><body>router login</body></html>"))
		}, "", "HTML page", shelly.ErrNotShelly},
		{"truncated JSON", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Path == "/shelly" {
				w.Write([]byte(info1))
				return
			}
			w.Write([]byte(`{"relays":[{"ison":tr`))
		}, "", "truncated", shelly.ErrNotShelly},
		{"wrong content type", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte("\x89PNG\r\n"))
		}, "", "content type", shelly.ErrNotShelly},
		{"not a Shelly JSON", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"hello":"world"}`))
		}, "", "neither", shelly.ErrNotShelly},
		{"Gen1 relay answer without ison", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			switch r.URL.Path {
			case "/shelly":
				w.Write([]byte(info1))
			case "/status":
				w.Write([]byte(`{"relays":[{"ison":true}]}`))
			default:
				w.Write([]byte(`{}`))
			}
		}, "", "", nil},
		{"401 loop", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/shelly" {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(info2))
				return
			}
			w.Header().Set("WWW-Authenticate", `Digest qop="auth", realm="shellyplus1-aabbccddeeff", nonce="1", algorithm=SHA-256`)
			w.WriteHeader(http.StatusUnauthorized)
		}, "pw", "rejected", shelly.ErrAuthRejected},
		{"401 without a challenge", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/shelly" {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(info2))
				return
			}
			w.WriteHeader(http.StatusUnauthorized)
		}, "pw", "without a digest challenge", nil},
		{"RPC error", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Path == "/shelly" {
				w.Write([]byte(strings.Replace(info2, `"auth_en":true`, `"auth_en":false`, 1)))
				return
			}
			w.Write([]byte(`{"id":1,"src":"x","error":{"code":-114,"message":"Device busy"}}`))
		}, "", "Device busy", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c := newClient(t, srv.Listener.Addr().String(), shelly.Config{Password: tc.pass})
			ctx := ctxT(t)
			_, err := c.Status(ctx)
			if err == nil && tc.name == "Gen1 relay answer without ison" {
				err = c.Switch(ctx, "", false)
			}
			if err == nil {
				t.Fatal("no error")
			}
			var se *actuator.PlugError
			if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), "shelly 127.0.0.1:") {
				t.Errorf("error %q does not name the device", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
		})
	}
}
