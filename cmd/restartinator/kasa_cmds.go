package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"go.yaml.in/yaml/v2"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
)

// plugFlags are the flags of `restartinator plug ...`.
type plugFlags struct {
	host, outlet, protocol, username, passwordFile, output string
	port                                                   int
	offTime, timeout                                       time.Duration
}

// kasaCommands registers plug (status|on|off|cycle), discover and simulate.
func kasaCommands(app *kingpin.Application) []command {
	var cmds []command
	pf := &plugFlags{}
	plug := app.Command("plug", "Talk to one Kasa plug or strip: read it, switch an outlet, or power-cycle it safely.")
	plug.Flag("host", "The plug's address.").Required().StringVar(&pf.host)
	plug.Flag("port", "TCP port (default 9999 for xor, 80 for klap).").IntVar(&pf.port)
	plug.Flag("outlet", "Strip outlet by alias, 0-based index or id; empty for a single plug.").StringVar(&pf.outlet)
	plug.Flag("protocol", "auto, xor (legacy, TCP 9999) or klap (HTTP, firmware since 2023).").Default("auto").EnumVar(&pf.protocol, "auto", "xor", "klap")
	plug.Flag("username", "TP-Link cloud account the plug was set up with (KLAP only).").StringVar(&pf.username)
	plug.Flag("password-file", "File holding that account's password (KLAP only).").PlaceHolder("FILE").StringVar(&pf.passwordFile)
	plug.Flag("timeout", "Timeout for each request to the plug.").Default("5s").DurationVar(&pf.timeout)
	plug.Flag("output", "Output format: text or json.").Short('o').Default("text").EnumVar(&pf.output, "text", "json")

	status := plug.Command("status", "Show model, versions, relay state of each outlet and energy readings.")
	cmds = append(cmds, command{clause: status, run: func(ctx context.Context, logger *slog.Logger, stdout io.Writer) int {
		return pf.run(ctx, logger, "status", func(c *kasa.Client) error { return pf.status(ctx, c, stdout) })
	}})
	for _, on := range []bool{true, false} {
		name := map[bool]string{true: "on", false: "off"}[on]
		cl := plug.Command(name, "Switch the outlet "+name+".")
		cmds = append(cmds, command{clause: cl, run: func(ctx context.Context, logger *slog.Logger, stdout io.Writer) int {
			return pf.run(ctx, logger, name, func(c *kasa.Client) error {
				if err := c.Switch(ctx, pf.outlet, on); err != nil {
					return err
				}
				return pf.print(stdout, map[string]any{"host": pf.host, "outlet": pf.outlet, "on": on},
					fmt.Sprintf("switched %s %s\n", pf.describeOutlet(), name))
			})
		}})
	}
	cycle := plug.Command("cycle", "Power-cycle the outlet safely: arm the plug's own flip-back timer, switch off, wait, switch on and verify.")
	cycle.Flag("off-time", "How long the outlet stays off.").Default("10s").DurationVar(&pf.offTime)
	cmds = append(cmds, command{clause: cycle, run: func(ctx context.Context, logger *slog.Logger, stdout io.Writer) int {
		return pf.run(ctx, logger, "cycle", func(c *kasa.Client) error { return pf.cycle(ctx, logger, c, stdout) })
	}})

	cmds = append(cmds, discoverCommand(app), simulateCommand(app))
	return cmds
}

func (pf *plugFlags) describeOutlet() string {
	if pf.outlet == "" {
		return "plug " + pf.host
	}
	return fmt.Sprintf("outlet %q of %s", pf.outlet, pf.host)
}

// run builds the client, runs fn, and turns an error into a logged sentence
// and exit code 1.
func (pf *plugFlags) run(ctx context.Context, logger *slog.Logger, what string, fn func(*kasa.Client) error) int {
	c, err := pf.client(logger)
	if err == nil {
		defer c.Close()
		err = fn(c)
	}
	if err != nil {
		logger.Error("plug "+what+" failed", "err", err)
		return 1
	}
	return 0
}

