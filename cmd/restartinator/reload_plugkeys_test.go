package main

import (
	"net/http"
	"strings"
	"testing"
)

// A reload whose plug has a bad value of its type's own key is refused
// with the file, line and key, and the running config stays.
func TestReloadWithABadPlugTypeKeyKeepsTheRunningConfig(t *testing.T) {
	s, srv, write, _ := newTestService(t, goodConfig)
	bad := strings.Replace(goodConfig, "plugs: [{name: p, host: 127.0.0.1, port: 9999, password: plug-secret-zz}]",
		"plugs:\n  - {name: p, host: 127.0.0.1, port: 9999, password: plug-secret-zz}\n  - name: pdu\n    type: snmp_pdu\n    host: 127.0.0.1\n    reboot_duration: 2500ms", 1)
	write(bad)
	code, body := post(t, srv.URL+"/-/reload", "hook-secret-zz")
	if code != http.StatusInternalServerError || !strings.Contains(body, `restartinator.yml: line 7: key "reboot_duration": plug "pdu": reboot_duration 2.5s`) {
		t.Fatalf("bad reload: %d %q, want 500 naming the file, line and key", code, body)
	}
	if c := s.cfg.get(); c.Plug("p") == nil || c.Plug("pdu") != nil || c.Device("cam") == nil {
		t.Fatal("the running config changed after a bad reload")
	}
}
