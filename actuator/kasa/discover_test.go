package kasa_test

import (
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
)

func TestDiscover(t *testing.T) {
	for _, tc := range []struct {
		model, protocol, api string
		outlets              int
		alias                string
	}{
		{"HS100", "xor", "iot", 1, "Simulated HS100"},
		{"HS300", "xor", "iot", 6, "Simulated HS300"},
		{"KP125M", "klap", "smart", 0, ""},
		{"HS100v4", "klap", "iot", 0, ""},
	} {
		t.Run(tc.model, func(t *testing.T) {
			sim := startSim(t, kasasim.Options{Model: tc.model})
			found, err := kasa.Discover(ctxT(t), kasa.DiscoverOptions{Broadcast: sim.Addr(), Timeout: 2 * time.Second, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != 1 {
				t.Fatalf("found %+v", found)
			}
			d := found[0]
			if d.Host != "127.0.0.1" || d.Port != sim.Port() || d.Protocol != tc.protocol || d.API != tc.api ||
				d.Model == "" || len(d.Outlets) != tc.outlets || d.Alias != tc.alias {
				t.Fatalf("discovered %+v", d)
			}
			// What discovery says is enough to connect.
			c, err := kasa.New(kasa.Options{Host: d.Host, Port: d.Port, Protocol: d.Protocol, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Status(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDiscoverSilentWhenUnreachable(t *testing.T) {
	sim := startSim(t, kasasim.Options{Model: "HS110"})
	sim.SetFault(kasasim.Unreachable)
	found, err := kasa.Discover(ctxT(t), kasa.DiscoverOptions{Broadcast: sim.Addr(), Timeout: 100 * time.Millisecond, Logger: quiet})
	if err != nil || len(found) != 0 {
		t.Fatalf("found %+v, %v", found, err)
	}
}
