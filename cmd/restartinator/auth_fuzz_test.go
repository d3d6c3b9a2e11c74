package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzActionAuth feeds arbitrary Host, Authorization and proxy headers to
// the action rule: it never panics, never lets a non-loopback peer act
// without the token, never lets a request carrying a proxy header act on
// loopback trust, and with a token lets through exactly "Bearer TOKEN" in
// any case of the scheme.
func FuzzActionAuth(f *testing.F) {
	for _, seed := range [][4]string{
		{"127.0.0.1:5000", "localhost:9788", "", ""},
		{"127.0.0.1:5000", "evil.example.com", "", ""},
		{"[::1]:1", "[::1]:9788", "bearer s3cret", ""},
		{"192.0.2.7:5000", "mon.example.net", "Bearer s3cret", "198.51.100.9"},
		{"127.0.0.1:5000", "LOCALHOST.", "BEARER  s3cret", "for=1.2.3.4"},
		{"127.0.0.1", "x.localhost:1", "Basic czNjcmV0", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3], false)
		f.Add(seed[0], seed[1], seed[2], seed[3], true)
	}
	f.Fuzz(func(t *testing.T, remote, host, authz, forwarded string, withToken bool) {
		tok := ""
		if withToken {
			tok = "s3cret"
		}
		a := &actionAuth{token: constToken(tok), externalHost: "mon.example.net"}
		req := httptest.NewRequest(http.MethodPost, "/webhook", nil)
		req.RemoteAddr, req.Host = remote, host
		req.Header["Authorization"] = []string{authz}
		if forwarded != "" {
			req.Header["X-Forwarded-For"] = []string{forwarded}
		}
		ok, code, why := a.allow(req)
		if ok != (code == 0) || (!ok && why == "") {
			t.Fatalf("allow = %v, %d, %q", ok, code, why)
		}
		if withToken {
			scheme, cred, _ := strings.Cut(strings.TrimSpace(authz), " ")
			want := strings.EqualFold(scheme, "bearer") && strings.TrimLeft(cred, " ") == tok
			if ok != want {
				t.Fatalf("token configured, Authorization %q: allowed %v, want %v", authz, ok, want)
			}
			return
		}
		if ok && (!isLoopback(remote) || forwarded != "") {
			t.Fatalf("no credentials, peer %q, X-Forwarded-For %q: allowed", remote, forwarded)
		}
	})
}
