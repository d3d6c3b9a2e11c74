package probe

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// A failing HTTP probe's error and its shown target hide the URL's password
// and secret-looking query parameters (net/http hides only the password).
func TestHTTPProbeRedactsURLSecrets(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // a closed port: the probe fails with a *url.Error
	h, err := NewHTTP(HTTPSpec{URL: "http://admin:pw-zz@" + addr + "/?access_token=tok-zz&x=1", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	res := h.Probe(context.Background())
	if res.Success || res.Err == nil {
		t.Fatal("a probe of a closed port succeeded")
	}
	for where, text := range map[string]string{"error": res.Err.Error(), "target": h.Target()} {
		for _, secret := range []string{"pw-zz", "tok-zz"} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s shows %q: %s", where, secret, text)
			}
		}
	}
	if !strings.Contains(h.Target(), "access_token=xxxxx&x=1") {
		t.Errorf("target %q", h.Target())
	}
}
