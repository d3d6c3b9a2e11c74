// Package mqtttest runs Debian's mosquitto broker on a free loopback port for
// tests, with a generated config: anonymous, or with a password file.
package mqtttest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Need finds mosquitto; missing, it skips the test locally and fails it
// under CI=true, like the project's other outside programs.
func Need(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"mosquitto", "/usr/sbin/mosquitto"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("mosquitto not found and CI=true: install Debian's mosquitto (scripts/test-deps.sh does)")
	}
	t.Skip("mosquitto not found: install Debian's mosquitto (scripts/test-deps.sh) to run the MQTT tests")
	return ""
}

// Options configure a broker.
type Options struct {
	// Users, when set, turns anonymous access off: only these
	// user → password pairs may connect.
	Users map[string]string
}

// Broker is a running mosquitto.
type Broker struct {
	t    testing.TB
	bin  string
	dir  string
	conf string
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *syncBuffer
}

// Start starts a broker that stops when the test ends.
func Start(t testing.TB, opt Options) *Broker {
	t.Helper()
	b := &Broker{t: t, bin: Need(t), dir: t.TempDir()}
	var lastErr error
	for try := 0; try < 5; try++ {
		b.port = freePort(t)
		if lastErr = b.writeConfig(opt); lastErr != nil {
			t.Fatal(lastErr)
		}
		if lastErr = b.start(); lastErr == nil {
			t.Cleanup(b.Stop)
			return b
		}
	}
	t.Fatalf("mosquitto would not start: %v", lastErr)
	return nil
}

// Port is the broker's TCP port on 127.0.0.1.
func (b *Broker) Port() int { return b.port }

// URL is mqtt://127.0.0.1:PORT.
func (b *Broker) URL() string { return fmt.Sprintf("mqtt://127.0.0.1:%d", b.port) }

// Log is what mosquitto logged.
func (b *Broker) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.log == nil {
		return ""
	}
	return b.log.String()
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (b *Broker) writeConfig(opt Options) error {
	conf := fmt.Sprintf("listener %d 127.0.0.1\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n", b.port)
	// Run as root, mosquitto would switch to the "mosquitto" user, which
	// cannot read the test's private directory.
	if u, err := user.Current(); err == nil {
		conf += "user " + u.Username + "\n"
	}
	if len(opt.Users) == 0 {
		conf += "allow_anonymous true\n"
	} else {
		pw := filepath.Join(b.dir, "passwd")
		first := true
		for name, pass := range opt.Users {
			args := []string{"-b", pw, name, pass}
			if first {
				args = append([]string{"-c"}, args...)
				first = false
			}
			if out, err := exec.Command("mosquitto_passwd", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("mosquitto_passwd: %v\n%s", err, out)
			}
		}
		conf += "allow_anonymous false\npassword_file " + pw + "\n"
	}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	return os.WriteFile(b.conf, []byte(conf), 0o600)
}

func (b *Broker) start() error {
	cmd := exec.Command(b.bin, "-c", b.conf)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // killed by the test: the exit status says nothing
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("mosquitto exited at start:\n%s", log.String())
		default:
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(b.port), time.Second)
		if err == nil {
			c.Close()
			b.mu.Lock()
			b.cmd, b.exited, b.log = cmd, exited, log
			b.mu.Unlock()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill() // it may have exited meanwhile
	<-exited
	return fmt.Errorf("mosquitto did not listen on port %d within 10s:\n%s", b.port, log.String())
}

// Stop kills the broker; it keeps nothing (persistence is off).
func (b *Broker) Stop() {
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill() // it may have exited meanwhile
	<-exited
}

// Restart starts the broker again on the same port, empty.
func (b *Broker) Restart() {
	b.t.Helper()
	var err error
	for try := 0; try < 20; try++ {
		if err = b.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond) // the old socket may linger
	}
	b.t.Fatalf("restarting mosquitto on port %d: %v", b.port, err)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
