package kasa_test

import (
	"context"
	"testing"

	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
)

func benchStatus(b *testing.B, model, protocol string) {
	sim := startSim(b, kasasim.Options{Model: model})
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
