package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"go.yaml.in/yaml/v2"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/shelly"
	"github.com/restartinator/restartinator/config"
)

// plugFlags are the flags of `restartinator plug ...`.
type plugFlags struct {
	typ, host, outlet, protocol, username, passwordFile, output string
	port                                                        int
	offTime, timeout                                            time.Duration
	// settings are KEY=VALUE pairs of the type's own config keys.
	settings []string
}

// plugCommands registers plug (status|on|off|cycle) for every plug type,
// discover and simulate.
func plugCommands(app *kingpin.Application) []command {
	var cmds []command
	pf := &plugFlags{}
	types := actuator.DriverNames()
	plug := app.Command("plug", "Talk to one plug or strip of any type ("+strings.Join(types, ", ")+"): read it, switch an outlet, or power-cycle it safely.")
	plug.Flag("type", "Plug type: auto (ask as "+strings.Join(types, ", ")+" at once, keep the one that answers) or one of them.").Default("auto").EnumVar(&pf.typ, append([]string{"auto"}, types...)...)
	plug.Flag("host", "The plug's address.").Required().StringVar(&pf.host)
	plug.Flag("port", "TCP port (default: the type's; kasa 9999 for xor, 80 for klap and aes; shelly and tasmota 80).").IntVar(&pf.port)
	plug.Flag("outlet", "Strip outlet by alias, 0-based index or id; empty for a single plug.").StringVar(&pf.outlet)
	plug.Flag("protocol", "Kasa only: auto, xor (legacy, TCP 9999), klap (HTTP, firmware since 2023) or aes (HTTP securePassthrough: older Tapo and KP125M/EP25 firmware).").Default("auto").EnumVar(&pf.protocol, "auto", "xor", "klap", "aes")
	plug.Flag("username", "The plug's user: the TP-Link cloud account for Kasa KLAP and AES, the web login for Shelly (default admin) and Tasmota.").StringVar(&pf.username)
	plug.Flag("password-file", "File holding that user's password.").PlaceHolder("FILE").StringVar(&pf.passwordFile)
	plug.Flag("timeout", "Timeout for each request to the plug.").Default("5s").DurationVar(&pf.timeout)
	plug.Flag("setting", "One of the type's own config keys as KEY=VALUE, as in a plugs: entry (snmp_pdu community=private, version=3; redfish fingerprint_sha256=HEX, ca_file=FILE; ipmi cipher_suite=3, power_off=soft). Repeatable.").PlaceHolder("KEY=VALUE").StringsVar(&pf.settings)
	plug.Flag("output", "Output format: text or json.").Short('o').Default("text").EnumVar(&pf.output, "text", "json")

	status := plug.Command("status", "Show model, versions, relay state of each outlet and energy readings.")
	cmds = append(cmds, command{clause: status, run: func(ctx context.Context, logger *slog.Logger, stdout io.Writer) int {
		return pf.run(ctx, logger, "status", func(c actuator.Plug, st *actuator.Status) error { return pf.status(ctx, c, st, stdout) })
	}})
	for _, on := range []bool{true, false} {
		name := map[bool]string{true: "on", false: "off"}[on]
		cl := plug.Command(name, "Switch the outlet "+name+".")
		cmds = append(cmds, command{clause: cl, run: func(ctx context.Context, logger *slog.Logger, stdout io.Writer) int {
			return pf.run(ctx, logger, name, func(c actuator.Plug, _ *actuator.Status) error {
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
		return pf.run(ctx, logger, "cycle", func(c actuator.Plug, _ *actuator.Status) error { return pf.cycle(ctx, logger, c, stdout) })
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
// and exit code 1. With --type auto, fn also gets the status read while
// detecting, so status does not ask twice.
func (pf *plugFlags) run(ctx context.Context, logger *slog.Logger, what string, fn func(actuator.Plug, *actuator.Status) error) int {
	c, st, err := pf.client(ctx, logger)
	if err == nil {
		defer c.Close()
		err = fn(c, st)
	}
	if err != nil {
		logger.Error("plug "+what+" failed", "err", err)
		return 1
	}
	return 0
}

// config is the plug the flags describe, checked by its type as a config
// entry would be: a flag the type does not take is an error.
func (pf *plugFlags) config(typ string) (config.PlugConfig, error) {
	entry := map[string]any{"name": pf.host, "type": typ, "host": pf.host, "timeout": pf.timeout.String()}
	if pf.port != 0 {
		entry["port"] = pf.port
	}
	if pf.username != "" {
		entry["username"] = pf.username
	}
	if pf.protocol != "auto" || typ == config.PlugKasa {
		entry["protocol"] = pf.protocol
	}
	for _, kv := range pf.settings {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return config.PlugConfig{}, fmt.Errorf("--setting %q: write KEY=VALUE", kv)
		}
		if _, common := entry[k]; common || k == "name" || k == "type" || k == "host" {
			return config.PlugConfig{}, fmt.Errorf("--setting %s: use the plug command's own flag for it", k)
		}
		// Typed as YAML would type it: true, 15s, 3.
		var val any = v
		if err := yaml.Unmarshal([]byte(v), &val); err != nil || val == nil {
			val = v
		}
		entry[k] = val
	}
	pc, err := config.ParsePlug(entry)
	if err != nil {
		return pc, fmt.Errorf("--type %s: %w", typ, err)
	}
	return pc, nil
}

// client builds the plug's client. --type auto asks every type at once and
// keeps the first that answers a status read.
func (pf *plugFlags) client(ctx context.Context, logger *slog.Logger) (actuator.Plug, *actuator.Status, error) {
	env := actuator.DriverEnv{Logger: logger}
	if pf.passwordFile != "" {
		b, err := os.ReadFile(pf.passwordFile)
		if err != nil {
			return nil, nil, fmt.Errorf("reading --password-file: %w", err)
		}
		env.Password = strings.TrimRight(string(b), "\r\n")
	}
	if pf.typ != "auto" {
		pc, err := pf.config(pf.typ)
		if err != nil {
			return nil, nil, err
		}
		p, err := actuator.NewPlug(pc, env)
		return p, nil, err
	}
	// Every type is asked at once: a device answers only its own protocol,
	// and asking one after another would wait out a timeout wherever a
	// protocol gets no answer at all (Kasa XOR sent to an HTTP port).
	type answer struct {
		typ string
		p   actuator.Plug
		st  actuator.Status
		err error
	}
	dctx, cancel := context.WithTimeout(ctx, pf.timeout)
	defer cancel()
	var asked []string
	answers := make(chan answer)
	for _, typ := range actuator.DriverNames() {
		if pf.protocol != "auto" && typ != config.PlugKasa {
			continue // --protocol says Kasa
		}
		asked = append(asked, typ)
		go func() {
			a := answer{typ: typ}
			pc, err := pf.config(typ)
			if err == nil {
				a.p, err = actuator.NewPlug(pc, env)
			}
			if err == nil {
				a.st, err = a.p.Status(dctx)
			}
			a.err = err
			answers <- a
		}()
	}
	var found *answer
	errs := map[string]error{}
	for range asked {
		a := <-answers
		switch {
		case a.err == nil && found == nil:
			found = &a
			logger.Info("detected the plug type; give --type "+a.typ+" to skip detection", "host", pf.host, "type", a.typ, "model", a.st.Model)
			cancel() // the others need not wait
		case a.err == nil:
			a.p.Close()
		default:
			if a.p != nil {
				a.p.Close()
			}
			errs[a.typ] = a.err
		}
	}
	if found != nil {
		return found.p, &found.st, nil
	}
	var lines []string
	for _, typ := range asked {
		lines = append(lines, fmt.Sprintf("%s: %v", typ, errs[typ]))
	}
	return nil, nil, fmt.Errorf("no plug type answered at %s (give --type to say which it is):\n  %s", pf.host, strings.Join(lines, "\n  "))
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

// apiOf is the JSON API a plug speaks, for the drivers that have several.
func apiOf(c actuator.Plug) string {
	if a, ok := c.(interface{ API() string }); ok {
		return a.API()
	}
	return ""
}

func (pf *plugFlags) status(ctx context.Context, c actuator.Plug, known *actuator.Status, w io.Writer) error {
	var st actuator.Status
	if known != nil {
		st = *known
	} else {
		var err error
		if st, err = c.Status(ctx); err != nil {
			return err
		}
	}
	out := statusJSON{Host: pf.host, Model: st.Model, HWVersion: st.HWVersion, SWVersion: st.SWVersion, MAC: st.MAC,
		Alias: st.Alias, RSSI: st.RSSI, Protocol: st.Protocol, API: apiOf(c), Strip: st.Strip}
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
		pf.host, st.Model, st.HWVersion, st.SWVersion, st.Protocol, apiOf(c), st.Alias, st.MAC, st.RSSI)
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

func (pf *plugFlags) cycle(ctx context.Context, logger *slog.Logger, c actuator.Plug, w io.Writer) error {
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
	var broadcast, output, mdnsIface string
	var timeout time.Duration
	useMDNS := true
	cl := app.Command("discover", "Find Kasa and Tapo plugs by UDP broadcast (ports 9999 and 20002) and Shelly devices by mDNS (_shelly._tcp, _http._tcp). Tasmota has no discovery: give its address to plug --host.")
	cl.Flag("timeout", "How long to wait for answers.").Default("3s").DurationVar(&timeout)
	cl.Flag("broadcast", "Where to send the probes: an address, or address:port to probe one port.").Default("255.255.255.255").StringVar(&broadcast)
	cl.Flag("mdns", "Also ask mDNS for Shelly devices.").Default("true").BoolVar(&useMDNS)
	cl.Flag("mdns.interface", "Network interface for the mDNS query (default: the system's choice).").PlaceHolder("NAME").StringVar(&mdnsIface)
	cl.Flag("output", "Output format: text or json.").Short('o').Default("text").EnumVar(&output, "text", "json")
	return command{clause: cl, run: func(ctx context.Context, logger *slog.Logger, stdout io.Writer) int {
		var shellies []shelly.Found
		var mdnsErr error
		mdnsDone := make(chan struct{})
		go func() {
			defer close(mdnsDone)
			if !useMDNS {
				return
			}
			opt := shelly.MDNSOptions{Timeout: timeout}
			if mdnsIface != "" {
				if opt.Interface, mdnsErr = net.InterfaceByName(mdnsIface); mdnsErr != nil {
					return
				}
			}
			shellies, mdnsErr = shelly.DiscoverMDNS(ctx, opt)
		}()
		found, err := kasa.Discover(ctx, kasa.DiscoverOptions{Broadcast: broadcast, Timeout: timeout, Logger: logger})
		<-mdnsDone
		if mdnsErr != nil && !errors.Is(mdnsErr, context.Canceled) {
			logger.Warn("mDNS discovery of Shelly devices failed; Kasa results follow", "err", mdnsErr, "interface", mdnsIface)
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("discovery failed", "err", err, "broadcast", broadcast)
			return 1
		}
		if output == "json" {
			all := []any{}
			for _, d := range found {
				all = append(all, d)
			}
			for _, f := range shellies {
				all = append(all, struct {
					Type string `json:"type"`
					shelly.Found
				}{"shelly", f})
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(all)
			return 0
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "HOST\tPORT\tMODEL\tALIAS\tPROTOCOL\tLOGIN\tOUTLETS")
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
			proto, login := d.Protocol+"/"+d.API, "-"
			if !d.Supported {
				proto = strings.ToLower(d.Encryption) + " (unsupported)"
			}
			if d.LoginVersion != 0 {
				login = "v" + strconv.Itoa(d.LoginVersion)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", d.Host, d.Port, d.Model, alias, proto, login, outlets)
		}
		for _, f := range shellies {
			model := f.App
			if model == "" {
				model = "Shelly"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\tshelly/gen%d\t-\t-\n", f.Host, f.Port, model, f.Name, f.Generation)
		}
		tw.Flush()
		for _, d := range found {
			if !d.Supported {
				fmt.Fprintf(stdout, "%s (%s) %s.\n", d.Host, d.Model, d.Note)
			}
		}
		if len(found) == 0 && len(shellies) == 0 {
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
	Outlets  int    `yaml:"outlets"`
	// OffTime is how long the ipmi-bmc model's power cycle keeps power off.
	OffTime time.Duration `yaml:"off_time"`
}

func simulateCommand(app *kingpin.Application) command {
	var models, listens, protocols, froms []string
	var outlets []int
	var username, password, configFile string
	var offTime time.Duration
	cl := app.Command("simulate", "Run simulated plugs on loopback, for tests and demos. Flags repeat, one value per plug, or use --config.")
	cl.Flag("model", "Built-in model: "+strings.Join(simulatorModels(), ", ")+". Repeat for several plugs.").StringsVar(&models)
	cl.Flag("from", "Kasa: a recorded device file (python-kasa fixture format) to behave as. Repeatable.").PlaceHolder("FILE").StringsVar(&froms)
	cl.Flag("listen", "Loopback address for each plug, in order (default 127.0.0.1:0).").StringsVar(&listens)
	cl.Flag("protocol", "Kasa: xor, klap or aes for each plug, in order (default: what the model or recording speaks).").StringsVar(&protocols)
	cl.Flag("outlets", "Number of outlets for each plug, in order (default: the model's). Not for Kasa models.").IntsVar(&outlets)
	cl.Flag("username", "User of the simulated plugs (Kasa: the KLAP or AES account, default the Kasa default account for KLAP, the Tapo one for AES).").StringVar(&username)
	cl.Flag("password", "Password of the simulated plugs; for Shelly and Tasmota it turns authentication on; for apc-rpdu, with --username, it is the SNMPv3 user's auth (SHA) and priv (AES) passphrase.").StringVar(&password)
	cl.Flag("config", "YAML file listing plugs: {plugs: [{model, from, listen, protocol, outlets, username, password, alias, off_time}]}.").PlaceHolder("FILE").StringVar(&configFile)
	cl.Flag("off-time", "ipmi-bmc: how long the BMC's power cycle keeps power off (default 1s; Set Power Cycle Interval changes it).").DurationVar(&offTime)
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
			sp := simPlug{Model: at(models, i), From: at(froms, i), Listen: at(listens, i),
				Protocol: at(protocols, i), Username: username, Password: password, OffTime: offTime}
			if i < len(outlets) {
				sp.Outlets = outlets[i]
			}
			specs = append(specs, sp)
		}
		if len(specs) == 0 {
			logger.Error("nothing to simulate: give --model, --from or --config")
			return 2
		}
		var running []runningSim
		defer func() {
			for _, p := range running {
				_ = p.Close() // shutting down: nothing to do about a failure
			}
		}()
		for _, s := range specs {
			p, err := startSimulator(s, logger)
			if err != nil {
				logger.Error("starting simulated plug failed", "model", s.Model, "from", s.From, "err", err)
				return 1
			}
			running = append(running, p)
			fmt.Fprintf(stdout, "simulating %s on %s\n", p.Describe(), p.Addr())
		}
		<-ctx.Done()
		return 0
	}}
}
