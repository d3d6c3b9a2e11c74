// Package redfishsim is a simulated BMC Redfish service (DMTF DSP0266,
// ComputerSystem schema) over HTTPS on loopback: the service root, the
// Systems collection, one ComputerSystem with PowerState and Status, its
// #ComputerSystem.Reset action (inline AllowableValues or an ActionInfo),
// sessions (SessionService/Sessions, X-Auth-Token) and basic
// authentication, errors in the Base message registry's shape. PowerCycle
// keeps power off for CycleOff on the simulator's clock. It can serve a
// DMTF mockup's ComputerSystem (Options.From) instead of its own.
package redfishsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/simserve"
)

// Options configure a simulated BMC.
type Options struct {
	// Username and Password are the one account (default admin/password).
	Username, Password string
	// Listen is a loopback TCP address (default 127.0.0.1:0).
	Listen string
	// NoPowerCycle leaves PowerCycle out of the allowable ResetType values,
	// as many BMCs (and the DMTF mockups) do.
	NoPowerCycle bool
	// CycleOff is how long PowerCycle keeps power off (default 5s).
	CycleOff time.Duration
	// From is a DMTF mockup directory (index.json per resource, e.g.
	// public-rackmount1): its service root, Systems collection and first
	// ComputerSystem are served, with PowerState and Reset simulated.
	From   string
	Clock  clock.Clock
	Logger *slog.Logger
}

// Fault is a failure the BMC shows until cleared with SetFault(NoFault).
type Fault int

const (
	NoFault Fault = iota
	// RefuseReset answers every Reset with 400 and a ResourceInUse message.
	RefuseReset
)

// BMC is a running simulated Redfish service.
type BMC struct {
	opt  Options
	ln   net.Listener
	srv  *http.Server
	cert []byte // DER
	log  *slog.Logger

	mu       sync.Mutex
	root     map[string]any
	systems  map[string]any
	system   map[string]any
	sysPath  string
	infoPath string
	info     map[string]any
	power    string // On, Off
	pending  *powerChange
	sessions map[string]string // token -> session URI
	nextSess int
	fault    Fault
	resets   []string
}

type powerChange struct {
	at    time.Time
	state string
}

// Start serves until Close.
func Start(opt Options) (*BMC, error) {
	if opt.Username == "" {
		opt.Username = "admin"
	}
	if opt.Password == "" {
		opt.Password = "password"
	}
	if opt.Listen == "" {
		opt.Listen = "127.0.0.1:0"
	}
	if opt.CycleOff == 0 {
		opt.CycleOff = 5 * time.Second
	}
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if err := simserve.Loopback(opt.Listen); err != nil {
		return nil, fmt.Errorf("redfishsim: %w", err)
	}
	b := &BMC{opt: opt, log: opt.Logger, power: "On", sessions: map[string]string{}}
	if err := b.load(); err != nil {
		return nil, err
	}
	cert, err := selfSigned()
	if err != nil {
		return nil, err
	}
	b.cert = cert.Certificate[0]
	ln, err := net.Listen("tcp", opt.Listen)
	if err != nil {
		return nil, fmt.Errorf("redfishsim: %w", err)
	}
	b.ln = ln
	b.srv = &http.Server{Handler: b.handler(), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ErrorLog:  slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	go func() { _ = b.srv.ServeTLS(ln, "", "") }()
	return b, nil
}

// selfSigned makes a certificate for 127.0.0.1, ::1 and localhost, as a
// BMC ships one for itself.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "redfishsim BMC"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Addr is host:port; Host and Port split it.
func (b *BMC) Addr() string { return b.ln.Addr().String() }

// Host is the listening IP.
func (b *BMC) Host() string { h, _, _ := net.SplitHostPort(b.Addr()); return h }

// Port is the listening port.
func (b *BMC) Port() int { return b.ln.Addr().(*net.TCPAddr).Port }

// URL is the service's base URL.
func (b *BMC) URL() string { return "https://" + b.Addr() }

// CertPEM is the self-signed certificate, for a client's CA file.
func (b *BMC) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.cert})
}

// Fingerprint is the certificate's SHA-256, hex.
func (b *BMC) Fingerprint() string {
	s := sha256.Sum256(b.cert)
	return fmt.Sprintf("%x", s[:])
}

// Describe says what it is, for restartinator simulate.
func (b *BMC) Describe() string {
	return fmt.Sprintf("redfish (https, system %s, user %s, certificate SHA-256 %s)", b.sysPath, b.opt.Username, b.Fingerprint())
}

// Close stops it.
func (b *BMC) Close() error { return b.srv.Close() }

// SetFault makes the BMC fail until SetFault(NoFault).
func (b *BMC) SetFault(f Fault) {
	b.mu.Lock()
	b.fault = f
	b.mu.Unlock()
}

// PowerState is the system's power now.
func (b *BMC) PowerState() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.settleLocked()
	return b.power
}

// SetPowerState sets it, for tests.
func (b *BMC) SetPowerState(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.power, b.pending = s, nil
}

// Resets lists the ResetType values the BMC carried out, in order.
func (b *BMC) Resets() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.resets)
}

// Sessions counts open sessions.
func (b *BMC) Sessions() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sessions)
}

func (b *BMC) settleLocked() {
	if b.pending != nil && !b.opt.Clock.Now().Before(b.pending.at) {
		b.power, b.pending = b.pending.state, nil
	}
}

