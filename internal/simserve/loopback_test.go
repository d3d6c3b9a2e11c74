package simserve

import (
	"strings"
	"testing"
)

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:0": "", "127.1.2.3:161": "", "[::1]:623": "", "localhost:8080": "",
		"0.0.0.0:623":      "loopback only",
		"192.168.1.50:161": "loopback only",
		":623":             "loopback only",
		"127.0.0.1":        "missing port",
	} {
		err := Loopback(addr)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("Loopback(%q) = %v, want %q", addr, err, want)
		}
	}
}
