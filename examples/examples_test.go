// Package examples holds the example configs; this test keeps them valid.
package examples

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/restartinator/restartinator/actuator/drivers" // the plug types the examples use
	"github.com/restartinator/restartinator/config"
)

func TestExampleConfigsLoad(t *testing.T) {
	dir := t.TempDir()
	// The examples name secret files under /etc; point them at a temp file.
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("x\n"), 0o600)
	for _, name := range []string{"restartinator.yml", "restartinator-legacy.json", "ha/restartinator-a.yml", "ha/restartinator-b.yml", "mqtt.yml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		for _, f := range []string{"/etc/restartinator/kasa.pass", "/etc/restartinator/smtp.pass", "/etc/restartinator/webhook.token", "/etc/restartinator/mqtt.pass", "/etc/restartinator/pdu.community", "/etc/restartinator/bmc.pass"} {
			text = strings.ReplaceAll(text, f, secret)
		}
		c, err := config.Load([]byte(text), name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(c.Devices) == 0 {
			t.Errorf("%s: no devices", name)
		}
	}
}
