package snmppdu

import (
	"errors"
	"fmt"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/config"
)

// Driver is the snmp_pdu plug type.
var Driver = actuator.Driver{
	Name:      "snmp_pdu",
	Brand:     "APC switched rack PDUs (and others as table entries)",
	Models:    "APC rPDU AP79xx, rPDU2g AP7900B/AP89xx, MasterSwitch AP92xx/AP96xx; told apart by sysObjectID",
	Transport: "SNMP v1/v2c (community) or v3 (user, SHA/MD5/SHA-224/SHA-256, AES/DES) over UDP",
	FlipBack:  "the PDU's own reboot command (immediateReboot / outletReboot) with its reboot duration",
	Settings:  func() config.PlugSettings { return &Settings{} },
	New: func(c config.PlugConfig, env actuator.DriverEnv) (actuator.Plug, error) {
		s, _ := c.Settings.(*Settings)
		if s == nil {
			s = &Settings{}
		}
		priv, err := config.ReadSecret(string(s.PrivPassword), s.PrivPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("plug %q: priv_password_file: %w", c.Name, err)
		}
		community, err := config.ReadSecret(string(s.Community), s.CommunityFile)
		if err != nil {
			return nil, fmt.Errorf("plug %q: community_file: %w", c.Name, err)
		}
		cl, err := New(Config{Host: c.Host, Port: c.Port, Version: s.Version, Community: community,
			Username: c.Username, AuthPassword: env.Password, AuthProtocol: s.AuthProtocol,
			PrivProtocol: s.PrivProtocol, PrivPassword: priv, ContextName: s.ContextName, Timeout: c.Timeout.D(),
			RebootDuration: s.RebootDuration.D(), Logger: env.Logger})
		if err != nil {
			return nil, fmt.Errorf("plug %q: %w", c.Name, err)
		}
		return cl, nil
	},
}

// Settings are the keys only an snmp_pdu plug takes. The common username
// and password (or password_file) are the SNMPv3 user and its
// authentication password.
type Settings struct {
	// Version is 1, 2c (default) or 3.
	Version string `yaml:"version,omitempty"`
	// Community (or community_file) is the v1/v2c write community
	// (default private, as APC ships it).
	Community     commoncfg.Secret `yaml:"community,omitempty"`
	CommunityFile string           `yaml:"community_file,omitempty"`
	// AuthProtocol is SHA (default), MD5, SHA-224 or SHA-256; PrivProtocol
	// AES (default) or
	// DES, used when priv_password is given.
	AuthProtocol     string           `yaml:"auth_protocol,omitempty"`
	PrivProtocol     string           `yaml:"priv_protocol,omitempty"`
	PrivPassword     commoncfg.Secret `yaml:"priv_password,omitempty"`
	PrivPasswordFile string           `yaml:"priv_password_file,omitempty"`
	// ContextName is the SNMPv3 context name (APC PDUs use none).
	ContextName string `yaml:"context_name,omitempty"`
	// RebootDuration, when set, is written to the outlet's reboot duration
	// before a power cycle; otherwise the PDU's own is used and reported.
	RebootDuration config.Duration `yaml:"reboot_duration,omitempty"`
}

// Check validates the keys.
func (s *Settings) Check() error {
	var errs []error
	switch s.Version {
	case "":
		s.Version = V2c
	case "1", "2c", "3":
	case "2", "2C", "v2c":
		errs = append(errs, config.KeyErrorf("version", "version %q: write 2c", s.Version))
	default:
		errs = append(errs, config.KeyErrorf("version", "version %q: use 1, 2c or 3", s.Version))
	}
	if s.Community != "" && s.CommunityFile != "" {
		errs = append(errs, config.KeyErrorf("community_file", "community and community_file: give one"))
	}
	if s.PrivPassword != "" && s.PrivPasswordFile != "" {
		errs = append(errs, config.KeyErrorf("priv_password_file", "priv_password and priv_password_file: give one"))
	}
	if s.Version == V3 && (s.Community != "" || s.CommunityFile != "") {
		errs = append(errs, config.KeyErrorf(map[bool]string{true: "community", false: "community_file"}[s.Community != ""],
			"community is for version 1 and 2c; version 3 uses username and password"))
	}
	if s.Version != V3 {
		// The first v3-only key given.
		for _, k := range []struct {
			key string
			set bool
		}{
			{"auth_protocol", s.AuthProtocol != ""}, {"priv_protocol", s.PrivProtocol != ""}, {"priv_password", s.PrivPassword != ""},
			{"priv_password_file", s.PrivPasswordFile != ""}, {"context_name", s.ContextName != ""},
		} {
			if k.set {
				errs = append(errs, config.KeyErrorf(k.key, "auth_protocol, priv_protocol, priv_password and context_name are for version 3"))
				break
			}
		}
	}
	if _, err := authProtocol(s.AuthProtocol); err != nil {
		errs = append(errs, config.KeyErrorf("auth_protocol", "%s", strings.TrimPrefix(err.Error(), "snmp_pdu: ")))
	}
	if _, err := privProtocol(s.PrivProtocol); err != nil {
		errs = append(errs, config.KeyErrorf("priv_protocol", "%s", strings.TrimPrefix(err.Error(), "snmp_pdu: ")))
	}
	if d := s.RebootDuration.D(); d != 0 && (d < time.Second || d > time.Hour || d%time.Second != 0) {
		errs = append(errs, config.KeyErrorf("reboot_duration", "reboot_duration %s: whole seconds from 1s (APC PDUs take 5s to 60s)", d))
	}
	return errors.Join(errs...)
}
