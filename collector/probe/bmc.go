package probe

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/config"
)

// BMCReader asks a server's BMC for its view of the server.
type BMCReader func(ctx context.Context) (actuator.BMCStatus, error)

// ErrBMCUnreadable is wrapped by a bmc probe's Result.Err when the BMC could
// not be asked, as opposed to a server it reports off or critical.
var ErrBMCUnreadable = errors.New("the BMC could not be asked")

// BMC judges a server by its BMC: up while the chassis is powered on and
// the BMC's health rollup is not Critical. It sees a server that is off or
// faulted, not one whose OS hangs with power on: pair it with a tcp or http
// probe (probes: with require) for that.
type BMC struct {
	read    BMCReader
	timeout time.Duration
	target  string
}

// NewBMC returns a bmc prober; target names the plug for messages.
func NewBMC(read BMCReader, timeout time.Duration, target string) *BMC {
	return &BMC{read: read, timeout: timeout, target: target}
}

func init() {
	register(config.ProbeBMC, func(d *config.DeviceConfig, _ *config.ProbeConfig, timeout time.Duration, opts Options) (Prober, error) {
		return newBMCFromConfig(d, timeout, opts)
	})
}

func newBMCFromConfig(d *config.DeviceConfig, timeout time.Duration, opts Options) (*BMC, error) {
	if opts.BMCReader == nil {
		return nil, errors.New("a bmc probe asks the server's BMC, but no BMC reader was given (is the device's plug a redfish or ipmi plug?)")
	}
	return NewBMC(opts.BMCReader, timeout, "BMC "+strconv.Quote(d.Plug)), nil
}

// Probe asks the BMC once.
func (b *BMC) Probe(ctx context.Context) Result {
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, b.timeout)
	st, err := b.read(rctx)
	cancel()
	elapsed := time.Since(start)
	switch {
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		return Result{Duration: elapsed, Err: fmt.Errorf("asking %s: probe cancelled: %w", b.target, context.Canceled)}
	case err != nil:
		return Result{Duration: elapsed, Err: fmt.Errorf("asking %s: %w: %w", b.target, ErrBMCUnreadable, err)}
	case !st.PowerOn:
		return Result{Duration: elapsed, Err: fmt.Errorf("%s reports the server powered off", b.target)}
	case st.Health == "Critical":
		return Result{Duration: elapsed, Err: fmt.Errorf("%s reports the server's health Critical", b.target)}
	}
	return Result{Success: true, Duration: elapsed}
}

// Type returns "bmc".
func (b *BMC) Type() string { return config.ProbeBMC }

// Target names the BMC plug.
func (b *BMC) Target() string { return b.target }
