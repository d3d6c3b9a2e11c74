package config

import "testing"

// protocol: aes is a Kasa plug's AES securePassthrough transport (older
// Tapo and KP125M/EP25 firmware); the value is normalised like the others.
func TestKasaProtocolAES(t *testing.T) {
	c, err := Load([]byte("plugs:\n  - {name: tapo, host: 192.0.2.7, protocol: AES, username: me@example.com, password: pw}\n"), "aes.yml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Plugs[0].Kasa().Protocol; got != ProtocolAES {
		t.Fatalf("protocol = %q, want %q", got, ProtocolAES)
	}
}
