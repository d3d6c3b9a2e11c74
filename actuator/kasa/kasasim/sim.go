// Package kasasim simulates Kasa and Tapo plugs and strips on loopback, over
// the XOR, KLAP or AES securePassthrough transport with the IOT or SMART API, for tests, the demo
// mode and `restartinator simulate`. Relays really switch, countdown rules
// really fire (on an injectable clock), energy readings follow the relay, and
// faults can be injected. It also answers UDP discovery on its port.
package kasasim

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/restartinator/restartinator/actuator/kasa/internal/wire"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/simserve"
)

// Options describes one simulated plug.
type Options struct {
	// Model is a built-in model (see Models), unless From is set.
	Model string
	// From is a recorded device file in python-kasa's fixture format; the
	// plug then answers as that device.
	From string
	// Listen is a loopback host:port; default "127.0.0.1:0". UDP discovery
	// is answered on the same port.
	Listen string
	// Protocol is "xor", "klap" or "aes"; default is what the model (or the
	// recording's discovery answer) speaks.
	Protocol string
	// Username and Password are the KLAP or AES account; default the Kasa
	// default account (KLAP) or the Tapo one (AES), as on a plug never bound
	// to the cloud.
	Username, Password string
	// KLAPVersion is the auth-hash version, 1 or 2; default by model.
	KLAPVersion int
	// LoginVersion is the AES login_device form, 1 or 2; default from the
	// recording's discovery answer ("lv"), else 2.
	LoginVersion int
	// Alias renames the plug.
	Alias string
	// CloseAfterResponse makes the XOR server close each connection after
	// answering, as some firmware (and the npm simulator) does.
	CloseAfterResponse bool
	Clock              clock.Clock
	Logger             *slog.Logger
}

// Fault is a failure the plug shows until cleared with SetFault(NoFault).
type Fault = simserve.Fault

const (
	NoFault = simserve.NoFault
	// Refuse closes the listener and every connection: connection refused.
	Refuse = simserve.Refuse
	// Hang accepts and reads requests but never answers.
	Hang = simserve.Hang
	// Unreachable is as if the plug dropped off the network: no answers on
	// TCP or UDP. Its own timers still run, so an armed flip-back still fires.
	Unreachable = simserve.Unreachable
)

// Outlet is the state of one relay.
type Outlet struct {
	ID    string
	Alias string
	On    bool
	// Countdown: a countdown rule is armed on this outlet.
	Countdown bool
}

// Plug is a running simulated plug.
type Plug struct {
	opt      Options
	dev      *device
	protocol string
	klapVer  int
	authHash []byte
	loginVer int    // AES login_device form
	user     string // the account, for AES logins
	pass     string
	logger   *slog.Logger

	// tcp is the TCP side and the fault, under a lock of its own.
	tcp  *simserve.Server
	udp  net.PacketConn
	addr string
	port int
	wg   sync.WaitGroup

	mu          sync.Mutex // counters, injections, sessions; the relays are dev.mu's
	handshakes  int
	refuse      map[string]bool
	inject      map[string]*injection
	sessions    map[string]*klapSession
	aesSessions map[string]*aesSession
	closed      bool
}

