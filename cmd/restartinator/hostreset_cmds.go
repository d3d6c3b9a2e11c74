package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/restartinator/restartinator/actuator/hostreset"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
)

// hostResetCmd is `restartinator host-reset`: hard-reset this host by hand,
// to check that the watchdog or RTC setup really works.
type hostResetCmd struct {
	method    string
	device    string
	dryRun    bool
	countdown time.Duration
	// configFile is the --config.file value; configDefault is its default,
	// which may be absent (then the built-in defaults apply).
	configFile    func() string
	configDefault string

	// Side effects, replaced in tests.
	opener hostreset.Opener
	runner hostreset.Runner
	clock  clock.Clock
}

// hostResetCommands registers host-reset.
func hostResetCommands(app *kingpin.Application) []command {
	return []command{registerHostReset(app, &hostResetCmd{
		opener: hostreset.FileOpener{},
		runner: hostreset.ExecRunner{},
		clock:  clock.Real{},
	})}
}

func registerHostReset(app *kingpin.Application, c *hostResetCmd) command {
	clause := app.Command("host-reset", "Hard-reset this host now through its watchdog or RTC, to check the setup by hand. It really resets unless --dry-run. Linux only.")
	clause.Flag("method", "How to reset: watchdog or rtc.").Required().EnumVar(&c.method, config.ResetWatchdog, config.ResetRTC)
	clause.Flag("dry-run", "Say exactly what would be done (device, timeout, rtcwake argv) and do nothing.").BoolVar(&c.dryRun)
	clause.Flag("device", "The watchdog or RTC device to use instead of the configured one.").PlaceHolder("PATH").StringVar(&c.device)
	clause.Flag("countdown", "How long to wait after the warning, so a Ctrl-C can still stop it.").Default("10s").DurationVar(&c.countdown)
	// --config.file is this command's own flag, unless the application has
	// a global one (tests do), since kingpin rejects a duplicate.
	if f := app.GetFlag("config.file"); f != nil {
		m := f.Model()
		c.configFile = func() string { return m.Value.String() }
		if len(m.Default) > 0 {
			c.configDefault = m.Default[0]
		}
	} else {
		var path string
		c.configDefault = "restartinator.yml"
		clause.Flag("config.file", "Configuration file whose host_reset section to use (built-in defaults when the default file is absent).").
			Default(c.configDefault).StringVar(&path)
		c.configFile = func() string { return path }
	}
	return command{clause: clause, run: c.run}
}

// settings resolves the host_reset section to use: the config file's, with
// --method and --device on top. A missing default config file means the
// built-in defaults; a missing file named on purpose is an error.
func (c *hostResetCmd) settings() (*config.HostResetConfig, bool, error) {
	hr := &config.HostResetConfig{}
	dryRun := c.dryRun
	if path := c.configFile(); path != "" {
		cfg, err := config.LoadFile(path)
		switch {
		case err == nil:
			if cfg.HostReset != nil {
				hr = cfg.HostReset
			}
			dryRun = dryRun || cfg.Global.DryRun
		case path == c.configDefault && errors.Is(err, fs.ErrNotExist):
			// No config at the default path: built-in defaults.
		default:
			return nil, false, err
		}
	}
	h := *hr
	h.Method = c.method
	if h.Fallback == h.Method {
		h.Fallback = ""
	}
	w, r := config.DefaultWatchdog, config.DefaultRTC
	if h.Watchdog != nil {
		w = *h.Watchdog
	}
	if h.RTC != nil {
		r = *h.RTC
	}
	if c.device != "" {
		if c.method == config.ResetWatchdog {
			w.Device = c.device
		} else {
			r.Device = c.device
		}
	}
	h.Watchdog, h.RTC = &w, &r
	return &h, dryRun, nil
}

func (c *hostResetCmd) run(ctx context.Context, logger *slog.Logger, stdout io.Writer) int {
	cfg, dryRun, err := c.settings()
	if err != nil {
		logger.Error("host-reset: loading the configuration", "err", err)
		return 1
	}
	r := hostreset.New(cfg, hostreset.Options{
		DryRun: dryRun,
		Opener: c.opener,
		Runner: c.runner,
		Clock:  c.clock,
		Logger: logger,
	})
	host, _ := os.Hostname()
	if dryRun {
		fmt.Fprintf(stdout, "dry run: would hard-reset this host (%s) via %s\n", host, r.Describe())
		if err := r.Reset(ctx, "manual"); err != nil {
			logger.Error("host-reset", "err", err)
			return 1
		}
		return 0
	}

	fmt.Fprintf(stdout, "WARNING: this hard-resets this host (%s) NOW, via %s.\n", host, r.Describe())
	fmt.Fprintln(stdout, "Running programs get no chance to save their work and filesystems are not unmounted cleanly.")
	if cfg.Method == config.ResetWatchdog {
		fmt.Fprintln(stdout, "Once the watchdog is armed, Ctrl-C does not disarm it: the host resets anyway when it times out.")
	}
	if c.countdown > 0 {
		fmt.Fprintf(stdout, "Press Ctrl-C within %s to abort (use --dry-run to only see what would be done).\n", c.countdown)
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "Aborted; nothing was done.")
			return 1
		case <-c.clock.After(c.countdown):
		}
	}
	fmt.Fprintln(stdout, "Resetting.")
	err = r.Reset(ctx, "manual")
	if err == nil {
		// Only rtcwake returns success; a working watchdog never returns.
		fmt.Fprintln(stdout, "rtcwake accepted the request; the host should power down now.")
		return 0
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stdout, "Interrupted. If the watchdog was armed it stays armed: the host resets when it times out.")
	}
	logger.Error("host-reset failed", "err", err)
	return 1
}
