package kasa

import (
	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/config"
)

// Driver is the kasa plug type. Its keys (protocol) are built into the
// config package, since both seed formats mean Kasa plugs.
var Driver = actuator.Driver{
	Name:      config.PlugKasa,
	Brand:     "TP-Link Kasa / Tapo",
	Models:    "Kasa plugs and strips (HS100, HS110, HS300, KP125M …), Tapo P100/P110",
	Transport: "XOR on TCP 9999, KLAP over HTTP, or AES securePassthrough over HTTP",
	FlipBack:  "count_down rule (act 1) / countdown rule",
	Settings:  func() config.PlugSettings { return &config.KasaSettings{Protocol: config.ProtocolAuto} },
	New:       newFromConfig,
}

func newFromConfig(c config.PlugConfig, env actuator.DriverEnv) (actuator.Plug, error) {
	var creds *Credentials
	if c.Username != "" || env.Password != "" {
		creds = &Credentials{Username: c.Username, Password: env.Password}
	}
	return New(Options{Host: c.Host, Port: c.Port, Protocol: c.Kasa().Protocol, Credentials: creds,
		Timeout: c.Timeout.D(), Name: c.Name, Clock: env.Clock, Logger: env.Logger})
}