// Start starts a simulated plug.
func Start(opt Options) (*Plug, error) {
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Listen == "" {
		opt.Listen = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(opt.Listen)
	if err != nil {
		return nil, fmt.Errorf("simulator listen address %q: %w", opt.Listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("simulator listen address %q: only loopback addresses are allowed", opt.Listen)
	}
	var rec recording
	var defProto string
	var defVer, defLogin int
	if opt.From != "" {
		rec, err = loadRecordingFile(opt.From)
		if err != nil {
			return nil, err
		}
		defProto, defVer, defLogin = recordedProtocol(rec)
	} else {
		m, ok := lookupModel(opt.Model)
		if !ok {
			return nil, fmt.Errorf("unknown simulated model %q (have %s, or use a device file)", opt.Model, strings.Join(Models(), ", "))
		}
		rec, defProto, defVer = m.recording(), m.protocol, m.klapVersion
	}
	dev, err := newDevice(rec, opt.Clock)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opt.From, err)
	}
	if opt.Alias != "" {
		dev.alias = opt.Alias
		if !dev.strip {
			dev.outlets[0].alias = opt.Alias
		}
	}
	p := &Plug{
		opt: opt, dev: dev, protocol: defProto, klapVer: defVer, logger: opt.Logger,
		refuse: map[string]bool{}, inject: map[string]*injection{},
		sessions: map[string]*klapSession{}, aesSessions: map[string]*aesSession{}, loginVer: defLogin,
	}
	switch opt.Protocol {
	case "":
	case "xor", "klap", "aes":
		p.protocol = opt.Protocol
	default:
		return nil, fmt.Errorf("unknown simulator protocol %q (want xor, klap or aes)", opt.Protocol)
	}
	if p.protocol == "xor" && dev.api == "smart" {
		return nil, fmt.Errorf("%s speaks the SMART API, which only runs over KLAP or AES", dev.model)
	}
	if p.protocol == "aes" && dev.api == "iot" {
		return nil, fmt.Errorf("%s speaks the IOT API, which never runs over AES", dev.model)
	}
	if opt.LoginVersion != 0 {
		if opt.LoginVersion != 1 && opt.LoginVersion != 2 {
			return nil, fmt.Errorf("AES login version %d (want 1 or 2)", opt.LoginVersion)
		}
		p.loginVer = opt.LoginVersion
	}
	if p.loginVer == 0 {
		p.loginVer = 2
	}
	if opt.KLAPVersion != 0 {
		p.klapVer = opt.KLAPVersion
	}
	if p.klapVer == 0 {
		p.klapVer = wire.KLAPv1
		if dev.api == "smart" {
			p.klapVer = wire.KLAPv2
		}
	}
	user, pass := opt.Username, opt.Password
	if user == "" && pass == "" {
		user, pass = "kasa@tp-link.net", "kasaSetup"
		if p.protocol == "aes" {
			user, pass = "test@tp-link.net", "test"
		}
	}
	p.user, p.pass = user, pass
	p.authHash = wire.AuthHash(p.klapVer, user, pass)

	// A port the kernel picks is free for TCP but may be taken for UDP (by
	// another test's discovery socket): pick again a few times.
	_, wantPort, _ := net.SplitHostPort(opt.Listen)
	var ln net.Listener
	for try := 1; ; try++ {
		if ln, err = net.Listen("tcp", opt.Listen); err != nil {
			return nil, fmt.Errorf("simulator: %w", err)
		}
		p.addr = ln.Addr().String()
		p.port = ln.Addr().(*net.TCPAddr).Port
		if p.udp, err = net.ListenPacket("udp", p.addr); err == nil {
			break
		}
		_ = ln.Close()
		if wantPort != "0" || try == 5 {
			return nil, fmt.Errorf("simulator UDP discovery on %s: %w", p.addr, err)
		}
	}
	p.tcp = p.newTCP()
	p.tcp.Start(ln)
	p.wg.Add(1)
	go p.serveUDP()
	p.logger.Info("simulated plug started", "model", dev.model, "protocol", p.protocol, "api", dev.api, "addr", p.addr)
	return p, nil
}

// recordedProtocol reads the transport a recorded device speaks from its
// discovery answer: KLAP or AES when it says so (with the login version,
// "lv", absent meaning 1), KLAP for other SMART devices, XOR for other IOT
// devices. It returns the protocol, the KLAP hash version and the AES login
// version.
func recordedProtocol(rec recording) (string, int, int) {
	var disc struct {
		Result *struct {
			Schm struct {
				Type string `json:"encrypt_type"`
				LV   int    `json:"lv"`
			} `json:"mgt_encrypt_schm"`
		} `json:"result"`
	}
	_ = json.Unmarshal(rec["discovery_result"], &disc)
	var typ string
	lv := 1
	if disc.Result != nil {
		typ = disc.Result.Schm.Type
		if disc.Result.Schm.LV != 0 {
			lv = disc.Result.Schm.LV
		}
	}
	_, smart := rec["get_device_info"]
	switch {
	case typ == "AES" && smart:
		return "aes", 0, lv
	case typ == "KLAP" && !smart && lv == 2:
		return "klap", wire.KLAPv2, 0
	case typ == "KLAP" && !smart:
		return "klap", wire.KLAPv1, 0
	case smart:
		return "klap", 0, 0
	}
	return "xor", 0, 0
}

// Addr is the host:port the plug listens on (TCP, and UDP for discovery).
func (p *Plug) Addr() string { return p.addr }

// Host and Port split Addr.
func (p *Plug) Host() string { h, _, _ := net.SplitHostPort(p.addr); return h }

func (p *Plug) Port() int { return p.port }

// Protocol is "xor", "klap" or "aes"; API is "iot" or "smart".
func (p *Plug) Protocol() string { return p.protocol }
func (p *Plug) API() string      { return p.dev.api }

