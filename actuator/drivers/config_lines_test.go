package drivers_test

import (
	"strings"
	"testing"

	_ "github.com/restartinator/restartinator/actuator/drivers"
	"github.com/restartinator/restartinator/config"
)

// badKeys has one bad value of its own keys for every registered plug type
// that has keys of its own: the config error names the file, the key's
// line and the key, as every other config error does.
var badKeys = map[string]struct {
	entry string // the plug entry's lines after "type: T"
	want  string
}{
	"kasa": {"    host: 10.0.0.2\n    protocol: tls\n",
		`plugs.yml: line 7: key "protocol": plug "p": protocol "tls" is not one of auto, xor, klap, aes`},
	"shelly": {"    host: 10.0.0.2\n    generation: 12\n",
		`plugs.yml: line 7: key "generation": plug "p": generation must be 1`},
	"snmp_pdu": {"    host: 10.0.0.2\n    version: \"2c\"\n    reboot_duration: 2500ms\n",
		`plugs.yml: line 8: key "reboot_duration": plug "p": reboot_duration 2.5s: whole seconds from 1s`},
	"ipmi": {"    host: 10.0.0.2\n    cipher_suite: 2\n",
		`plugs.yml: line 7: key "cipher_suite": plug "p": cipher_suite 2: use one of 17, 3, 8, 12`},
	"redfish": {"    host: 10.0.0.2\n    auth: basic\n    fingerprint_sha256: \"3f:9a\"\n",
		`plugs.yml: line 8: key "fingerprint_sha256": plug "p": fingerprint_sha256 "3f:9a": want the certificate's SHA-256`},
}

func TestPlugTypeErrorsNameTheKeysLine(t *testing.T) {
	for _, name := range config.PlugTypeNames() {
		typ, _ := config.LookupPlugType(name)
		tc, ok := badKeys[name]
		if !ok {
			if typ.Settings != nil {
				t.Errorf("plug type %s has keys of its own but no row in badKeys", name)
			}
			continue
		}
		t.Run(name, func(t *testing.T) {
			// Line 1 a comment, 2 "devices: []", 3 "plugs:", 4 the entry's name,
			// 5 its type, 6 on its own keys.
			in := "# a bad value of a " + name + " plug's own key\ndevices: []\nplugs:\n  - name: p\n    type: " + name + "\n" + tc.entry
			_, err := config.Load([]byte(in), "plugs.yml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant it to contain\n%s", err, tc.want)
			}
		})
	}
}

// Several bad keys of one plug, in flow style: each on its own line and
// key.
func TestSeveralBadKeysEachWithItsLine(t *testing.T) {
	in := "plugs:\n  - {name: a, type: snmp_pdu, host: h,\n     version: \"5\",\n     reboot_duration: 1500ms}\n"
	_, err := config.Load([]byte(in), "pdu.yml")
	for _, want := range []string{
		`line 3: key "version": plug "a": version "5": use 1, 2c or 3`,
		`line 4: key "reboot_duration": plug "a": reboot_duration 1.5s: whole seconds`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error:\n%v\nwant it to contain %q", err, want)
		}
	}
}

// From the command line (restartinator plug --setting) there is no file:
// the error names the plug and the key, without a line.
func TestParsePlugErrorHasNoLine(t *testing.T) {
	_, err := config.ParsePlug(map[string]any{"name": "p", "type": "snmp_pdu", "host": "h", "reboot_duration": "2500ms"})
	if err == nil || strings.Contains(err.Error(), "line") || !strings.Contains(err.Error(), `plug "p": reboot_duration 2.5s`) {
		t.Fatalf("error %v", err)
	}
}
