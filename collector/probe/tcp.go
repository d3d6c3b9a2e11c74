package probe

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/restartinator/restartinator/config"
)

// TCP checks that a TCP connection to the target can be opened, then closes
// it at once. It is the cheapest probe and the default one, meant to run for
// thousands of devices: a probe is one dial, and nothing else allocates on
// the success path.
type TCP struct {
	target  string
	timeout time.Duration
	dialer  net.Dialer
}

// NewTCP returns a TCP prober for target (host:port).
func NewTCP(target string, timeout time.Duration) *TCP {
	return &TCP{target: target, timeout: timeout, dialer: net.Dialer{Timeout: timeout}}
}

func init() {
	register(config.ProbeTCP, func(d *config.DeviceConfig, p *config.ProbeConfig, timeout time.Duration, _ Options) (Prober, error) {
		return newTCPFromConfig(d, p, timeout)
	})
}

func newTCPFromConfig(d *config.DeviceConfig, p *config.ProbeConfig, timeout time.Duration) (*TCP, error) {
	target := p.Target
	if target == "" {
		if d.Host == "" || d.Port == 0 {
			return nil, fmt.Errorf("a tcp probe needs host and port, or probe.target host:port")
		}
		target = hostPort(d.Host, d.Port)
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("tcp probe target %q must be host:port: %w", target, err)
	}
	return NewTCP(target, timeout), nil
}

// Probe dials the target. The connection is closed with a reset (linger 0)
// rather than a FIN, as HAProxy's checks do: at thousands of probes a second
// a graceful close would leave a TIME_WAIT socket per probe on this host, and
// the device frees its side at once instead of waiting in FIN_WAIT.
func (t *TCP) Probe(ctx context.Context) Result {
	start := time.Now()
	conn, err := t.dialer.DialContext(ctx, "tcp", t.target)
	elapsed := time.Since(start)
	if err != nil {
		return Result{Duration: elapsed, Err: describe(ctx, "tcp connect to "+t.target, err, elapsed, t.timeout,
			"is the device hung, powered off or off the network?")}
	}
	selfConnect := SelfConnected(conn)
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
	if selfConnect {
		// TCP simultaneous open: dialling a closed local port can pick that
		// very port as the source and "connect" to itself.
		return Result{Duration: elapsed, Err: fmt.Errorf("tcp connect to %s: connected to itself: nothing listens on that port", t.target)}
	}
	return Result{Success: true, Duration: elapsed}
}

// Type returns "tcp".
func (t *TCP) Type() string { return config.ProbeTCP }

// Target returns the dialled host:port.
func (t *TCP) Target() string { return t.target }

// SelfConnected reports whether a connection is a TCP self-connect: its
// local and remote addresses are the same.
func SelfConnected(c net.Conn) bool {
	return c.LocalAddr().String() == c.RemoteAddr().String()
}
