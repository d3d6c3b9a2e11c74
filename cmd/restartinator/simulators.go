package main

import (
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"

	"github.com/restartinator/restartinator/actuator/ipmi/ipmisim"
	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/actuator/redfish/redfishsim"
	"github.com/restartinator/restartinator/actuator/shelly/shellysim"
	"github.com/restartinator/restartinator/actuator/snmppdu/pdusim"
	"github.com/restartinator/restartinator/actuator/tasmota/tasmotasim"
	"github.com/restartinator/restartinator/internal/simserve"
)

// runningSim is one simulated plug serving on loopback.
type runningSim interface {
	Addr() string
	// Describe says what it is: "MODEL (transport/api, N outlets)".
	Describe() string
	Close() error
}

// simulators are the simulator packages behind restartinator simulate, one
// line each: the models each offers and how to start one.
var simulators = []struct {
	models func() []string
	start  func(simPlug, *slog.Logger) (runningSim, error)
}{
	{shellysim.Models, startShellySimulator},
	{func() []string { return []string{"tasmota"} }, startTasmotaSimulator},
	{func() []string { return []string{"apc-rpdu"} }, startPDUSimulator},
	{func() []string { return []string{"redfish"} }, startRedfishSimulator},
	{func() []string { return []string{"ipmi-bmc"} }, startIPMISimulator},
	{kasasim.Models, startKasaSimulator}, // last: it also takes --from without a model
}

// simulatorModels lists every model restartinator simulate offers.
func simulatorModels() []string {
	var out []string
	for _, s := range simulators {
		out = append(out, s.models()...)
	}
	return out
}

// startSimulator starts the simulator whose package has the model.
func startSimulator(s simPlug, logger *slog.Logger) (runningSim, error) {
	if s.OffTime != 0 && !strings.EqualFold(s.Model, "ipmi-bmc") {
		return nil, fmt.Errorf("model %s: --off-time (off_time) is for the ipmi-bmc model", s.Model)
	}
	for _, sim := range simulators {
		if slices.ContainsFunc(sim.models(), func(m string) bool { return strings.EqualFold(m, s.Model) }) {
			return sim.start(s, logger)
		}
	}
	if s.From != "" && s.Model == "" {
		return startKasaSimulator(s, logger)
	}
	return nil, fmt.Errorf("no simulator has model %q (models: %s)", s.Model, strings.Join(simulatorModels(), ", "))
}

// listen opens a loopback listener for a simulator; an address that is
// not loopback is refused, since simulators are for tests and demos.
func listenLoopback(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := simserve.Loopback(addr); err != nil {
		return nil, fmt.Errorf("--%w", err)
	}
	return net.Listen("tcp", addr)
}

type kasaSim struct{ *kasasim.Plug }

func (k kasaSim) Describe() string {
	return fmt.Sprintf("%s (%s/%s, %d outlets)", k.Model(), k.Protocol(), k.API(), len(k.Outlets()))
}

func startKasaSimulator(s simPlug, logger *slog.Logger) (runningSim, error) {
	if s.Outlets != 0 {
		return nil, fmt.Errorf("model %s: a Kasa model has the outlets it has; leave out --outlets", s.Model)
	}
	p, err := kasasim.Start(kasasim.Options{Model: s.Model, From: s.From, Listen: s.Listen, Protocol: s.Protocol,
		Username: s.Username, Password: s.Password, Alias: s.Alias, Logger: logger})
	if err != nil {
		return nil, err
	}
	return kasaSim{p}, nil
}

type shellySim struct {
	*shellysim.Device
	model string
	ln    net.Listener
}

func (d shellySim) Addr() string { return d.ln.Addr().String() }

func (d shellySim) Describe() string {
	api := map[int]string{1: "http/gen1", 2: "http/rpc"}[d.Generation()]
	return fmt.Sprintf("%s (%s, %d outlets)", d.model, api, len(d.Outlets()))
}

