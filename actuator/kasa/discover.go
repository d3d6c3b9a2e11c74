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
	// Ports, when set, are where both probes go instead (one host asked
	// on its configured port and the standard ones).
	Ports []int
	// First returns at the first answer: one host asked which transport it
	// speaks.
	First  bool
	Logger *slog.Logger
}

// Discovered is one device that answered discovery.
type Discovered struct {
	Host string `json:"host"`
	Port int    `json:"port"` // where to reach it with Protocol
	// Protocol is the transport to use: "xor", "klap" or "aes"; empty when
	// the device needs one we do not speak (Supported false, Note says).
	Protocol string `json:"protocol"`
	API      string `json:"api"` // "iot" or "smart"
	// Family is the API family the device announced ("IOT" or "SMART"),
	// Encryption its transport as it names it ("XOR", "KLAP", "AES", "TPAP"…).
	Family     string            `json:"family"`
	Encryption string            `json:"encryption"`
	HTTPS      bool              `json:"https"`
	Model      string            `json:"model"`
	Alias      string            `json:"alias,omitempty"` // XOR answers only; KLAP ones are anonymous
	MAC        string            `json:"mac,omitempty"`
	DeviceType string            `json:"device_type,omitempty"`
	Outlets    []actuator.Outlet `json:"outlets,omitempty"`
	// LoginVersion is the login version the device announced ("lv"): the
	// KLAP auth hash or the AES login_device form.
	LoginVersion int  `json:"login_version,omitempty"`
	Supported    bool `json:"supported"`
	// Note says, for an unsupported device, what it speaks instead.
	Note string `json:"note,omitempty"`
}

// DiscoveryPackets is how many times each probe is sent, spread over the
// timeout, as python-kasa does: UDP gets lost.
const DiscoveryPackets = 3

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
	xorPorts, tdpPorts := []int{DiscoveryPortXOR}, []int{DiscoveryPortTDP}
	if portStr != "" {
		p, err := strconv.Atoi(portStr)
		if err != nil {
			return nil, fmt.Errorf("discovery: bad port in %q", opt.Broadcast)
		}
		xorPorts, tdpPorts = []int{p}, []int{p}
	}
	if len(opt.Ports) > 0 {
		xorPorts, tdpPorts = opt.Ports, opt.Ports
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
	send := func() error {
		for _, port := range xorPorts {
			if _, err := conn.WriteToUDP(xorProbe, &net.UDPAddr{IP: ip, Port: port}); err != nil {
				return fmt.Errorf("discovery: sending to %s:%d: %w", ip, port, err)
			}
		}
		for _, port := range tdpPorts {
			if _, err := conn.WriteToUDP(probe, &net.UDPAddr{IP: ip, Port: port}); err != nil {
				return fmt.Errorf("discovery: sending to %s:%d: %w", ip, port, err)
			}
		}
		return nil
	}
	if err := send(); err != nil {
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(opt.Timeout))
	if ctx.Err() != nil {
		_ = conn.SetReadDeadline(time.Unix(1, 0))
	}
	// The other packets go out while we listen.
	resend := make(chan struct{})
	defer close(resend)
	go func() {
		for i := 1; i < DiscoveryPackets; i++ {
			select {
			case <-time.After(opt.Timeout / DiscoveryPackets):
				_ = send() // the first send worked; a later failure loses only a repeat
			case <-resend:
				return
			}
		}
	}()
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
		if opt.First {
			break
		}
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
		return parseTDP(payload, d)
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
	d.Family, d.Encryption, d.Supported = "IOT", "XOR", true
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

// tdpAnswer is the part of the port-20002 answer we read. Newer firmware
// leaves mgt_encrypt_schm.encrypt_type out and says it in encrypt_info and
// a list of encrypt_type versions (python-kasa's DiscoveryResult).
type tdpAnswer struct {
	Code   int `json:"error_code"`
	Result struct {
		Model      string `json:"device_model"`
		DeviceType string `json:"device_type"`
		MAC        string `json:"mac"`
		Schm       *struct {
			Type     string `json:"encrypt_type"`
			HTTPPort int    `json:"http_port"`
			LV       int    `json:"lv"`
			HTTPS    bool   `json:"is_support_https"`
		} `json:"mgt_encrypt_schm"`
		EncryptInfo *struct {
			SymSchm string `json:"sym_schm"`
		} `json:"encrypt_info"`
		EncryptType []string `json:"encrypt_type"`
	} `json:"result"`
}

// transports maps family.encryption[.HTTPS] to the transport we speak for
// it, as python-kasa's device_factory does; what is missing we do not.
var transports = map[string]string{
	"IOT.XOR": ProtocolXOR, "IOT.KLAP": ProtocolKLAP,
	"SMART.KLAP": ProtocolKLAP, "SMART.AES": ProtocolAES,
}

// parseTDP reads what a device said on port 20002: its family, encryption,
// login version and port, and whether we speak that.
func parseTDP(payload []byte, d Discovered) (Discovered, error) {
	var ans tdpAnswer
	if err := json.Unmarshal(payload, &ans); err != nil {
		return d, fmt.Errorf("bad TDP answer: %w", err)
	}
	r := ans.Result
	d.Model, d.DeviceType, d.MAC = r.Model, r.DeviceType, r.MAC
	d.Family, _, _ = strings.Cut(r.DeviceType, ".")
	d.API = strings.ToLower(d.Family)
	if d.API != "iot" && d.API != "smart" {
		d.API = ""
	}
	d.Port = PortKLAP
	if s := r.Schm; s != nil {
		d.Encryption, d.LoginVersion, d.HTTPS = s.Type, s.LV, s.HTTPS
		if s.HTTPPort != 0 {
			d.Port = s.HTTPPort
		}
	}
	if d.Encryption == "" && r.EncryptInfo != nil {
		d.Encryption = r.EncryptInfo.SymSchm
	}
	if d.LoginVersion == 0 {
		for _, v := range r.EncryptType {
			if n, err := strconv.Atoi(v); err == nil && n > d.LoginVersion {
				d.LoginVersion = n
			}
		}
	}
	key := d.Family + "." + d.Encryption
	if d.HTTPS {
		key += ".HTTPS"
	}
	d.Protocol, d.Supported = transports[key]
	if d.LoginVersion > 2 {
		// Login version 3 is TPAP's; we know versions 1 and 2 only.
		d.Protocol, d.Supported = "", false
	}
	switch {
	case d.Supported:
	case d.Encryption == "TPAP" || d.LoginVersion > 2:
		d.Note = "speaks TPAP, TP-Link's newest transport, which restartinator does not speak yet"
	case d.Encryption == "AES" && d.HTTPS:
		d.Note = "speaks SSL-AES (HTTPS, port 4433), the transport of Tapo cameras and hubs, which restartinator does not speak"
	case d.HTTPS:
		d.Note = fmt.Sprintf("speaks %s over HTTPS, which restartinator does not speak", d.Encryption)
	case d.Encryption == "":
		d.Note = "did not say its encryption; try it with protocol: auto"
	default:
		d.Note = fmt.Sprintf("speaks %s for the %s API, which restartinator does not speak", d.Encryption, d.Family)
	}
	return d, nil
}
