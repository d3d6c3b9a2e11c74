package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/config"
)

// Result is the outcome of one probe.
type Result struct {
	Success bool
	// Duration is the wall time of the whole probe, name resolution
	// included, so it is comparable across probe types.
	Duration time.Duration
	// Err says why the probe failed, as a sentence fit for a log line or a
	// mail; nil on success. It wraps the cause: errors.Is(err, ErrTimeout)
	// tells a device that did not answer from one that refused.
	Err error
}

// Prober checks one device. Implementations are safe for concurrent use, but
// the supervisor calls each one from a single goroutine.
type Prober interface {
	// Probe checks the device once, within the device's timeout or ctx,
	// whichever ends first.
	Probe(ctx context.Context) Result
	// Type is the probe type as configured: tcp, http, icmp or power.
	Type() string
	// Target is what is probed, for logs and the status page: host:port, a
	// URL with any password redacted, a host, or the plug and outlet.
	Target() string
}

// PowerReader reads the meter of the plug outlet a device hangs on.
type PowerReader func(ctx context.Context) (actuator.Energy, error)

// Options are what New needs besides the device's configuration.
type Options struct {
	// PowerReader is required for power probes and ignored otherwise.
	PowerReader PowerReader
	// BMCReader is required for bmc probes and ignored otherwise.
	BMCReader BMCReader
	// Logger receives the ICMP library's own warnings, at debug level.
	// Nil discards them.
	Logger *slog.Logger
	// UserAgent is sent by HTTP probes; empty means "restartinator".
	UserAgent string
}

// ErrTimeout is wrapped by Result.Err when the device did not answer within
// the timeout.
var ErrTimeout = errors.New("no answer")

// ErrPlugUnreadable is wrapped by a power probe's Result.Err when the plug's
// meter could not be read, as opposed to a reading out of bounds.
var ErrPlugUnreadable = errors.New("the plug's power meter could not be read")

// New builds the prober for device d from d.Probe, as config validation left
// it. A device without a probe but with host and port gets a TCP probe, the
// same default config.LoadFile applies.
func New(d *config.DeviceConfig, opts Options) (Prober, error) {
	p := d.Probe
	if p == nil {
		if d.Host == "" || d.Port == 0 {
			return nil, fmt.Errorf("device %q: no probe configured: set host and port (a TCP check) or a probe", d.Name)
		}
		p = &config.ProbeConfig{Type: config.ProbeTCP}
	}
	timeout := d.Settings.Timeout.D()
	if timeout <= 0 {
		timeout = config.DefaultDeviceSettings.Timeout.D()
	}
	var (
		pr  Prober
		err error
	)
	switch p.Type {
	case config.ProbeTCP:
		pr, err = newTCPFromConfig(d, p, timeout)
	case config.ProbeHTTP:
		pr, err = newHTTPFromConfig(d, p, timeout, opts)
	case config.ProbeICMP:
		pr, err = newICMPFromConfig(d, p, timeout, opts)
	case config.ProbePower:
		pr, err = newPowerFromConfig(d, p, timeout, opts)
	case config.ProbeBMC:
		pr, err = newBMCFromConfig(d, timeout, opts)
	default:
		err = fmt.Errorf("probe type %q is not one of tcp, http, icmp, power, bmc", p.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("device %q: %w", d.Name, err)
	}
	return pr, nil
}

// hostPort joins host and port, bracketing an IPv6 literal.
func hostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// waited is how long a timed-out probe waited, for the message: the
// configured timeout, unless the caller's context cut it shorter.
func waited(elapsed, timeout time.Duration) time.Duration {
	if elapsed >= timeout {
		return timeout
	}
	return elapsed.Round(time.Millisecond)
}
