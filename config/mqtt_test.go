package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInvalidMQTTConfigs(t *testing.T) {
	cases := map[string]string{
		"scheme":           `line 2: broker: "http://broker.example:1883" has scheme "http", not one of mqtt, mqtts, tcp, ssl, tls, ws, wss: use mqtt://host:1883`,
		"no-host":          `line 3: broker: "mqtt://:1883" names no host`,
		"port":             `line 2: broker: "mqtt://broker.example:99999" has a bad port`,
		"userinfo":         `broker: "mqtt://me:xxxxx@broker.example" carries credentials: put them in username and password_file`,
		"no-broker":        `mqtt.broker is required (mqtt://host:1883 or mqtts://host:8883)`,
		"wildcard":         `mqtt: topic_prefix "home/+/x" contains a wildcard (+ or #)`,
		"qos":              `mqtt: qos must be 0, 1 or 2, got 3`,
		"password-no-user": `mqtt: a password needs a username`,
		"ca-file":          `mqtt: tls_config.ca_file: stat /nonexistent/ca.pem: no such file or directory`,
		"unknown-key":      `line 3: unknown key "comands"`,
		"zero-interval":    `mqtt: state_interval must be positive, got 0s`,
		"fast-interval":    `mqtt: state_interval must be at least 100ms, got 10ms`,
		"tls-plain":        `mqtt: tls_config is set but broker mqtt://broker.example:1883 is not encrypted: use mqtts://host:8883 (or wss://) to connect over TLS`,
	}
	files, _ := filepath.Glob("testdata/mqtt-invalid-*.yml")
	if len(files) != len(cases) {
		t.Errorf("%d mqtt-invalid-*.yml files but %d cases: every file needs its expected error", len(files), len(cases))
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			path := "testdata/mqtt-invalid-" + name + ".yml"
			_, err := LoadFile(path)
			if err == nil {
				t.Fatalf("%s loaded without error", path)
			}
			if !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("error does not name the file: %v", err)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error\n  %v\ndoes not contain\n  %s", err, want)
			}
		})
	}
}

func TestMQTTDefaultsAndPorts(t *testing.T) {
	c, err := LoadFile("testdata/mqtt-valid.yml")
	if err != nil {
		t.Fatal(err)
	}
	m := c.MQTT
	if m.Broker != "mqtts://broker.example:8883" {
		t.Errorf("broker %q: the mqtts default port was not filled in", m.Broker)
	}
	if m.TopicPrefix != "lab/restartinator" || m.DiscoveryPrefix != "homeassistant" || !m.Discovery || !m.Retain || m.QoS != 1 || !m.Commands {
		t.Errorf("defaults or values lost: %+v", m)
	}
	if m.StateInterval.D() != 5*time.Second {
		t.Errorf("state_interval default %s", m.StateInterval)
	}
	out, err := c.Marshal(false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "hunter2") {
		t.Errorf("the MQTT password shows in the rendered config:\n%s", out)
	}
	for _, tc := range []struct{ in, want string }{
		{"mqtt://h", "mqtt://h:1883"}, {"tcp://h:1884", "tcp://h:1884"}, {"ssl://h", "ssl://h:8883"},
		{"MQTT://[::1]", "mqtt://[::1]:1883"}, {"wss://h/mqtt", "wss://h:443/mqtt"},
	} {
		u, err := ParseBrokerURL(tc.in)
		if err != nil || u.String() != tc.want {
			t.Errorf("ParseBrokerURL(%q) = %v, %v; want %s", tc.in, u, err, tc.want)
		}
	}
}