func startShellySimulator(s simPlug, logger *slog.Logger) (runningSim, error) {
	if s.From != "" || s.Protocol != "" {
		return nil, fmt.Errorf("model %s: --from and --protocol are for Kasa models", s.Model)
	}
	d, err := shellysim.New(shellysim.Options{Model: strings.ToLower(s.Model), Outlets: s.Outlets, Username: s.Username, Password: s.Password})
	if err != nil {
		return nil, err
	}
	ln, err := listenLoopback(s.Listen)
	if err != nil {
		_ = d.Close() // the listen error is what matters
		return nil, err
	}
	go func() {
		if err := d.Serve(ln); err != nil {
			logger.Error("simulated Shelly stopped", "model", s.Model, "err", err)
		}
	}()
	return shellySim{Device: d, model: strings.ToLower(s.Model), ln: ln}, nil
}

type tasmotaSim struct {
	*tasmotasim.Device
	ln net.Listener
}

func (d tasmotaSim) Addr() string { return d.ln.Addr().String() }

func (d tasmotaSim) Describe() string {
	return fmt.Sprintf("tasmota (http/cm, %d outlets)", len(d.Outlets()))
}

// startTasmotaSimulator runs a Tasmota device, metered, with --outlets
// relays (default 1).
func startTasmotaSimulator(s simPlug, logger *slog.Logger) (runningSim, error) {
	if s.From != "" || s.Protocol != "" {
		return nil, fmt.Errorf("model %s: --from and --protocol are for Kasa models", s.Model)
	}
	d, err := tasmotasim.New(tasmotasim.Options{Outlets: s.Outlets, Username: s.Username, Password: s.Password, Metered: true})
	if err != nil {
		return nil, err
	}
	ln, err := listenLoopback(s.Listen)
	if err != nil {
		_ = d.Close() // the listen error is what matters
		return nil, err
	}
	go func() {
		if err := d.Serve(ln); err != nil {
			logger.Error("simulated Tasmota stopped", "err", err)
		}
	}()
	return tasmotaSim{Device: d, ln: ln}, nil
}

func startPDUSimulator(s simPlug, logger *slog.Logger) (runningSim, error) {
	if s.From != "" || s.Protocol != "" {
		return nil, fmt.Errorf("model %s: --from and --protocol are for Kasa models", s.Model)
	}
	// --username (and --password) add an SNMPv3 user: authPriv with
	// SHA and AES, the password both its auth and its priv passphrase;
	// noAuthNoPriv without a password.
	var users []pdusim.User
	if s.Username != "" {
		users = append(users, pdusim.User{Name: s.Username, AuthPassword: s.Password, PrivPassword: s.Password})
	} else if s.Password != "" {
		return nil, fmt.Errorf("model %s: --password is the SNMPv3 user's passphrase; give --username too", s.Model)
	}
	return pdusim.Start(pdusim.Options{Outlets: s.Outlets, Listen: s.Listen, Users: users, Logger: logger})
}

func startRedfishSimulator(s simPlug, logger *slog.Logger) (runningSim, error) {
	if s.Protocol != "" || s.Outlets != 0 {
		return nil, fmt.Errorf("model %s: a Redfish BMC has one system; leave out --protocol and --outlets", s.Model)
	}
	// --from names a DMTF mockup directory to serve.
	return redfishsim.Start(redfishsim.Options{Username: s.Username, Password: s.Password, Listen: s.Listen, From: s.From, Logger: logger})
}

// startIPMISimulator runs a BMC speaking IPMI v2.0 RMCP+ (lanplus) over
// UDP, the account --username/--password (default admin/password).
func startIPMISimulator(s simPlug, logger *slog.Logger) (runningSim, error) {
	if s.From != "" || s.Protocol != "" || s.Outlets != 0 {
		return nil, fmt.Errorf("model %s: a BMC switches its one server; leave out --from, --protocol and --outlets", s.Model)
	}
	return ipmisim.Start(ipmisim.Options{Listen: s.Listen, Username: s.Username, Password: s.Password, OffTime: s.OffTime, Logger: logger})
}
