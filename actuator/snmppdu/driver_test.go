package snmppdu_test

import (
	"strings"
	"testing"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/snmppdu"
	"github.com/restartinator/restartinator/config"
)

func register() {
	if _, ok := actuator.LookupDriver(snmppdu.Driver.Name); !ok {
		actuator.Register(snmppdu.Driver)
	}
}

func TestConfigErrorsNameLineAndKey(t *testing.T) {
	register()
	for _, tc := range []struct{ plug, want string }{
		{"{name: p, type: snmp_pdu, host: h, version: 2}", `version "2": write 2c`},
		{"{name: p, type: snmp_pdu, host: h, version: \"3\", community: x}", "community is for version 1 and 2c"},
		{"{name: p, type: snmp_pdu, host: h, priv_protocol: AES}", "are for version 3"},
		{"{name: p, type: snmp_pdu, host: h, version: \"3\", auth_protocol: SHA512}", `auth_protocol "SHA512": use SHA, MD5, SHA-224 or SHA-256`},
		{"{name: p, type: snmp_pdu, host: h, reboot_duration: 1500ms}", "whole seconds"},
		{"{name: p, type: snmp_pdu, host: h, comunity: x}", "comunity"},
	} {
		doc := "plugs:\n  - " + tc.plug + "\ndevices:\n  - {name: d, host: x, port: 22, probe: {type: tcp}, plug: p, outlet: \"1\"}\n"
		_, err := config.Load([]byte(doc), "pdu.yml")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "pdu.yml") {
			t.Errorf("%s: %v, want %q with the file", tc.plug, err, tc.want)
		}
	}
	// A v3 plug without a username fails when built, naming the plug.
	c, err := config.Load([]byte("plugs:\n  - {name: p, type: snmp_pdu, host: h, version: \"3\"}\ndevices:\n  - {name: d, host: x, port: 22, probe: {type: tcp}, plug: p, outlet: \"1\"}\n"), "pdu.yml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := actuator.NewPlug(c.Plugs[0], actuator.DriverEnv{}); err == nil || !strings.Contains(err.Error(), `plug "p"`) || !strings.Contains(err.Error(), "username") {
		t.Errorf("v3 without user: %v", err)
	}
}
