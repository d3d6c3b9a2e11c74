package redfish

import (
	"errors"
	"fmt"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/config"
)

// Driver is the redfish plug type: a server's BMC.
var Driver = actuator.Driver{
	Name:      "redfish",
	Brand:     "Server BMCs with a Redfish service (iDRAC, iLO, XClarity, OpenBMC, Supermicro)",
	Models:    "one ComputerSystem per plug; its PowerState is the one outlet",
	Transport: "HTTPS (DMTF Redfish), session or basic auth, CA file or SHA-256 pinning",
	FlipBack:  "the BMC's own Reset PowerCycle, when the service lists it",
	Settings:  func() config.PlugSettings { return &Settings{} },
	New: func(c config.PlugConfig, env actuator.DriverEnv) (actuator.Plug, error) {
		s, _ := c.Settings.(*Settings)
		if s == nil {
			s = &Settings{}
		}
		cl, err := New(Config{Host: c.Host, Port: c.Port, Username: c.Username, Password: env.Password,
			Auth: s.Auth, System: s.System, CAFile: s.CAFile, FingerprintSHA256: s.FingerprintSHA256,
			InsecureSkipVerify: s.InsecureSkipVerify, Timeout: c.Timeout.D(), Logger: env.Logger})
		if err != nil {
			return nil, fmt.Errorf("plug %q: %w", c.Name, err)
		}
		return cl, nil
	},
}

// Settings are the keys only a redfish plug takes.
type Settings struct {
	// Auth is session (default) or basic.
	Auth string `yaml:"auth,omitempty"`
	// System is the ComputerSystem's Id when the BMC manages several.
	System string `yaml:"system,omitempty"`
	// CAFile, FingerprintSHA256 and InsecureSkipVerify say how the BMC's
	// certificate is checked (default: the system's roots).
	CAFile             string `yaml:"ca_file,omitempty"`
	FingerprintSHA256  string `yaml:"fingerprint_sha256,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty"`
}

// Check validates the keys.
func (s *Settings) Check() error {
	var errs []error
	switch s.Auth {
	case "", AuthSession, AuthBasic:
	default:
		errs = append(errs, config.KeyErrorf("auth", "auth %q: use session or basic", s.Auth))
	}
	if s.FingerprintSHA256 != "" {
		if _, err := ParseFingerprint(s.FingerprintSHA256); err != nil {
			errs = append(errs, &config.KeyError{Key: "fingerprint_sha256", Err: err})
		}
	}
	if s.InsecureSkipVerify && (s.CAFile != "" || s.FingerprintSHA256 != "") {
		errs = append(errs, config.KeyErrorf("insecure_skip_verify", "insecure_skip_verify with ca_file or fingerprint_sha256: choose one; pinning the fingerprint is the safe way to accept a self-signed certificate"))
	}
	if s.CAFile != "" && s.FingerprintSHA256 != "" {
		errs = append(errs, config.KeyErrorf("fingerprint_sha256", "ca_file and fingerprint_sha256: choose one (the pin replaces chain verification)"))
	}
	return errors.Join(errs...)
}
