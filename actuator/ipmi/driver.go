package ipmi

import (
	"errors"
	"fmt"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/config"
)

// Driver is the ipmi plug type: a server's BMC over IPMI v2.0 lanplus.
var Driver = actuator.Driver{
	Name:      "ipmi",
	Brand:     "Server BMCs over IPMI v2.0 (iDRAC, iLO, Supermicro, ASRock Rack, OpenBMC, ipmi_sim)",
	Models:    "one chassis per plug; its power state is the one outlet",
	Transport: "IPMI v2.0 RMCP+ (lanplus) over UDP 623, cipher suite 17 or 3",
	FlipBack:  "the BMC's own chassis power cycle, with its power cycle interval set to the off time",
	Settings:  func() config.PlugSettings { return &Settings{} },
	New: func(c config.PlugConfig, env actuator.DriverEnv) (actuator.Plug, error) {
		s, _ := c.Settings.(*Settings)
		if s == nil {
			s = &Settings{}
		}
		var suites []int
		if s.CipherSuite != 0 {
			suites = []int{s.CipherSuite}
		}
		cl, err := New(Config{Host: c.Host, Port: c.Port, Username: c.Username, Password: env.Password,
			Privilege: s.Privilege, CipherSuites: suites, PowerOff: s.PowerOff, SoftOffTimeout: s.SoftOffTimeout.D(),
			Timeout: c.Timeout.D(), Clock: env.Clock, Logger: env.Logger})
		if err != nil {
			return nil, fmt.Errorf("plug %q: %w", c.Name, err)
		}
		return cl, nil
	},
}

// Settings are the keys only an ipmi plug takes. The common username and
// password (or password_file) are the BMC account; port defaults to 623.
type Settings struct {
	// Privilege is the session's privilege level: operator (default:
	// enough for chassis control), administrator, or user (status only:
	// for monitor-mode devices and the bmc probe).
	Privilege string `yaml:"privilege,omitempty"`
	// CipherSuite is the RMCP+ cipher suite: 17 (HMAC-SHA256), 3
	// (HMAC-SHA1), 8 or 12; unset tries 17, then 3.
	CipherSuite int `yaml:"cipher_suite,omitempty"`
	// PowerOff is how the server is switched off: hard (default; Chassis
	// Control power down, and cycles use the BMC's own power cycle) or soft
	// (ACPI shutdown, waiting for power off; cycles then switch off and on
	// through our safe cycle).
	PowerOff string `yaml:"power_off,omitempty"`
	// SoftOffTimeout bounds the wait for the OS after a soft off (default
	// 2m); past it the server is powered down hard.
	SoftOffTimeout config.Duration `yaml:"soft_off_timeout,omitempty"`
}

// Check validates the keys.
func (s *Settings) Check() error {
	var errs []error
	switch s.Privilege {
	case "":
		s.Privilege = PrivilegeOperator
	case PrivilegeUser, PrivilegeOperator, PrivilegeAdministrator:
	case "admin", "ADMINISTRATOR", "OPERATOR", "USER":
		errs = append(errs, config.KeyErrorf("privilege", "privilege %q: write user, operator or administrator in lower case", s.Privilege))
	default:
		errs = append(errs, config.KeyErrorf("privilege", "privilege %q: use user, operator or administrator", s.Privilege))
	}
	if s.CipherSuite != 0 {
		if err := checkCipherSuite(s.CipherSuite); err != nil {
			errs = append(errs, &config.KeyError{Key: "cipher_suite", Err: err})
		}
	}
	switch s.PowerOff {
	case "":
		s.PowerOff = PowerOffHard
	case PowerOffHard, PowerOffSoft:
	default:
		errs = append(errs, config.KeyErrorf("power_off", "power_off %q: use hard (power down at once) or soft (ACPI shutdown first)", s.PowerOff))
	}
	if d := s.SoftOffTimeout.D(); d != 0 {
		if s.PowerOff != PowerOffSoft {
			errs = append(errs, config.KeyErrorf("soft_off_timeout", "soft_off_timeout is for power_off: soft"))
		} else if d < 5*time.Second {
			errs = append(errs, config.KeyErrorf("soft_off_timeout", "soft_off_timeout %s: give an OS at least 5s to shut down", d))
		}
	}
	return errors.Join(errs...)
}
