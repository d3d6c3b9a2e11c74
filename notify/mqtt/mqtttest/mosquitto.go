// Package mqtttest runs Debian's mosquitto broker on free loopback ports for
// tests, with a generated config: anonymous, or with a password file; a
// plain listener always, and TLS, WebSocket and WebSocket-over-TLS listeners
// when asked.
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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/restartinator/restartinator/internal/testtool"
)

// Need finds mosquitto; missing, it skips the test locally and fails it
// under CI=true, like the project's other outside programs.
func Need(t testing.TB) string {
	t.Helper()
	// mosquitto lives in /usr/sbin, often not on a non-root PATH.
	return testtool.Need(t, "mosquitto", "mosquitto", "/usr/sbin/mosquitto")
}

// Options configure a broker.
type Options struct {
	// Users, when set, turns anonymous access off: only these
	// user → password pairs may connect.
	Users map[string]string
	// TLS, when set, adds a TLS listener (MQTTSURL), and a wss one with
	// WebSockets.
	TLS *TLS
	// WebSockets adds a ws listener (WSURL), and a wss one with TLS.
	WebSockets bool
	// ACL, when set, is the broker's acl_file: lines before any "user"
	// line are what anonymous clients may do.
	ACL string
}

// TLS is a TLS listener's setup: mosquitto's cafile, certfile, keyfile and
// require_certificate.
type TLS struct {
	// CAFile is the CA the broker checks client certificates against.
	CAFile string
	Server KeyPair
	// RequireCertificate turns client-certificate authentication on.
	RequireCertificate bool
	// IdentityAsUsername makes a client certificate's common name the
	// client's user name, for ACL (use_identity_as_username).
	IdentityAsUsername bool
}

// Listener kinds beside the plain one.
const (
	listenerTLS = "mqtts"
	listenerWS  = "ws"
	listenerWSS = "wss"
)

// Broker is a running mosquitto.
type Broker struct {
	t    testing.TB
	bin  string
	dir  string
	conf string
	port int
	// extra are the other listeners' ports by kind.
	extra map[string]int

	mu       sync.Mutex
	reserved int // socket holding the port while stopped, or -1
	cmd      *exec.Cmd
	exited   chan struct{}
	log      *syncBuffer
}