// load builds the resources, from a mockup or our own.
func (b *BMC) load() error {
	if b.opt.From != "" {
		return b.loadMockup(b.opt.From)
	}
	b.sysPath = "/redfish/v1/Systems/1"
	allow := []string{"On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "ForceOn", "PowerCycle", "Nmi"}
	if b.opt.NoPowerCycle {
		allow = slices.DeleteFunc(allow, func(s string) bool { return s == "PowerCycle" })
	}
	b.root = map[string]any{
		"@odata.type": "#ServiceRoot.v1_15_0.ServiceRoot", "@odata.id": "/redfish/v1/", "Id": "RootService",
		"Name": "Root Service", "RedfishVersion": "1.15.0", "UUID": "92384634-2938-2342-8820-489239905423",
		"Systems":        map[string]any{"@odata.id": "/redfish/v1/Systems"},
		"SessionService": map[string]any{"@odata.id": "/redfish/v1/SessionService"},
		"Links":          map[string]any{"Sessions": map[string]any{"@odata.id": "/redfish/v1/SessionService/Sessions"}},
	}
	b.systems = map[string]any{
		"@odata.type": "#ComputerSystemCollection.ComputerSystemCollection", "@odata.id": "/redfish/v1/Systems",
		"Name": "Computer System Collection", "Members@odata.count": 1,
		"Members": []any{map[string]any{"@odata.id": b.sysPath}},
	}
	b.system = map[string]any{
		"@odata.type": "#ComputerSystem.v1_20_0.ComputerSystem", "@odata.id": b.sysPath, "Id": "1",
		"Name": "sim-server", "SystemType": "Physical", "Manufacturer": "restartinator", "Model": "Simulated Server",
		"SerialNumber": "SIM0001", "PowerState": "On",
		"Status": map[string]any{"State": "Enabled", "Health": "OK"},
		"Actions": map[string]any{"#ComputerSystem.Reset": map[string]any{
			"target":                            b.sysPath + "/Actions/ComputerSystem.Reset",
			"ResetType@Redfish.AllowableValues": allow,
		}},
	}
	return nil
}

func readJSON(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// loadMockup reads a DMTF mockup: index.json, Systems/index.json and the
// first member's index.json (and its ActionInfo when it names one).
func (b *BMC) loadMockup(dir string) error {
	var err error
	if b.root, err = readJSON(filepath.Join(dir, "index.json")); err != nil {
		return fmt.Errorf("redfishsim: mockup service root: %w", err)
	}
	if b.systems, err = readJSON(filepath.Join(dir, "Systems", "index.json")); err != nil {
		return fmt.Errorf("redfishsim: mockup Systems: %w", err)
	}
	members, _ := b.systems["Members"].([]any)
	if len(members) == 0 {
		return errors.New("redfishsim: the mockup's Systems collection has no member")
	}
	m, _ := members[0].(map[string]any)
	b.sysPath, _ = m["@odata.id"].(string)
	rel, ok := strings.CutPrefix(b.sysPath, "/redfish/v1/")
	if !ok {
		return fmt.Errorf("redfishsim: system %q is not under /redfish/v1/", b.sysPath)
	}
	if b.system, err = readJSON(filepath.Join(dir, filepath.FromSlash(rel), "index.json")); err != nil {
		return fmt.Errorf("redfishsim: mockup system: %w", err)
	}
	if ps, _ := b.system["PowerState"].(string); ps != "" {
		b.power = ps
	}
	if ra := b.resetAction(); ra != nil {
		if ai, _ := ra["@Redfish.ActionInfo"].(string); ai != "" {
			rel, _ := strings.CutPrefix(ai, "/redfish/v1/")
			if b.info, err = readJSON(filepath.Join(dir, filepath.FromSlash(rel), "index.json")); err != nil {
				return fmt.Errorf("redfishsim: mockup ActionInfo: %w", err)
			}
			b.infoPath = ai
		}
	} else {
		return errors.New("redfishsim: the mockup's system has no #ComputerSystem.Reset action")
	}
	return nil
}

func (b *BMC) resetAction() map[string]any {
	acts, _ := b.system["Actions"].(map[string]any)
	ra, _ := acts["#ComputerSystem.Reset"].(map[string]any)
	return ra
}

// allowedLocked lists the ResetType values, inline or from the ActionInfo.
func (b *BMC) allowedLocked() []string {
	var raw []any
	if ra := b.resetAction(); ra != nil {
		raw, _ = ra["ResetType@Redfish.AllowableValues"].([]any)
		if v, ok := ra["ResetType@Redfish.AllowableValues"].([]string); ok {
			return v
		}
	}
	if raw == nil && b.info != nil {
		params, _ := b.info["Parameters"].([]any)
		for _, p := range params {
			pm, _ := p.(map[string]any)
			if pm["Name"] == "ResetType" {
				raw, _ = pm["AllowableValues"].([]any)
			}
		}
	}
	var out []string
	for _, v := range raw {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// SetHealth sets the system's Status.Health (OK, Warning, Critical).
func (b *BMC) SetHealth(h string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, _ := b.system["Status"].(map[string]any)
	st = maps.Clone(st)
	if st == nil {
		st = map[string]any{}
	}
	st["Health"] = h
	b.system = maps.Clone(b.system)
	b.system["Status"] = st
}