func (pf *plugFlags) client(logger *slog.Logger) (*kasa.Client, error) {
	var creds *kasa.Credentials
	if pf.username != "" || pf.passwordFile != "" {
		creds = &kasa.Credentials{Username: pf.username}
		if pf.passwordFile != "" {
			b, err := os.ReadFile(pf.passwordFile)
			if err != nil {
				return nil, fmt.Errorf("reading --password-file: %w", err)
			}
			creds.Password = strings.TrimRight(string(b), "\r\n")
		}
	}
	return kasa.New(kasa.Options{Host: pf.host, Port: pf.port, Protocol: pf.protocol, Credentials: creds,
		Timeout: pf.timeout, Logger: logger})
}

func (pf *plugFlags) print(w io.Writer, v any, text string) error {
	if pf.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := io.WriteString(w, text)
	return err
}

// statusJSON is the stable shape of `plug status -o json`.
type statusJSON struct {
	Host      string `json:"host"`
	Model     string `json:"model"`
	HWVersion string `json:"hw_version"`
	SWVersion string `json:"sw_version"`
	MAC       string `json:"mac"`
	Alias     string `json:"alias"`
	RSSI      int    `json:"rssi"`
	Protocol  string `json:"protocol"`
	API       string `json:"api"`
	Strip     bool   `json:"strip"`
	// For a single plug, or the outlet chosen with --outlet:
	On            *bool    `json:"on,omitempty"`
	OnTimeSeconds *float64 `json:"on_time_seconds,omitempty"`
	energyJSON
	Outlets []outletJSON `json:"outlets,omitempty"`
}

type energyJSON struct {
	PowerWatts      *float64 `json:"power_watts,omitempty"`
	VoltageVolts    *float64 `json:"voltage_volts,omitempty"`
	CurrentAmperes  *float64 `json:"current_amperes,omitempty"`
	EnergyWattHours *float64 `json:"energy_watt_hours,omitempty"`
}

type outletJSON struct {
	Index         int     `json:"index"`
	ID            string  `json:"id"`
	Alias         string  `json:"alias"`
	On            bool    `json:"on"`
	OnTimeSeconds float64 `json:"on_time_seconds"`
	energyJSON
}

func energyOf(e *actuator.Energy) energyJSON {
	if e == nil {
		return energyJSON{}
	}
	return energyJSON{&e.Watts, &e.Volts, &e.Amperes, &e.WattHours}
}