// Start starts a broker that stops when the test ends.
func Start(t testing.TB, opt Options) *Broker {
	t.Helper()
	b := &Broker{t: t, bin: Need(t), dir: t.TempDir(), reserved: -1}
	var lastErr error
	for try := 0; try < 5; try++ {
		var kinds []string
		if opt.TLS != nil {
			kinds = append(kinds, listenerTLS)
		}
		if opt.WebSockets {
			kinds = append(kinds, listenerWS)
			if opt.TLS != nil {
				kinds = append(kinds, listenerWSS)
			}
		}
		ports := freePorts(t, 1+len(kinds))
		b.port, b.extra = ports[0], map[string]int{}
		for i, k := range kinds {
			b.extra[k] = ports[1+i]
		}
		if lastErr = b.writeConfig(opt); lastErr != nil {
			t.Fatal(lastErr)
		}
		if lastErr = b.start(); lastErr == nil {
			t.Cleanup(b.cleanup)
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

// MQTTSURL is mqtts://127.0.0.1:PORT, the TLS listener (Options.TLS).
func (b *Broker) MQTTSURL() string { return b.url(listenerTLS, "mqtts") }

// WSURL is ws://127.0.0.1:PORT, the WebSocket listener (Options.WebSockets).
// mosquitto answers the upgrade on any path.
func (b *Broker) WSURL() string { return b.url(listenerWS, "ws") }

// WSSURL is wss://127.0.0.1:PORT (Options.TLS and Options.WebSockets).
func (b *Broker) WSSURL() string { return b.url(listenerWSS, "wss") }

func (b *Broker) url(kind, scheme string) string {
	b.t.Helper()
	port, ok := b.extra[kind]
	if !ok {
		b.t.Fatalf("mqtttest: the broker has no %s listener; set it in Options", kind)
	}
	return fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
}

// Log is what mosquitto logged.
func (b *Broker) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.log == nil {
		return ""
	}
	return b.log.String()
}

// freePorts finds n distinct free ports: each probe socket stays open
// until all are found, or the kernel may hand the same port out twice.
func freePorts(t testing.TB, n int) []int {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func (b *Broker) writeConfig(opt Options) error {
	// The plain listener stays even when a test wants only the others:
	// mosquitto 2.0.11 (Debian 12) with nothing but websockets listeners
	// opens them and then exits with "Unable to start any listening
	// sockets".
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
	if opt.ACL != "" {
		acl := filepath.Join(b.dir, "acl")
		if err := os.WriteFile(acl, []byte(opt.ACL), 0o600); err != nil {
			return err
		}
		conf += "acl_file " + acl + "\n"
	}
	tlsConf := ""
	if t := opt.TLS; t != nil {
		tlsConf = fmt.Sprintf("certfile %s\nkeyfile %s\n", t.Server.CertFile, t.Server.KeyFile)
		if t.CAFile != "" {
			tlsConf += "cafile " + t.CAFile + "\n"
		}
		if t.RequireCertificate {
			tlsConf += "require_certificate true\n"
		}
		if t.IdentityAsUsername {
			tlsConf += "use_identity_as_username true\n"
		}
		conf += fmt.Sprintf("listener %d 127.0.0.1\n%s", b.extra[listenerTLS], tlsConf)
	}
	// A websockets listener is bound by interface name: given 127.0.0.1,
	// mosquitto 2.0.11's libwebsockets listens on every address (::).
	if p, ok := b.extra[listenerWS]; ok {
		conf += fmt.Sprintf("listener %d lo\nprotocol websockets\n", p)
	}
	if p, ok := b.extra[listenerWSS]; ok {
		conf += fmt.Sprintf("listener %d lo\nprotocol websockets\n%s", p, tlsConf)
	}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	return os.WriteFile(b.conf, []byte(conf), 0o600)
}

// startWait bounds how long mosquitto may take to start listening; it
// starts in milliseconds, but a loaded CI machine may be slow to schedule it.
const startWait = 30 * time.Second

// start runs mosquitto and returns once it listens on b.port. A port that
// accepts connections is not proof enough: between freePort closing its
// probe socket (or Stop killing the last broker) and mosquitto binding it,
// another program on the machine may take the port, and a dial would then
// reach that program while our mosquitto exits with "Address already in
// use". So start waits for mosquitto itself to say it opened the listener
// on that port and is running, and is still alive, before dialling.
func (b *Broker) start() error {
	cmd := exec.Command(b.bin, "-c", b.conf)
	log := &syncBuffer{changed: make(chan struct{}, 1)}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // killed by the test: the exit status says nothing
	fail := func(format string, args ...any) error {
		_ = cmd.Process.Kill() // it may have exited meanwhile
		<-exited
		return fmt.Errorf(format+":\n%s", append(args, log.String())...)
	}
	deadline := time.NewTimer(startWait)
	defer deadline.Stop()
	for !b.listening(log.String()) {
		select {
		case <-exited:
			return fail("mosquitto exited at start")
		case <-deadline.C:
			return fail("mosquitto did not say it listens on port %d within %s", b.port, startWait)
		case <-log.changed:
		}
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(b.port), startWait)
	if err != nil {
		return fail("mosquitto says it listens on port %d, but: %v", b.port, err)
	}
	c.Close()
	select {
	case <-exited:
		return fail("mosquitto exited at start")
	default:
	}
	b.mu.Lock()
	b.cmd, b.exited, b.log = cmd, exited, log
	b.mu.Unlock()
	return nil
}

// listening says whether mosquitto's log shows it opened every listener
// and went on to run (it logs "running" once every listener is open, and
// exits instead when a bind fails).
func (b *Broker) listening(log string) bool {
	lines := []string{fmt.Sprintf("Opening ipv4 listen socket on port %d.", b.port)}
	for kind, port := range b.extra {
		if kind == listenerTLS {
			lines = append(lines, fmt.Sprintf("Opening ipv4 listen socket on port %d.", port))
		} else {
			lines = append(lines, fmt.Sprintf("Opening websockets listen socket on port %d.", port))
		}
	}
	last := 0
	for _, l := range lines {
		i := strings.Index(log, l)
		if i < 0 {
			return false
		}
		last = max(last, i)
	}
	return strings.Contains(log[last:], " running\n")
}

// Stop kills the broker; it keeps nothing (persistence is off). Until
// Restart, the port stays reserved for it: a socket bound to it but not
// listening, so a client is refused as by a stopped broker, and no other
// program on the machine can take the port meanwhile (bind with port 0 skips
// it). If the port cannot be reserved (a closed connection of the old broker
// may linger in TIME_WAIT), it is left free, as a real outage would.
func (b *Broker) Stop() {
	b.kill()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reserved < 0 {
		b.reserved = reservePort(b.port)
	}
}

// cleanup ends the broker and gives its port back, at the test's end.
func (b *Broker) cleanup() {
	b.kill()
	b.release()
}

func (b *Broker) kill() {
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

func (b *Broker) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reserved >= 0 {
		_ = syscall.Close(b.reserved)
		b.reserved = -1
	}
}

// reservePort binds a TCP socket to 127.0.0.1:port without listening and
// without SO_REUSEADDR, so nothing else can bind the port; it returns the
// socket, or -1 when the port cannot be had.
func reservePort(port int) int {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		_ = syscall.Close(fd)
		return -1
	}
	return fd
}

// Restart starts the broker again on the same port, empty.
func (b *Broker) Restart() {
	b.t.Helper()
	var err error
	for try := 0; try < 20; try++ {
		b.release()
		if err = b.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond) // the old socket may linger
	}
	b.t.Fatalf("restarting mosquitto on port %d: %v", b.port, err)
}

// syncBuffer collects a process's output; changed, when not nil, is
// signalled after each write.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	n, err := s.b.Write(p)
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
