package tasmotasim_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/tasmota/tasmotasim"
	"github.com/restartinator/restartinator/internal/testtool"
)

// TestCurl sends the commands exactly as the Tasmota docs show them, with
// Debian's curl: spaces as %20, ; as %3B, the password in the URL.
func TestCurl(t *testing.T) {
	path := testtool.Need(t, "curl", "curl")
	dev, base := start(t, tasmotasim.Options{Password: "joker"})
	run := func(query string) map[string]any {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, path, "-sS", "--noproxy", "*", base+"/cm?"+query).Output()
		if err != nil {
			t.Fatalf("curl %s: %v", query, err)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("curl %s: %q is not JSON", query, out)
		}
		return m
	}
	if m := run("user=admin&password=joker&cmnd=Power%20Toggle"); m["POWER"] != "OFF" || dev.On(0) {
		t.Fatalf("Power Toggle: %v", m)
	}
	run("user=admin&password=joker&cmnd=Backlog%20Power%20Toggle%3BPower1%20off%3BPower1%20on")
	waitFor(t, "the Backlog to run", func() bool { return len(dev.Backlog()) == 0 && dev.On(0) })
	if m := run("cmnd=Power%20OFF"); m["WARNING"] == nil || !dev.On(0) {
		t.Fatalf("without password: %v", m)
	}
}
