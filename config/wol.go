package config

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// WakeOnLANConfig sends a Wake-on-LAN magic packet once a device's outlet
// has power again, for PCs and NAS boxes whose firmware stays off when AC
// returns.
type WakeOnLANConfig struct {
	MAC string `yaml:"mac"`
	// Broadcast is where the packet goes: an address, or address:port
	// (default port 9); default 255.255.255.255:9.
	Broadcast string `yaml:"broadcast,omitempty"`
	// Delay is the wait after power returns, for the network card to get
	// standby power (default 5s).
	Delay Duration `yaml:"delay,omitempty"`
}

// DefaultWakeOnLAN are the defaults of a wake_on_lan section.
var DefaultWakeOnLAN = WakeOnLANConfig{Broadcast: "255.255.255.255:9", Delay: Duration(5 * time.Second)}

func (w *WakeOnLANConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*w = DefaultWakeOnLAN
	type plain WakeOnLANConfig
	return unmarshal((*plain)(w))
}

// check validates the section and normalises broadcast to host:port.
func (w *WakeOnLANConfig) check() error {
	mac, err := net.ParseMAC(w.MAC)
	if err != nil || len(mac) != 6 {
		return fmt.Errorf("wake_on_lan.mac %q is not a MAC address like 00:11:22:33:44:55", w.MAC)
	}
	w.MAC = mac.String()
	if w.Broadcast == "" {
		w.Broadcast = DefaultWakeOnLAN.Broadcast
	}
	host, port, err := net.SplitHostPort(w.Broadcast)
	if err != nil {
		host, port = w.Broadcast, "9"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("wake_on_lan.broadcast %q has a bad port", w.Broadcast)
	}
	if net.ParseIP(host) == nil {
		return fmt.Errorf("wake_on_lan.broadcast %q must be an IP address (your LAN's broadcast address, e.g. 192.168.1.255)", w.Broadcast)
	}
	w.Broadcast = net.JoinHostPort(host, port)
	if w.Delay < 0 {
		return fmt.Errorf("wake_on_lan.delay must not be negative")
	}
	return nil
}
