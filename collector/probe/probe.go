package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
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
	// Type is the probe type as configured: one of Types().
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
	f, ok := factories[p.Type]
	if !ok {
		return nil, fmt.Errorf("device %q: probe type %q is not one of %s", d.Name, p.Type, strings.Join(Types(), ", "))
	}
	pr, err := f(d, p, timeout, opts)
	if err != nil {
		return nil, fmt.Errorf("device %q: %w", d.Name, err)
	}
	return pr, nil
}

// factory builds one type's prober for device d from p, its probe config
// as validated; timeout is the device's probe timeout.
type factory func(d *config.DeviceConfig, p *config.ProbeConfig, timeout time.Duration, opts Options) (Prober, error)

// factories are the probe types New can build, by name. Each prober's file
// registers its own in init.
var factories = map[string]factory{}

// register adds a prober's factory under its config.ProbeType name. A name
// the config does not know, or one registered twice, is a programming error:
// every probe a config can name must be buildable, and only those.
func register(name string, f factory) {
	if _, ok := config.LookupProbeType(name); !ok {
		panic(fmt.Sprintf("probe: type %q is not a config probe type: register it with config.RegisterProbeType too", name))
	}
	if _, ok := factories[name]; ok {
		panic(fmt.Sprintf("probe: type %q registered twice", name))
	}
	factories[name] = f
}

// Types lists the probe types New can build, in the order the config lists
// them.
func Types() []string {
	var names []string
	for _, n := range config.ProbeTypeNames() {
		if _, ok := factories[n]; ok {
			names = append(names, n)
		}
	}
	return names
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
