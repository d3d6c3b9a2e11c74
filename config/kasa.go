package config

import (
	"slices"
	"strings"
)

// The config knows Kasa built in: both seed formats and plug_host mean a
// Kasa plug, so every config loads without any driver linked in.
func init() {
	RegisterPlugType(PlugType{Name: PlugKasa, Settings: func() PlugSettings { return &KasaSettings{Protocol: ProtocolAuto} }, FlipBack: true})
}

// KasaProtocols are the values of a Kasa plug's protocol key.
var KasaProtocols = []string{ProtocolAuto, ProtocolXOR, ProtocolKLAP, ProtocolAES}

// KasaSettings are the keys only a Kasa plug takes.
type KasaSettings struct {
	Protocol string `yaml:"protocol"`
}

// Check normalises protocol and checks it is one the driver speaks.
func (k *KasaSettings) Check() error {
	k.Protocol = lower(k.Protocol)
	if k.Protocol == "" {
		k.Protocol = ProtocolAuto
	}
	if !slices.Contains(KasaProtocols, k.Protocol) {
		return KeyErrorf("protocol", "protocol %q is not one of %s", k.Protocol, strings.Join(KasaProtocols, ", "))
	}
	return nil
}

// Kasa returns a plug's Kasa keys, or the defaults when it has none.
func (p *PlugConfig) Kasa() KasaSettings {
	if k, ok := p.Settings.(*KasaSettings); ok && k != nil {
		return *k
	}
	return KasaSettings{Protocol: ProtocolAuto}
}
