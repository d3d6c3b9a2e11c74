package tasmota_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/tasmota"
)

// TestBadAnswers: whatever answers on the port, the client returns a clear
// error naming the device, and never panics.
func TestBadAnswers(t *testing.T) {
	js := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(body))
		}
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
		is      error
	}{
		{"HTML error page", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte("<!DOCTYPE html><html><body>File Not Found</body></html>"))
		}, "HTML page", tasmota.ErrNotTasmota},
		{"truncated JSON", js(200, `{"Status":{"Module":0,"FriendlyName":["a"`), "truncated", tasmota.ErrNotTasmota},
		{"wrong content type", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write([]byte{0, 1, 2})
		}, "content type", tasmota.ErrNotTasmota},
		{"JSON array", js(200, `[1,2,3]`), "invalid", tasmota.ErrNotTasmota},
		{"no relays", js(200, `{"Status":{"Module":0},"StatusSTS":{}}`), "no POWER", tasmota.ErrNotTasmota},
		{"old firmware password warning with 200", js(200, `{"WARNING":"Need user=<username>&password=<password>"}`), "password", tasmota.ErrAuthRequired},
		{"401 loop", js(401, `{"WARNING":"Need user=<username>&password=<password>"}`), "password", tasmota.ErrAuthRequired},
		{"unknown command", js(200, `{"Command":"Unknown"}`), "does not know", tasmota.ErrUnknownCommand},
		{"500", js(500, `{"oops":1}`), "HTTP 500", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c := newClient(t, srv.Listener.Addr().String(), tasmota.Config{})
			_, err := c.Status(ctxT(t))
			if err == nil {
				t.Fatal("no error")
			}
			var te *actuator.PlugError
			if !errors.As(err, &te) || !strings.HasPrefix(err.Error(), "tasmota 127.0.0.1:") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want a *actuator.PlugError naming the device and saying %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
		})
	}
}

// A device whose relay does not follow (a rule or PulseTime switching it
// back): the switch-off is an error, so SafeCycle switches back on.
func TestSwitchOffNotReadBack(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("cmnd") {
		case "Status 0":
			w.Write([]byte(`{"Status":{"Module":1,"FriendlyName":["x"]},"StatusSTS":{"POWER":"ON"}}`))
		case "Power1 OFF":
			w.Write([]byte(`{"POWER":"OFF"}`))
		default:
			w.Write([]byte(`{"POWER":"ON"}`))
		}
	}))
	defer srv.Close()
	c := newClient(t, srv.Listener.Addr().String(), tasmota.Config{})
	if err := c.Switch(ctxT(t), "", false); err == nil || !strings.Contains(err.Error(), "reads ON again") {
		t.Fatalf("err = %v", err)
	}
}
