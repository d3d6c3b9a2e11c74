package kasa

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/kasa/internal/wire"
)

// Discovery ports: legacy XOR devices answer get_sysinfo on 9999, KLAP-era
// devices the TDP probe on 20002.
const (
	DiscoveryPortXOR = 9999
	DiscoveryPortTDP = 20002
)

// DiscoverOptions configures Discover.
type DiscoverOptions struct {
	// Broadcast is where probes go: an address, or address:port to send both
	// probes to one port (a simulator). Default 255.255.255.255.
	Broadcast string
	// Timeout is how long to listen for answers (default 3s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// Discovered is one device that answered discovery.
type Discovered struct {
	Host       string            `json:"host"`
	Port       int               `json:"port"`     // where to reach it with Protocol
	Protocol   string            `json:"protocol"` // "xor" or "klap"
	API        string            `json:"api"`      // "iot" or "smart"
	Model      string            `json:"model"`
	Alias      string            `json:"alias,omitempty"` // XOR answers only; KLAP ones are anonymous
	MAC        string            `json:"mac,omitempty"`
	DeviceType string            `json:"device_type,omitempty"`
	Outlets    []actuator.Outlet `json:"outlets,omitempty"`
	// LoginVersion is the KLAP auth-hash version the device announced.
	LoginVersion int `json:"login_version,omitempty"`
}

var discoveryKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// tdpProbe builds the 20002 probe. It carries an RSA key the device could
// encrypt details with; the plain part of the answer is all we read.
func tdpProbe() ([]byte, error) {
	key, err := discoveryKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	payload, _ := json.Marshal(map[string]any{"params": map[string]string{"rsa_key": string(pemKey)}})
	var serial [4]byte
	rand.Read(serial[:])
	return wire.TDPQuery(payload, binary.BigEndian.Uint32(serial[:])), nil
}

// Discover broadcasts both probes and collects the answers until the timeout
// or ctx ends.
func Discover(ctx context.Context, opt DiscoverOptions) ([]Discovered, error) {
	if opt.Broadcast == "" {
		opt.Broadcast = "255.255.255.255"
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 3 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	host, portStr, err := net.SplitHostPort(opt.Broadcast)
	if err != nil {
		host, portStr = opt.Broadcast, ""
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil {
		return nil, fmt.Errorf("discovery: broadcast address %q is not an IPv4 address", opt.Broadcast)
	}
	xorPort, tdpPort := DiscoveryPortXOR, DiscoveryPortTDP
	if portStr != "" {
		p, err := strconv.Atoi(portStr)
		if err != nil {
			return nil, fmt.Errorf("discovery: bad port in %q", opt.Broadcast)
		}
		xorPort, tdpPort = p, p
	}
	local := &net.UDPAddr{IP: net.IPv4zero}
	if ip.IsLoopback() {
		local.IP = net.IPv4(127, 0, 0, 1)
	}
	conn, err := net.ListenUDP("udp4", local)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	// The probe's RSA key takes a while to make on a slow machine: the
	// listening time starts when the probes are out.
	probe, err := tdpProbe()
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	xorProbe := wire.XOREncrypt(nil, []byte(`{"system":{"get_sysinfo":{}}}`))
	if _, err := conn.WriteToUDP(xorProbe, &net.UDPAddr{IP: ip, Port: xorPort}); err != nil {
		return nil, fmt.Errorf("discovery: sending to %s:%d: %w", ip, xorPort, err)
	}
	if _, err := conn.WriteToUDP(probe, &net.UDPAddr{IP: ip, Port: tdpPort}); err != nil {
		return nil, fmt.Errorf("discovery: sending to %s:%d: %w", ip, tdpPort, err)
	}

	_ = conn.SetReadDeadline(time.Now().Add(opt.Timeout))
	if ctx.Err() != nil {
		_ = conn.SetReadDeadline(time.Unix(1, 0))
	}
	found := map[string]Discovered{}
	buf := make([]byte, 64<<10)
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			return nil, fmt.Errorf("discovery: %w", err)
		}
		d, err := parseDiscovery(buf[:n], from)
		if err != nil {
			opt.Logger.Debug("ignoring discovery answer", "from", from, "err", err)
			continue
		}
		key := d.Host + "/" + d.Protocol + "/" + strconv.Itoa(d.Port)
		found[key] = d
	}
	out := make([]Discovered, 0, len(found))
	for _, d := range found {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Host != out[j].Host {
			return out[i].Host < out[j].Host
		}
		return out[i].Port < out[j].Port
	})
	return out, ctx.Err()
}

func parseDiscovery(b []byte, from *net.UDPAddr) (Discovered, error) {
	d := Discovered{Host: from.IP.String()}
	if wire.IsTDP(b) {
		payload, _ := wire.TDPPayload(b)
		var ans struct {
			Code   int `json:"error_code"`
			Result struct {
				Model      string `json:"device_model"`
				DeviceType string `json:"device_type"`
				MAC        string `json:"mac"`
				IP         string `json:"ip"`
				Schm       struct {
					Type     string `json:"encrypt_type"`
					HTTPPort int    `json:"http_port"`
					LV       int    `json:"lv"`
				} `json:"mgt_encrypt_schm"`
			} `json:"result"`
		}
		if err := json.Unmarshal(payload, &ans); err != nil {
			return d, fmt.Errorf("bad TDP answer: %w", err)
		}
		r := ans.Result
		d.Model, d.DeviceType, d.MAC = r.Model, r.DeviceType, r.MAC
		d.Protocol, d.Port, d.LoginVersion = ProtocolKLAP, r.Schm.HTTPPort, r.Schm.LV
		if d.Port == 0 {
			d.Port = PortKLAP
		}
		if r.Schm.Type != "" && r.Schm.Type != "KLAP" {
			// AES "securePassthrough" firmware; we only speak KLAP.
			d.Protocol = strings.ToLower(r.Schm.Type)
		}
		d.API = "iot"
		if strings.HasPrefix(r.DeviceType, "SMART.") {
			d.API = "smart"
		}
		return d, nil
	}
	var ans struct {
		System struct {
			Sysinfo json.RawMessage `json:"get_sysinfo"`
		} `json:"system"`
	}
	if err := json.Unmarshal(wire.XORDecrypt(nil, b), &ans); err != nil || ans.System.Sysinfo == nil {
		return d, errors.New("neither a TDP nor an XOR sysinfo answer")
	}
	var si iotSysinfo
	if err := json.Unmarshal(ans.System.Sysinfo, &si); err != nil {
		return d, fmt.Errorf("bad sysinfo: %w", err)
	}
	d.Protocol, d.API, d.Port = ProtocolXOR, "iot", from.Port
	d.Model, d.Alias, d.MAC = si.Model, si.Alias, si.MAC
	d.DeviceType = si.Type
	if d.DeviceType == "" {
		d.DeviceType = si.MicType
	}
	if si.RelayState != nil || len(si.Children) > 0 {
		d.Outlets = si.status().Outlets
	}
	return d, nil
}
