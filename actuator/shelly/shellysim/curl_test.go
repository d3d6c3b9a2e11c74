package shellysim_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/shelly/shellysim"
	"github.com/restartinator/restartinator/internal/testtool"
)

// curl drives the simulator with Debian's curl, a client we did not write:
// its HTTP basic and RFC 7616 SHA-256 digest must be accepted as a real
// Shelly accepts them.
func curl(t *testing.T, args ...string) map[string]any {
	t.Helper()
	path := testtool.Need(t, "curl", "curl")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, append([]string{"-sS", "--fail-with-body", "--noproxy", "*"}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v: %s", args, err, out)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("curl %v: %q is not JSON", args, out)
	}
	return m
}

func TestCurlGen1Basic(t *testing.T) {
	dev, base := start(t, shellysim.Options{Model: "shelly1", Password: "pw"})
	if m := curl(t, "-u", "admin:pw", base+"/relay/0?turn=off&timer=60"); m["ison"] != false || m["has_timer"] != true || dev.On(0) {
		t.Fatalf("curl basic: %v", m)
	}
}

func TestCurlGen2Digest(t *testing.T) {
	dev, base := start(t, shellysim.Options{Model: "shellyplusplugs", Password: "pw"})
	if m := curl(t, "--digest", "-u", "admin:pw", base+"/rpc/Switch.Set?id=0&on=false&toggle_after=60"); m["was_on"] != true || dev.On(0) {
		t.Fatalf("curl --digest GET: %v", m)
	}
	m := curl(t, "--digest", "-u", "admin:pw", "-H", "Content-Type: application/json",
		"-d", `{"id":1,"src":"curl","method":"Switch.GetStatus","params":{"id":0}}`, base+"/rpc")
	if res, _ := m["result"].(map[string]any); res["output"] != false || res["timer_duration"] != 60.0 {
		t.Fatalf("curl --digest POST: %v", m)
	}
}
