package probe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/restartinator/restartinator/config"
)

// Power judges a device by its plug's meter: a draw outside [Min, Max] watts
// fails. It suits devices with nothing to connect to, and hangs that leave
// the network up: a hung PC often sits at idle draw, a crashed one at full
// load.
//
// A plug that does not answer counts as a failed probe, with the plug's
// error (wrapping ErrPlugUnreadable) as the reason: without a reading
// nothing says the device is up. The supervisor can tell the two apart with
// errors.Is(res.Err, ErrPlugUnreadable).
type Power struct {
	read     PowerReader
	min, max *float64
	timeout  time.Duration
	target   string
}

// NewPower returns a power prober. min or max may be nil for no bound; target
// names the plug and outlet for messages.
func NewPower(read PowerReader, min, max *float64, timeout time.Duration, target string) *Power {
	return &Power{read: read, min: min, max: max, timeout: timeout, target: target}
}

func init() {
	register(config.ProbePower, func(d *config.DeviceConfig, p *config.ProbeConfig, timeout time.Duration, opts Options) (Prober, error) {
		return newPowerFromConfig(d, p, timeout, opts)
	})
}

func newPowerFromConfig(d *config.DeviceConfig, p *config.ProbeConfig, timeout time.Duration, opts Options) (*Power, error) {
	if opts.PowerReader == nil {
		return nil, errors.New("a power probe reads the plug's meter, but no meter reader was given (is the device's plug configured?)")
	}
	if p.MinWatts == nil && p.MaxWatts == nil {
		return nil, errors.New("a power probe needs probe.min_watts, probe.max_watts or both")
	}
	if p.MinWatts != nil && p.MaxWatts != nil && *p.MinWatts > *p.MaxWatts {
		return nil, fmt.Errorf("probe.min_watts (%s W) is above probe.max_watts (%s W)", watts(*p.MinWatts), watts(*p.MaxWatts))
	}
	target := "plug " + strconv.Quote(d.Plug)
	if d.Outlet != "" {
		target += " outlet " + strconv.Quote(d.Outlet)
	}
	return NewPower(opts.PowerReader, p.MinWatts, p.MaxWatts, timeout, target), nil
}

// Probe reads the meter once.
func (p *Power) Probe(ctx context.Context) Result {
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, p.timeout)
	e, err := p.read(rctx)
	cancel()
	elapsed := time.Since(start)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return Result{Duration: elapsed, Err: fmt.Errorf("reading %s: probe cancelled: %w", p.target, context.Canceled)}
		}
		return Result{Duration: elapsed, Err: fmt.Errorf("reading %s: %w: %w — is the plug powered and on the network?", p.target, ErrPlugUnreadable, err)}
	}
	w := e.Watts
	switch {
	case math.IsNaN(w):
		return Result{Duration: elapsed, Err: fmt.Errorf("%s reports no valid power reading — does the outlet have a meter?", p.target)}
	case p.min != nil && w < *p.min:
		return Result{Duration: elapsed, Err: fmt.Errorf("drawing %s W, below min_watts %s W — a hung device often draws only idle power", watts(w), watts(*p.min))}
	case p.max != nil && w > *p.max:
		return Result{Duration: elapsed, Err: fmt.Errorf("drawing %s W, above max_watts %s W — a device stuck in a loop often draws full power", watts(w), watts(*p.max))}
	}
	return Result{Success: true, Duration: elapsed}
}

// Type returns "power".
func (p *Power) Type() string { return config.ProbePower }

// Target names the plug and outlet read.
func (p *Power) Target() string { return p.target }

// watts formats a reading to a tenth of a watt, without trailing zeros.
func watts(w float64) string {
	return strconv.FormatFloat(math.Round(w*10)/10, 'f', -1, 64)
}
