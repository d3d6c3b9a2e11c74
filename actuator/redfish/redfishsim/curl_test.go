package redfishsim_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/redfish/redfishsim"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/testtool"
)

// curl drives the simulator with requests written from DSP0266, trusting
// its certificate through --cacert as an operator would; it returns the
// status line, headers and body.
func curl(t *testing.T, ca string, args ...string) string {
	t.Helper()
	bin := testtool.Need(t, "curl", "curl")
	args = append([]string{"-sS", "-i", "--max-time", "10", "--http1.1", "--noproxy", "*", "--cacert", ca}, args...)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	return strings.ReplaceAll(string(out), "\r\n", "\n")
}

func TestCurlDrivesTheService(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b, err := redfishsim.Start(redfishsim.Options{Username: "root", Password: "calvin", CycleOff: 6 * time.Second, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ca := filepath.Join(t.TempDir(), "bmc.pem")
	if err := os.WriteFile(ca, b.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	// curl checks the name against the certificate: use 127.0.0.1.
	u := b.URL()

	// The service root needs no credentials; the systems do.
	if out := curl(t, ca, u+"/redfish/v1/"); !strings.HasPrefix(out, "HTTP/1.1 200") || !strings.Contains(out, `"@odata.id": "/redfish/v1/Systems"`) {
		t.Fatalf("service root:\n%s", out)
	}
	if out := curl(t, ca, u+"/redfish/v1/Systems"); !strings.HasPrefix(out, "HTTP/1.1 401") || !strings.Contains(out, "Base.1.8.NoValidSession") {
		t.Fatalf("systems without credentials:\n%s", out)
	}
	if out := curl(t, ca, "-u", "root:calvin", u+"/redfish/v1/Systems"); !strings.Contains(out, `"@odata.id": "/redfish/v1/Systems/1"`) {
		t.Fatalf("systems with basic auth:\n%s", out)
	}

	// A session: POST the credentials, then the token.
	out := curl(t, ca, "-H", "Content-Type: application/json", "-d", `{"UserName":"root","Password":"calvin"}`, u+"/redfish/v1/SessionService/Sessions")
	if !strings.HasPrefix(out, "HTTP/1.1 201") {
		t.Fatalf("login:\n%s", out)
	}
	tok := regexp.MustCompile(`(?im)^x-auth-token: (\S+)$`).FindStringSubmatch(out)
	loc := regexp.MustCompile(`(?im)^location: (\S+)$`).FindStringSubmatch(out)
	if tok == nil || loc == nil {
		t.Fatalf("login without X-Auth-Token or Location:\n%s", out)
	}
	auth := "X-Auth-Token: " + tok[1]
	if out := curl(t, ca, "-H", auth, u+"/redfish/v1/Systems/1"); !strings.Contains(out, `"PowerState": "On"`) || !strings.Contains(out, `"PowerCycle"`) {
		t.Fatalf("system:\n%s", out)
	}

	reset := u + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset"
	// A value not in the allowable list, and a missing parameter: 400 with
	// the Base registry's messages, nothing done.
	if out := curl(t, ca, "-H", auth, "-H", "Content-Type: application/json", "-d", `{"ResetType":"Explode"}`, reset); !strings.HasPrefix(out, "HTTP/1.1 400") || !strings.Contains(out, "ActionParameterValueNotInList") || !strings.Contains(out, "'Explode'") {
		t.Fatalf("bad ResetType:\n%s", out)
	}
	if out := curl(t, ca, "-H", auth, "-H", "Content-Type: application/json", "-d", `{}`, reset); !strings.HasPrefix(out, "HTTP/1.1 400") || !strings.Contains(out, "ActionParameterMissing") {
		t.Fatalf("missing ResetType:\n%s", out)
	}
	if b.PowerState() != "On" || len(b.Resets()) != 0 {
		t.Fatal("a refused Reset acted")
	}
	// PowerCycle: off now, on after the cycle's off time.
	if out := curl(t, ca, "-H", auth, "-H", "Content-Type: application/json", "-d", `{"ResetType":"PowerCycle"}`, reset); !strings.HasPrefix(out, "HTTP/1.1 204") {
		t.Fatalf("PowerCycle:\n%s", out)
	}
	if out := curl(t, ca, "-H", auth, u+"/redfish/v1/Systems/1"); !strings.Contains(out, `"PowerState": "Off"`) {
		t.Fatalf("during the power cycle:\n%s", out)
	}
	clk.Advance(6 * time.Second)
	if out := curl(t, ca, "-H", auth, u+"/redfish/v1/Systems/1"); !strings.Contains(out, `"PowerState": "On"`) {
		t.Fatalf("after the power cycle:\n%s", out)
	}
	// Log out; the token is dead.
	if out := curl(t, ca, "-H", auth, "-X", "DELETE", u+loc[1]); !strings.HasPrefix(out, "HTTP/1.1 204") {
		t.Fatalf("logout:\n%s", out)
	}
	if out := curl(t, ca, "-H", auth, u+"/redfish/v1/Systems/1"); !strings.HasPrefix(out, "HTTP/1.1 401") {
		t.Fatalf("after logout:\n%s", out)
	}
}
