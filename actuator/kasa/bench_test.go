package kasa_test

import (
	"context"
	"testing"

	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
)

func benchStatus(b *testing.B, model, protocol string) {
	sim := startSim(b, kasasim.Options{Model: model, Protocol: protocol})
	c := newClient(b, sim, kasa.Options{Protocol: protocol})
	ctx := context.Background()
	if _, err := c.Status(ctx); err != nil { // connect, and handshake for KLAP
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Status(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// A status round trip against the in-process simulator, after connecting.
func BenchmarkStatusXOR(b *testing.B)  { benchStatus(b, "HS110", "xor") }
func BenchmarkStatusKLAP(b *testing.B) { benchStatus(b, "KP125M", "klap") }
func BenchmarkStatusAES(b *testing.B)  { benchStatus(b, "KP125M", "aes") }

// Connecting over AES from scratch: a new RSA-1024 key, the handshake and
// login_device, then one status.
func BenchmarkConnectAES(b *testing.B) {
	sim := startSim(b, kasasim.Options{Model: "KP125M", Protocol: "aes"})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, err := kasa.New(kasa.Options{Host: sim.Host(), Port: sim.Port(), Protocol: "aes", LoginVersion: 2,
			Credentials: &kasa.Credentials{Username: "test@tp-link.net", Password: "test"}, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Status(ctx); err != nil {
			b.Fatal(err)
		}
		_ = c.Close()
	}
}
