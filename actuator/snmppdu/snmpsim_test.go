package snmppdu_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/snmppdu"
	"github.com/restartinator/restartinator/internal/testtool"
)

const (
	v3User = "restartinator"
	v3Auth = "auth-pass-1234"
	v3Priv = "priv-pass-1234"
	// v3UserMD5 is snmpsim's second user: MD5 and DES.
	v3UserMD5 = "restartinator-md5"
)

// masterSwitchFixture is the LibreNMS walk of an APC MasterSwitch AP9606.
const masterSwitchFixture = "../../../shared/fixtures/snmp/apc_masterswitch2.snmprec"

// startSnmpsim runs Debian's snmpsimd on loopback serving the given data
// files, each community named after its file. Writable columns get the
// writecache variation so SETs stick.
func startSnmpsim(t *testing.T, files map[string]string) (host string, port int) {
	t.Helper()
	bin := testtool.Need(t, "snmpsim", "snmpsimd")
	// snmpsimd drops root for --process-user, so its directories must be
	// readable by that user.
	dir, err := os.MkdirTemp("", "snmpsim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{dir, filepath.Join(dir, "data"), filepath.Join(dir, "cache")} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	writable := regexp.MustCompile(`^(1\.3\.6\.1\.4\.1\.318\.1\.1\.4\.4\.2\.1\.3\.\d+)\|2\|(\d+)$`)
	for community, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Skipf("fixture %s absent: %v", src, err)
		}
		var out strings.Builder
		for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			out.WriteString(writable.ReplaceAllString(line, "$1|2:writecache|value=$2") + "\n")
		}
		if err := os.WriteFile(filepath.Join(dir, "data", community+".snmprec"), []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A free UDP port on loopback.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	args := []string{"--data-dir=" + filepath.Join(dir, "data"), "--cache-dir=" + filepath.Join(dir, "cache"),
		fmt.Sprintf("--agent-udpv4-endpoint=127.0.0.1:%d", port), "--logging-method=stderr",
		"--v3-user=" + v3User, "--v3-auth-key=" + v3Auth, "--v3-auth-proto=SHA", "--v3-priv-key=" + v3Priv, "--v3-priv-proto=AES",
		"--v3-user=" + v3UserMD5, "--v3-auth-key=" + v3Auth, "--v3-auth-proto=MD5", "--v3-priv-key=" + v3Priv, "--v3-priv-proto=DES"}
	if os.Geteuid() == 0 {
		args = append(args, "--process-user=nobody", "--process-group=nogroup")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	// snmpsimd says it is listening once the data files are indexed.
	ready := make(chan struct{})
	var logBuf strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Listening at UDP/IPv4 endpoint") {
				close(ready)
				break
			}
			logBuf.WriteString(sc.Text() + "\n")
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatalf("snmpsimd did not start listening:\n%s", logBuf.String())
	}
	return "127.0.0.1", port
}

