package redfish_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/redfish"
	"github.com/restartinator/restartinator/actuator/redfish/redfishsim"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/testlog"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func startSim(t *testing.T, opt redfishsim.Options) *redfishsim.BMC {
	t.Helper()
	b, err := redfishsim.Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// client trusts the simulator's certificate by its fingerprint unless cfg
// says otherwise.
func client(t *testing.T, b *redfishsim.BMC, cfg redfish.Config) *redfish.Client {
	t.Helper()
	cfg.Host, cfg.Port = b.Host(), b.Port()
	if cfg.Username == "" {
		cfg.Username, cfg.Password = "admin", "password"
	}
	if cfg.CAFile == "" && cfg.FingerprintSHA256 == "" && !cfg.InsecureSkipVerify {
		cfg.FingerprintSHA256 = b.Fingerprint()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	c, err := redfish.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestStatusAndSwitchBothAuths(t *testing.T) {
	for _, auth := range []string{redfish.AuthSession, redfish.AuthBasic} {
		t.Run(auth, func(t *testing.T) {
			b := startSim(t, redfishsim.Options{})
			c := client(t, b, redfish.Config{Auth: auth})
			ctx := context.Background()
			st, err := c.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Outlets) != 1 || !st.Outlets[0].On || st.Outlets[0].ID != "1" || st.Model != "restartinator Simulated Server" {
				t.Fatalf("status %+v", st)
			}
			if err := c.Switch(ctx, "", false); err != nil {
				t.Fatal(err)
			}
			if b.PowerState() != "Off" {
				t.Fatal("not off after ForceOff")
			}
			if err := c.Switch(ctx, "", true); err != nil {
				t.Fatal(err)
			}
			if got := b.Resets(); strings.Join(got, ",") != "ForceOff,On" || b.PowerState() != "On" {
				t.Fatalf("resets %v, power %s", got, b.PowerState())
			}
			c.Close()
			if b.Sessions() != 0 {
				t.Errorf("%d sessions left open after Close", b.Sessions())
			}
		})
	}
}

func TestWrongPassword401(t *testing.T) {
	b := startSim(t, redfishsim.Options{})
	for _, auth := range []string{redfish.AuthSession, redfish.AuthBasic} {
		c := client(t, b, redfish.Config{Auth: auth, Username: "admin", Password: "wrong"})
		_, err := c.Status(context.Background())
		if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "check the BMC username and password") ||
			!strings.Contains(err.Error(), "no valid session") {
			t.Errorf("%s: %v", auth, err)
		}
	}
}