// Model is the short model name, e.g. "HS300".
func (p *Plug) Model() string { return p.dev.model }

// Strip reports whether the plug has several outlets.
func (p *Plug) Strip() bool { return p.dev.strip }

// Outlets is the state of every relay.
func (p *Plug) Outlets() []Outlet {
	p.dev.mu.Lock()
	defer p.dev.mu.Unlock()
	out := make([]Outlet, len(p.dev.outlets))
	for i, o := range p.dev.outlets {
		out[i] = Outlet{ID: o.id, Alias: o.alias, On: o.on, Countdown: o.rule != nil}
	}
	return out
}

// On reports the relay of outlet i (0 on a single plug).
func (p *Plug) On(i int) bool { return p.Outlets()[i].On }

// SetOn switches outlet i directly, as the button on the plug would.
func (p *Plug) SetOn(i int, on bool) {
	p.dev.mu.Lock()
	defer p.dev.mu.Unlock()
	p.dev.setOn(p.dev.outlets[i], on)
}

// SetFault sets the failure the plug shows from now on.
func (p *Plug) SetFault(f Fault) {
	old := p.tcp.Fault()
	err := p.tcp.SetFault(f)
	if old != f {
		p.logger.Info("simulated fault", "addr", p.addr, "fault", f)
	}
	if err != nil {
		p.logger.Error("simulator could not listen again", "addr", p.addr, "err", err)
	}
}

// DropAfter lets n more requests through, then makes the plug Unreachable.
func (p *Plug) DropAfter(n int) { _ = p.tcp.DropAfter(n) }

// RefuseMethod makes the device answer method with an error code, as firmware
// that lacks it does; e.g. "count_down.add_rule" (IOT) or
// "add_countdown_rule" (SMART).
func (p *Plug) RefuseMethod(method string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse[method] = true
}

func (p *Plug) refused(method string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refuse[method]
}

type injection struct {
	code  int
	times int // answers left; <0: always
}

// FailMethod makes the device answer method with error code code for the
// next times calls (times < 0: until cleared with times 0). Method is
// "module.method" for IOT ("count_down.add_rule"), the method for SMART
// ("add_countdown_rule"). E.g. SMART 9999 (session timeout) twice, or an
// error code the client does not know.
func (p *Plug) FailMethod(method string, code, times int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if times == 0 {
		delete(p.inject, method)
		return
	}
	p.inject[method] = &injection{code: code, times: times}
}

// injected uses up one injected failure of method.
func (p *Plug) injected(method string) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := p.inject[method]
	if in == nil {
		return 0, false
	}
	if in.times > 0 {
		in.times--
		if in.times == 0 {
			delete(p.inject, method)
		}
	}
	return in.code, true
}

func (p *Plug) injectedIOT(method string, res *map[string]any) bool {
	code, ok := p.injected(method)
	if ok {
		*res = map[string]any{"err_code": code, "err_msg": "simulated failure"}
	}
	return ok
}

// ClearRuleOnSwitch makes a relay change asked for over the network clear
// that outlet's countdown rule, as some firmware is reported to do.
func (p *Plug) ClearRuleOnSwitch(clear bool) {
	p.dev.mu.Lock()
	defer p.dev.mu.Unlock()
	p.dev.clearRuleOnSwitch = clear
}

// Requests counts API requests answered or swallowed (XOR frames, KLAP
// requests; not handshakes or discovery).
func (p *Plug) Requests() int { return p.tcp.Requests() }

// Handshakes counts completed KLAP and AES handshakes.
func (p *Plug) Handshakes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.handshakes
}

// ExpireSessions forgets every KLAP and AES session, as a reboot does;
// clients must handshake again.
func (p *Plug) ExpireSessions() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sessions = map[string]*klapSession{}
	p.aesSessions = map[string]*aesSession{}
}

// LoginVersion is the AES login_device form the plug accepts.
func (p *Plug) LoginVersion() int { return p.loginVer }

func (p *Plug) handle(req []byte) []byte {
	if p.dev.api == "smart" {
		return p.handleSMART(req)
	}
	return p.handleIOT(req)
}

// Close stops the plug and its timers.
func (p *Plug) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.udp.Close()
	// Released first: a request swallowed after the fault changed waits
	// on it, and the TCP side waits for its handlers.
	close(p.dev.done)
	p.tcp.Close()
	p.wg.Wait()
	return nil
}
