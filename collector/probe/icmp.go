package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	probing "github.com/prometheus-community/pro-bing"
	"golang.org/x/net/icmp"

	"github.com/restartinator/restartinator/config"
)

// ICMP sends one echo request and waits for the reply. By default it uses an
// unprivileged ICMP datagram socket, which Linux allows only to groups in
// net.ipv4.ping_group_range; Privileged uses a raw socket, which needs root
// or CAP_NET_RAW.
type ICMP struct {
	target     string
	privileged bool
	timeout    time.Duration
	logger     probing.Logger
	resolver   *net.Resolver
}

// NewICMP returns an ICMP prober for target, a host name or IP address.
// A nil logger discards the ICMP library's messages.
func NewICMP(target string, privileged bool, timeout time.Duration, logger *slog.Logger) *ICMP {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &ICMP{
		target:     target,
		privileged: privileged,
		timeout:    timeout,
		logger:     pingLogger{logger.With("probe", config.ProbeICMP, "target", target)},
		resolver:   net.DefaultResolver,
	}
}

func init() {
	register(config.ProbeICMP, func(d *config.DeviceConfig, p *config.ProbeConfig, timeout time.Duration, opts Options) (Prober, error) {
		return newICMPFromConfig(d, p, timeout, opts)
	})
}

func newICMPFromConfig(d *config.DeviceConfig, p *config.ProbeConfig, timeout time.Duration, opts Options) (*ICMP, error) {
	target := p.Target
	if target == "" {
		target = d.Host
	}
	if target == "" {
		return nil, errors.New("an icmp probe needs the device's host or probe.target")
	}
	if err := checkICMPSocket(target, p.Privileged); err != nil {
		return nil, err
	}
	return NewICMP(target, p.Privileged, timeout, opts.Logger), nil
}

// checkICMPSocket opens and closes the socket a probe will need, so a host
// that does not permit it is reported when the config is loaded, not as
// every ICMP device failing (and being power-cycled) at once.
func checkICMPSocket(target string, privileged bool) error {
	v6 := false
	if ip := net.ParseIP(strings.Trim(target, "[]")); ip != nil {
		v6 = ip.To4() == nil
	}
	network := "udp4" // an ICMP datagram socket, in x/net/icmp's naming
	switch {
	case v6 && privileged:
		network = "ip6:ipv6-icmp"
	case v6:
		network = "udp6"
	case privileged:
		network = "ip4:icmp"
	}
	c, err := icmp.ListenPacket(network, "")
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return socketError("icmp echo to "+target, err, privileged)
		}
		return nil // not a permission problem; the probe will say what it is
	}
	return c.Close()
}

// socketDenied tells the host refusing an ICMP socket from a send that a
// firewall refused. x/net/icmp reports the first as a bare "socket" syscall
// error for datagram sockets and as a "listen" OpError for raw ones.
func socketDenied(err error) bool {
	if !errors.Is(err, os.ErrPermission) {
		return false
	}
	var (
		se *os.SyscallError
		oe *net.OpError
	)
	return errors.As(err, &se) && se.Syscall == "socket" || errors.As(err, &oe) && oe.Op == "listen"
}

// socketError explains a socket this host refused to open, with the fix.
func socketError(what string, err error, privileged bool) error {
	if privileged {
		return fmt.Errorf("%s: cannot open a raw ICMP socket: %w — run as root or with CAP_NET_RAW "+
			"(AmbientCapabilities=CAP_NET_RAW in the systemd unit, or setcap cap_net_raw+ep on the binary), "+
			"or drop probe.privileged to use unprivileged ping", what, err)
	}
	return fmt.Errorf("%s: cannot open an unprivileged ICMP socket: %w — allow it with "+
		"`sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` (persist it in /etc/sysctl.d), "+
		"or run with CAP_NET_RAW and set probe.privileged: true", what, err)
}

// Probe sends one echo request. The pinger is made anew each time: a
// pro-bing Pinger runs once.
func (c *ICMP) Probe(ctx context.Context) Result {
	start := time.Now()
	what := "icmp echo to " + c.target
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	fail := func(err error) Result {
		elapsed := time.Since(start)
		if socketDenied(err) {
			return Result{Duration: elapsed, Err: socketError(what, err, c.privileged)}
		}
		if errors.Is(err, syscall.EPERM) {
			return Result{Duration: elapsed, Err: fmt.Errorf("%s: %w — a firewall on this host refused the echo request: allow outgoing ICMP", what, trim(err))}
		}
		return Result{Duration: elapsed, Err: describe(ctx, what, err, elapsed, c.timeout,
			"is the device hung, powered off or off the network?")}
	}
	ip, err := resolveIP(rctx, c.resolver, c.target)
	if err != nil {
		return fail(err)
	}
	p := probing.New("")
	p.SetIPAddr(ip)
	p.SetPrivileged(c.privileged)
	p.SetLogger(c.logger)
	p.Count = 1
	p.Timeout = c.timeout
	p.RecordRtts = false
	p.RecordTTLs = false
	if err := p.RunWithContext(rctx); err != nil {
		return fail(err)
	}
	if p.Statistics().PacketsRecv == 0 {
		return fail(context.DeadlineExceeded)
	}
	return Result{Success: true, Duration: time.Since(start)}
}

// resolveIP looks target up within ctx, preferring IPv4 as most devices on
// a LAN have it.
func resolveIP(ctx context.Context, r *net.Resolver, target string) (*net.IPAddr, error) {
	host := strings.Trim(target, "[]")
	if ip := net.ParseIP(host); ip != nil {
		return &net.IPAddr{IP: ip}, nil
	}
	addrs, err := r.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	for i := range addrs {
		if addrs[i].IP.To4() != nil {
			return &addrs[i], nil
		}
	}
	return &addrs[0], nil // LookupIPAddr returns an error rather than none
}

// Type returns "icmp".
func (c *ICMP) Type() string { return config.ProbeICMP }

// Target returns the pinged host.
func (c *ICMP) Target() string { return c.target }

// pingLogger hands pro-bing's messages to slog at debug level: its "FATAL"
// lines are not fatal, and a probe's own outcome is in its Result.
type pingLogger struct{ l *slog.Logger }

func (p pingLogger) Fatalf(format string, v ...any) { p.debug(format, v) }
func (p pingLogger) Errorf(format string, v ...any) { p.debug(format, v) }
func (p pingLogger) Warnf(format string, v ...any)  { p.debug(format, v) }
func (p pingLogger) Infof(format string, v ...any)  { p.debug(format, v) }
func (p pingLogger) Debugf(format string, v ...any) { p.debug(format, v) }

func (p pingLogger) debug(format string, v []any) {
	if p.l.Enabled(context.Background(), slog.LevelDebug) {
		p.l.Debug(fmt.Sprintf(format, v...))
	}
}
