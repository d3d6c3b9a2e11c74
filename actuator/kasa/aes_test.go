package kasa_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/internal/clock"
)

// TestAESLogins: the login_device forms of both login versions, with the
// owner's account and with the default one, against the simulator that
// accepts only its own version's form.
func TestAESLogins(t *testing.T) {
	owner := &kasa.Credentials{Username: "me@example.com", Password: "s3cret"}
	for _, tc := range []struct {
		name             string
		simVersion       int
		simUser, simPass string
		creds            *kasa.Credentials
		clientVersion    int // 0: unknown, both tried
		handshakes       int // handshakes the login took
	}{
		{"v2 owner, version known", 2, "me@example.com", "s3cret", owner, 2, 1},
		{"v1 owner, version known", 1, "me@example.com", "s3cret", owner, 1, 1},
		{"v2 owner, version unknown", 2, "me@example.com", "s3cret", owner, 0, 1},
		{"v1 owner, version unknown: v2 refused, then v1", 1, "me@example.com", "s3cret", owner, 0, 2},
		{"v2 never bound, default Tapo account", 2, "", "", nil, 2, 2}, // Kasa default refused, then Tapo
		{"v1 never bound, default Tapo account", 1, "", "", nil, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			sim := startSim(t, kasasim.Options{Model: "KP125M", Protocol: "aes", LoginVersion: tc.simVersion, Username: tc.simUser, Password: tc.simPass})
			c := newClient(t, sim, kasa.Options{Protocol: "aes", Credentials: tc.creds, LoginVersion: tc.clientVersion})
			st, err := c.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Protocol != "aes" || c.API() != "smart" || st.Model != "KP125M" {
				t.Fatalf("status = %+v over %s/%s", st, st.Protocol, c.API())
			}
			if got := sim.Handshakes(); got != tc.handshakes {
				t.Errorf("%d handshakes, want %d", got, tc.handshakes)
			}
			if err := c.Switch(ctx, "", false); err != nil {
				t.Fatal(err)
			}
			if sim.On(0) {
				t.Fatal("relay did not switch over AES")
			}
			// The session is kept: no further handshake.
			if got := sim.Handshakes(); got != tc.handshakes {
				t.Errorf("%d handshakes after a second request, want %d", got, tc.handshakes)
			}
		})
	}
}

func TestAESWrongPassword(t *testing.T) {
	ctx := ctxT(t)
	sim := startSim(t, kasasim.Options{Model: "KP125M", Protocol: "aes", Username: "me@example.com", Password: "right"})
	c := newClient(t, sim, kasa.Options{Protocol: "aes", Credentials: &kasa.Credentials{Username: "me@example.com", Password: "wrong"}})
	_, err := c.Status(ctx)
	if !errors.Is(err, kasa.ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	for _, want := range []string{"login failed", "-1501", "check --username and --password-file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if sim.On(0) != true {
		t.Fatal("relay changed")
	}
}

// The device forgets the session (a reboot, or its own timeout answered
// with 9999): the client handshakes and logs in again, once.
func TestAESSessionExpired(t *testing.T) {
	ctx := ctxT(t)
	sim := startSim(t, kasasim.Options{Model: "KP125M", Protocol: "aes"})
	c := newClient(t, sim, kasa.Options{Protocol: "aes", LoginVersion: 2})
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	before := sim.Handshakes()
	sim.ExpireSessions()
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sim.Handshakes() - before; got != 1 {
		t.Fatalf("%d handshakes after the device forgot the session, want 1", got)
	}
}

// The session's TIMEOUT cookie (24 h here) is renewed before it runs out,
// by the client's clock.
func TestAESSessionExpiresByClock(t *testing.T) {
	ctx := ctxT(t)
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sim := startSim(t, kasasim.Options{Model: "KP125M", Protocol: "aes"})
	c := newClient(t, sim, kasa.Options{Protocol: "aes", LoginVersion: 2, Clock: fake})
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	before := sim.Handshakes()
	fake.Advance(23 * time.Hour)
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if sim.Handshakes() != before {
		t.Fatal("handshook again within the session's life")
	}
	fake.Advance(50 * time.Minute) // past 24 h minus the 20 min margin
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sim.Handshakes() - before; got != 1 {
		t.Fatalf("%d handshakes after expiry, want 1", got)
	}
}

// Protocol auto finds AES behind XOR and KLAP on a plug that speaks only AES.
func TestAESAutoDetected(t *testing.T) {
	ctx := ctxT(t)
	sim := startSim(t, kasasim.Options{Model: "KP125M", Protocol: "aes"})
	c := newClient(t, sim, kasa.Options{})
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Protocol != "aes" {
		t.Fatalf("protocol = %q", st.Protocol)
	}
}