func TestTLSVerification(t *testing.T) {
	b := startSim(t, redfishsim.Options{})
	ctx := context.Background()
	// System roots: the BMC's self-signed certificate is refused.
	c, err := redfish.New(redfish.Config{Host: b.Host(), Port: b.Port(), Username: "admin", Password: "password", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(ctx); err == nil || !strings.Contains(err.Error(), "certificate") || !strings.Contains(err.Error(), "fingerprint_sha256") {
		t.Fatalf("self-signed without a CA: %v", err)
	}
	// A CA file with the certificate.
	ca := filepath.Join(t.TempDir(), "bmc.pem")
	if err := os.WriteFile(ca, b.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client(t, b, redfish.Config{CAFile: ca}).Status(ctx); err != nil {
		t.Fatalf("with ca_file: %v", err)
	}
	// The right pin, with colons and upper case as openssl prints it.
	fp := strings.ToUpper(b.Fingerprint())
	var colons []string
	for i := 0; i < len(fp); i += 2 {
		colons = append(colons, fp[i:i+2])
	}
	if _, err := client(t, b, redfish.Config{FingerprintSHA256: strings.Join(colons, ":")}).Status(ctx); err != nil {
		t.Fatalf("pinned: %v", err)
	}
	// A wrong pin.
	wrong := strings.Repeat("ab", 32)
	_, err = client(t, b, redfish.Config{FingerprintSHA256: wrong}).Status(ctx)
	if err == nil || !strings.Contains(err.Error(), "not the pinned "+wrong) {
		t.Fatalf("wrong pin: %v", err)
	}
	if _, err := client(t, b, redfish.Config{InsecureSkipVerify: true}).Status(ctx); err != nil {
		t.Fatalf("insecure_skip_verify: %v", err)
	}
	if _, err := redfish.New(redfish.Config{Host: "h", Username: "u", FingerprintSHA256: "12:34"}); err == nil {
		t.Fatal("a short fingerprint was accepted")
	}
}

func TestRefusedResetCarriesTheMessage(t *testing.T) {
	b := startSim(t, redfishsim.Options{})
	b.SetFault(redfishsim.RefuseReset)
	err := client(t, b, redfish.Config{}).Switch(context.Background(), "", false)
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") ||
		!strings.Contains(err.Error(), "The change to the requested resource failed because the resource is in use or in transition.") {
		t.Fatalf("refused reset: %v", err)
	}
	if b.PowerState() != "On" {
		t.Fatal("a refused reset switched power")
	}
}

type cycleRig struct {
	b              *redfishsim.BMC
	c              *redfish.Client
	simClk, ourClk *clock.Fake
	log            *testlog.Buffer
}

func newCycleRig(t *testing.T, opt redfishsim.Options) *cycleRig {
	r := &cycleRig{simClk: clock.NewFake(t0), ourClk: clock.NewFake(t0), log: &testlog.Buffer{}}
	opt.Clock = r.simClk
	r.b = startSim(t, opt)
	r.c = client(t, r.b, redfish.Config{Logger: slog.New(slog.NewTextHandler(r.log, nil))})
	return r
}

type result struct {
	rep actuator.SafeCycleReport
	err error
}

func (r *cycleRig) start(opt actuator.SafeCycleOptions) <-chan result {
	opt.Clock, opt.Logger = r.ourClk, slog.New(slog.NewTextHandler(r.log, nil))
	done := make(chan result, 1)
	go func() {
		rep, err := actuator.SafeCycle(context.Background(), r.c, "", 10*time.Second, opt)
		done <- result{rep, err}
	}()
	return done
}

func TestSafeCycleWithPowerCycle(t *testing.T) {
	r := newCycleRig(t, redfishsim.Options{CycleOff: 8 * time.Second})
	intent := false
	done := r.start(actuator.SafeCycleOptions{BeforeOff: func() error { intent = len(r.b.Resets()) == 0; return nil }})
	r.ourClk.WaitForTimers(1)
	if r.b.PowerState() != "Off" {
		t.Fatal("not off during the BMC's power cycle")
	}
	r.simClk.Advance(8 * time.Second)
	r.ourClk.Advance(12 * time.Second) // our 10 s off time and the settle
	res := <-done
	if res.err != nil {
		t.Fatal(res.err, r.log.String())
	}
	if !intent || !res.rep.DeviceCycled || !res.rep.Verified || strings.Join(r.b.Resets(), ",") != "PowerCycle" {
		t.Fatalf("intent %v report %+v resets %v", intent, res.rep, r.b.Resets())
	}
}

func TestSafeCycleWithoutPowerCycle(t *testing.T) {
	r := newCycleRig(t, redfishsim.Options{NoPowerCycle: true})
	done := r.start(actuator.SafeCycleOptions{})
	r.ourClk.WaitForTimers(1)
	if r.b.PowerState() != "Off" {
		t.Fatal("not off after ForceOff")
	}
	r.ourClk.Advance(10 * time.Second)
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.rep.DeviceCycled || !res.rep.FlipBackUnsupported || strings.Join(r.b.Resets(), ",") != "ForceOff,On" || r.b.PowerState() != "On" {
		t.Fatalf("report %+v resets %v", res.rep, r.b.Resets())
	}
	if !strings.Contains(r.log.String(), "does not list PowerCycle") {
		t.Errorf("the log does not say why the BMC did not cycle itself:\n%s", r.log.String())
	}
	// flip_back: required refuses to power off a BMC without PowerCycle.
	res = <-r.start(actuator.SafeCycleOptions{FlipBack: "required"})
	if !errors.Is(res.err, actuator.ErrFlipBackRequired) || res.rep.SwitchedOff {
		t.Fatalf("required: %+v %v", res.rep, res.err)
	}
}

// The DMTF mockups load into the simulator, and our client drives them:
// they list no PowerCycle, so the cycle is ForceOff then On.
func TestDMTFMockups(t *testing.T) {
	for _, m := range []string{"public-rackmount1", "public-telemetry"} {
		t.Run(m, func(t *testing.T) {
			dir := filepath.Join("../../../shared/fixtures/redfish", m)
			if _, err := os.Stat(dir); err != nil {
				t.Skipf("mockup %s absent: %v", dir, err)
			}
			r := newCycleRig(t, redfishsim.Options{From: dir})
			st, err := r.c.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !st.Outlets[0].On {
				t.Fatalf("status %+v", st)
			}
			if err := r.c.CanDeviceCycle(context.Background(), ""); !errors.Is(err, actuator.ErrDeviceCycleUnsupported) {
				t.Fatalf("the mockup lists no PowerCycle: %v", err)
			}
			done := r.start(actuator.SafeCycleOptions{})
			r.ourClk.WaitForTimers(1)
			r.ourClk.Advance(10 * time.Second)
			if res := <-done; res.err != nil || strings.Join(r.b.Resets(), ",") != "ForceOff,On" {
				t.Fatalf("%v resets %v", res.err, r.b.Resets())
			}
		})
	}
}
