package main

import (
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/redfish"
	"github.com/restartinator/restartinator/actuator/snmppdu"
)

// --setting passes a type's own keys, typed as YAML types them and checked
// as a plugs: entry is.
func TestPlugSettingFlag(t *testing.T) {
	pf := &plugFlags{host: "h", timeout: time.Second, protocol: "auto",
		settings: []string{"version=3", "auth_protocol=MD5", "reboot_duration=20s"}}
	pc, err := pf.config("snmp_pdu")
	if err != nil {
		t.Fatal(err)
	}
	s := pc.Settings.(*snmppdu.Settings)
	if s.Version != "3" || s.AuthProtocol != "MD5" || s.RebootDuration.D() != 20*time.Second {
		t.Fatalf("settings %+v", s)
	}
	pf.settings = []string{"insecure_skip_verify=true", "auth=basic"}
	pc, err = pf.config("redfish")
	if err != nil {
		t.Fatal(err)
	}
	if r := pc.Settings.(*redfish.Settings); !r.InsecureSkipVerify || r.Auth != "basic" {
		t.Fatalf("settings %+v", r)
	}
	for _, tc := range []struct{ setting, want string }{
		{"community", "write KEY=VALUE"},
		{"host=x", "use the plug command's own flag"},
		{"comunity=x", "comunity"},
		{"version=2", `version "2": write 2c`},
	} {
		pf.settings = []string{tc.setting}
		if _, err := pf.config("snmp_pdu"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--setting %s: %v, want %q", tc.setting, err, tc.want)
		}
	}
}
