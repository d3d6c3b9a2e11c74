package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/snmppdu"
	"github.com/restartinator/restartinator/actuator/snmppdu/pdusim"
)

// simulate --model apc-rpdu --username U --password P: an SNMPv3 user,
// authPriv with SHA and AES, the password both passphrases.
func TestSimulatePDUWithV3User(t *testing.T) {
	s, err := startSimulator(simPlug{Model: "apc-rpdu", Username: "ops", Password: "ops-pass-1"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if d := s.Describe(); !strings.Contains(d, "v3 user ops authPriv SHA/AES") {
		t.Errorf("Describe() = %q", d)
	}
	p := s.(*pdusim.PDU)
	c, err := snmppdu.New(snmppdu.Config{Host: p.Host(), Port: p.Port(), Version: "3", Username: "ops",
		AuthPassword: "ops-pass-1", PrivPassword: "ops-pass-1", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Switch(context.Background(), "2", false); err != nil || p.Outlets()[1].On {
		t.Fatalf("switch over v3: %v", err)
	}
	if _, err := startSimulator(simPlug{Model: "apc-rpdu", Password: "ops-pass-1"}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--username") {
		t.Errorf("--password alone: %v", err)
	}
	if _, err := startSimulator(simPlug{Model: "apc-rpdu", Username: "ops", Password: "short"}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "at least 8") {
		t.Errorf("a short passphrase: %v", err)
	}
}