func (pf *plugFlags) status(ctx context.Context, c *kasa.Client, w io.Writer) error {
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	out := statusJSON{Host: pf.host, Model: st.Model, HWVersion: st.HWVersion, SWVersion: st.SWVersion, MAC: st.MAC,
		Alias: st.Alias, RSSI: st.RSSI, Protocol: st.Protocol, API: c.API(), Strip: st.Strip}
	var chosen *actuator.Outlet
	if !st.Strip || pf.outlet != "" {
		o, err := actuator.SelectOutlet(st, pf.outlet)
		if err != nil {
			return fmt.Errorf("plug %s: %w", pf.host, err)
		}
		chosen = &o
		secs := o.OnTime.Seconds()
		out.On, out.OnTimeSeconds, out.energyJSON = &o.On, &secs, energyOf(o.Energy)
	}
	if st.Strip {
		for _, o := range st.Outlets {
			out.Outlets = append(out.Outlets, outletJSON{Index: o.Index, ID: o.ID, Alias: o.Alias, On: o.On,
				OnTimeSeconds: o.OnTime.Seconds(), energyJSON: energyOf(o.Energy)})
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s (hw %s, fw %s)  %s/%s  alias %q  mac %s  rssi %d\n",
		pf.host, st.Model, st.HWVersion, st.SWVersion, st.Protocol, c.API(), st.Alias, st.MAC, st.RSSI)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OUTLET\tALIAS\tID\tSTATE\tON FOR\tPOWER\tVOLTAGE\tCURRENT\tENERGY")
	for _, o := range st.Outlets {
		if chosen != nil && st.Strip && o.Index != chosen.Index {
			continue
		}
		state, onFor := "off", "-"
		if o.On {
			state, onFor = "on", o.OnTime.String()
		}
		id := o.ID
		if id == "" {
			id = "-"
		}
		meter := "-\t-\t-\t-"
		if e := o.Energy; e != nil {
			meter = fmt.Sprintf("%.1f W\t%.1f V\t%.3f A\t%.0f Wh", e.Watts, e.Volts, e.Amperes, e.WattHours)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", o.Index, o.Alias, id, state, onFor, meter)
	}
	tw.Flush()
	return pf.print(w, out, b.String())
}

func (pf *plugFlags) cycle(ctx context.Context, logger *slog.Logger, c *kasa.Client, w io.Writer) error {
	rep, err := actuator.SafeCycle(ctx, c, pf.outlet, pf.offTime, actuator.SafeCycleOptions{Logger: logger})
	type cycleJSON struct {
		Host                string  `json:"host"`
		Outlet              string  `json:"outlet"`
		OffTimeSeconds      float64 `json:"off_time_seconds"`
		FlipBackArmed       bool    `json:"flip_back_armed"`
		FlipBackUnsupported bool    `json:"flip_back_unsupported"`
		SwitchedOff         bool    `json:"switched_off"`
		SwitchedOn          bool    `json:"switched_on"`
		Verified            bool    `json:"verified"`
		Error               string  `json:"error,omitempty"`
	}
	out := cycleJSON{Host: pf.host, Outlet: pf.outlet, OffTimeSeconds: pf.offTime.Seconds(), FlipBackArmed: rep.FlipBackArmed,
		FlipBackUnsupported: rep.FlipBackUnsupported, SwitchedOff: rep.SwitchedOff, SwitchedOn: rep.SwitchedOn, Verified: rep.Verified}
	if err != nil {
		out.Error = err.Error()
	}
	text := fmt.Sprintf("cycled %s: off for %s, back on and verified\n", pf.describeOutlet(), pf.offTime)
	if rep.FlipBackUnsupported {
		text += "note: the plug refused the flip-back timer; it was a plain off/on\n"
	}
	if perr := pf.print(w, out, text); perr != nil && err == nil {
		err = perr
	}
	return err
}

func discoverCommand(app *kingpin.Application) command {
	var broadcast, output string
	var timeout time.Duration
	cl := app.Command("discover", "Find Kasa and Tapo plugs on the local network by UDP broadcast (ports 9999 and 20002).")
	cl.Flag("timeout", "How long to wait for answers.").Default("3s").DurationVar(&timeout)
	cl.Flag("broadcast", "Where to send the probes: an address, or address:port to probe one port.").Default("255.255.255.255").StringVar(&broadcast)
	cl.Flag("output", "Output format: text or json.").Short('o').Default("text").EnumVar(&output, "text", "json")
	return command{clause: cl, run: func(ctx context.Context, logger *slog.Logger, stdout io.Writer) int {
		found, err := kasa.Discover(ctx, kasa.DiscoverOptions{Broadcast: broadcast, Timeout: timeout, Logger: logger})
		if err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("discovery failed", "err", err, "broadcast", broadcast)
			return 1
		}
		if output == "json" {
			if found == nil {
				found = []kasa.Discovered{}
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(found)
			return 0
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "HOST\tPORT\tMODEL\tALIAS\tPROTOCOL\tOUTLETS")
		for _, d := range found {
			alias, outlets := d.Alias, "-"
			if alias == "" {
				alias = "-"
			}
			if len(d.Outlets) > 1 {
				names := make([]string, len(d.Outlets))
				for i, o := range d.Outlets {
					names[i] = strconv.Quote(o.Alias)
				}
				outlets = strings.Join(names, ", ")
			} else if len(d.Outlets) == 1 {
				outlets = "1"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s/%s\t%s\n", d.Host, d.Port, d.Model, alias, d.Protocol, d.API, outlets)
		}
		tw.Flush()
		if len(found) == 0 {
			logger.Info("no plug answered; are they on this network segment, and does the firewall let UDP answers in?", "broadcast", broadcast)
		}
		return 0
	}}
}

// simConfig is the --config file of `restartinator simulate`.
type simConfig struct {
	Plugs []simPlug `yaml:"plugs"`
}

type simPlug struct {
	Model    string `yaml:"model"`
	From     string `yaml:"from"`
	Listen   string `yaml:"listen"`
	Protocol string `yaml:"protocol"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	Alias    string `yaml:"alias"`
}

func simulateCommand(app *kingpin.Application) command {
	var models, listens, protocols, froms []string
	var username, password, configFile string
	cl := app.Command("simulate", "Run simulated Kasa plugs on loopback, for tests and demos. Flags repeat, one value per plug, or use --config.")
	cl.Flag("model", "Built-in model: "+strings.Join(kasasim.Models(), ", ")+". Repeat for several plugs.").StringsVar(&models)
	cl.Flag("from", "A recorded device file (python-kasa fixture format) to behave as. Repeatable.").PlaceHolder("FILE").StringsVar(&froms)
	cl.Flag("listen", "Loopback address for each plug, in order (default 127.0.0.1:0).").StringsVar(&listens)
	cl.Flag("protocol", "xor or klap for each plug, in order (default: what the model speaks).").StringsVar(&protocols)
	cl.Flag("username", "KLAP account of the simulated plugs (default: the Kasa default account).").StringVar(&username)
	cl.Flag("password", "KLAP password of the simulated plugs.").StringVar(&password)
	cl.Flag("config", "YAML file listing plugs: {plugs: [{model, from, listen, protocol, username, password, alias}]}.").PlaceHolder("FILE").StringVar(&configFile)
	return command{clause: cl, run: func(ctx context.Context, logger *slog.Logger, stdout io.Writer) int {
		var specs []simPlug
		if configFile != "" {
			b, err := os.ReadFile(configFile)
			if err != nil {
				logger.Error("reading simulator config", "err", err)
				return 1
			}
			var c simConfig
			if err := yaml.UnmarshalStrict(b, &c); err != nil {
				logger.Error("simulator config "+configFile+" is invalid", "err", err)
				return 1
			}
			specs = c.Plugs
		}
		at := func(s []string, i int) string {
			if i < len(s) {
				return s[i]
			}
			return ""
		}
		for i := range max(len(models), len(froms)) {
			specs = append(specs, simPlug{Model: at(models, i), From: at(froms, i), Listen: at(listens, i),
				Protocol: at(protocols, i), Username: username, Password: password})
		}
		if len(specs) == 0 {
			logger.Error("nothing to simulate: give --model, --from or --config")
			return 2
		}
		var plugs []*kasasim.Plug
		defer func() {
			for _, p := range plugs {
				p.Close()
			}
		}()
		for _, s := range specs {
			p, err := kasasim.Start(kasasim.Options{Model: s.Model, From: s.From, Listen: s.Listen, Protocol: s.Protocol,
				Username: s.Username, Password: s.Password, Alias: s.Alias, Logger: logger})
			if err != nil {
				logger.Error("starting simulated plug failed", "model", s.Model, "from", s.From, "err", err)
				return 1
			}
			plugs = append(plugs, p)
			fmt.Fprintf(stdout, "simulating %s (%s/%s, %d outlets) on %s\n", p.Model(), p.Protocol(), p.API(), len(p.Outlets()), p.Addr())
		}
		<-ctx.Done()
		return 0
	}}
}