func TestAgainstSnmpsimMasterSwitch(t *testing.T) {
	host, port := startSnmpsim(t, map[string]string{"ms": masterSwitchFixture, "rpdu": "testdata/apc_rpdu.snmprec"})
	for _, tc := range []struct {
		name string
		cfg  snmppdu.Config
	}{
		{"v2c", snmppdu.Config{Version: "2c", Community: "ms"}},
		{"v1", snmppdu.Config{Version: "1", Community: "ms"}},
		{"v3 authPriv SHA/AES", snmppdu.Config{Version: "3", Username: v3User, AuthPassword: v3Auth, PrivPassword: v3Priv, ContextName: "ms"}},
		{"v3 authPriv MD5/DES", snmppdu.Config{Version: "3", Username: v3UserMD5, AuthProtocol: "MD5", AuthPassword: v3Auth,
			PrivProtocol: "DES", PrivPassword: v3Priv, ContextName: "ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Host, cfg.Port, cfg.Timeout = host, port, 3*time.Second
			c, err := snmppdu.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			st, err := c.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// The recording: 8 outlets, 5 on and 3 off.
			on := 0
			for _, o := range st.Outlets {
				if o.On {
					on++
				}
			}
			if len(st.Outlets) != 8 || !strings.Contains(st.Protocol, "MasterSwitch") {
				t.Fatalf("status %+v", st)
			}
			t.Logf("%s: %d of %d on", st.Model, on, len(st.Outlets))
			target := st.Outlets[0]
			if err := c.Switch(ctx, target.ID, !target.On); err != nil {
				t.Fatal(err)
			}
			st2, err := c.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st2.Outlets[0].On == target.On {
				t.Fatalf("outlet 1 did not switch: %+v", st2.Outlets[0])
			}
			if err := c.Switch(ctx, st2.Outlets[0].Alias, true); err != nil { // by name
				t.Fatal(err)
			}
			if st3, err := c.Status(ctx); err != nil || !st3.Outlets[0].On {
				t.Fatalf("outlet 1 not on by name: %v", err)
			}
		})
	}
}

func TestAgainstSnmpsimReboot(t *testing.T) {
	host, port := startSnmpsim(t, map[string]string{"ms": masterSwitchFixture, "rpdu": "testdata/apc_rpdu.snmprec"})
	for _, tc := range []struct {
		community, outlet, control string
		reboot                     int
		set, want                  time.Duration
	}{
		// MasterSwitch: sPDUOutletCtl takes outletReboot(3). The
		// recording has no sPDUOutletConfigTable: the duration is unknown.
		{"ms", "2", "1.3.6.1.4.1.318.1.1.4.4.2.1.3.2", 3, 0, 0},
		// rPDU: rPDUOutletControlOutletCommand takes immediateReboot(3).
		{"rpdu", "db-server", "1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.3", 3, 12 * time.Second, 12 * time.Second},
	} {
		t.Run(tc.community, func(t *testing.T) {
			c, err := snmppdu.New(snmppdu.Config{Host: host, Port: port, Community: tc.community, Timeout: 3 * time.Second, RebootDuration: tc.set})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.CanDeviceCycle(context.Background(), tc.outlet); err != nil {
				t.Fatal(err)
			}
			d, err := c.DeviceCycle(context.Background(), tc.outlet, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if d != tc.want {
				t.Errorf("reboot duration %s, want %s", d, tc.want)
			}
			// What the agent got, read back by Net-SNMP's snmpget as an
			// operator would.
			snmpget := testtool.Need(t, "snmp", "snmpget")
			out, err := exec.Command(snmpget, "-v2c", "-c", tc.community, "-On", "-Oe", fmt.Sprintf("%s:%d", host, port), tc.control).CombinedOutput()
			if err != nil {
				t.Fatalf("snmpget: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), fmt.Sprintf("INTEGER: %d", tc.reboot)) {
				t.Fatalf("the agent holds %s, want the reboot command %d", out, tc.reboot)
			}
		})
	}
}

func TestAgainstSnmpsimRPDU(t *testing.T) {
	host, port := startSnmpsim(t, map[string]string{"rpdu": "testdata/apc_rpdu.snmprec"})
	c, err := snmppdu.New(snmppdu.Config{Host: host, Port: port, Community: "rpdu", Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Outlets) != 8 || st.Outlets[6].On || !st.Outlets[2].On || st.Outlets[2].Alias != "db-server" {
		t.Fatalf("outlets %+v", st.Outlets)
	}
	if len(st.Inputs) != 2 || *st.Inputs[0].Watts != 552 || *st.Inputs[1].Amperes != 2.4 {
		t.Fatalf("inputs %+v", st.Inputs)
	}
	l, err := c.Load(context.Background())
	if err != nil || l.Watts != 552 || len(l.Amperes) != 1 || l.Amperes[0] != 2.4 {
		t.Fatalf("load %+v %v", l, err)
	}
}
