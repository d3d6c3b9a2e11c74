package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRemovedDeviceStateKeptThroughReloads: the real binary, given a state
// file that an earlier run left with the history of a device no longer in
// the config, dates the removal and keeps the history; a reload that puts
// the device back unmarks it, and one that removes it again dates it anew.
// (The drop after state.RemovedGrace is tested on the fake clock in
// internal/state.)
func TestRemovedDeviceStateKeptThroughReloads(t *testing.T) {
	dir := t.TempDir()
	statePath := filepath.Join(dir, "state.json")
	started := time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)
	seed := fmt.Sprintf(`{"version":1,"intents":{},"webhook_dedup":{},"history":[{"device":"old-nas","trigger":"auto","started":%q,"ended":%q,"ok":true}]}`, started, started)
	if err := os.WriteFile(statePath, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("global: {state_file: %s}\ndevices:\n  - {name: cam, host: 127.0.0.1, port: 9, mode: monitor}\n", statePath)
	withNAS := base + "  - {name: old-nas, host: 127.0.0.1, port: 9, mode: monitor}\n"
	cfgPath := filepath.Join(dir, "r.yml")
	if err := os.WriteFile(cfgPath, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	type stateFile struct {
		History []struct{ Device string }
		Removed map[string]time.Time `json:"removed_since"`
	}
	read := func() stateFile {
		var f stateFile
		data, err := os.ReadFile(statePath)
		if err == nil {
			err = json.Unmarshal(data, &f)
		}
		if err != nil {
			t.Fatalf("state file: %v", err)
		}
		return f
	}
	hasHistory := func(f stateFile) bool {
		for _, c := range f.History {
			if c.Device == "old-nas" {
				return true
			}
		}
		return false
	}

	cmd, _, logs := startBinary(t, "--config.file", cfgPath)
	waitFor(t, "old-nas dated as removed at start", func() bool { return !read().Removed["old-nas"].IsZero() })
	first := read()
	if !hasHistory(first) {
		t.Fatal("old-nas's history was dropped at once")
	}
	if since := time.Since(first.Removed["old-nas"]); since < 0 || since > time.Minute {
		t.Errorf("removal dated %s, not now", first.Removed["old-nas"])
	}

	os.WriteFile(cfgPath, []byte(withNAS), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "old-nas no longer marked removed after the reload that adds it", func() bool { return len(read().Removed) == 0 })
	if !hasHistory(read()) {
		t.Error("history lost when the device came back")
	}

	os.WriteFile(cfgPath, []byte(base), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "old-nas dated as removed again", func() bool { return read().Removed["old-nas"].After(first.Removed["old-nas"]) })
	if !hasHistory(read()) || strings.Contains(logs.String(), "dropped the state") {
		t.Errorf("state dropped within the grace:\n%s", logs)
	}
	terminate(t, cmd, logs)
}
