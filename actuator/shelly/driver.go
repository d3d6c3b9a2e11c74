package shelly

import (
	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/config"
)

// Driver is the shelly plug type: its config keys and how a configured plug
// becomes a Client.
var Driver = actuator.Driver{
	Name:      "shelly",
	Brand:     "Shelly",
	Models:    "Gen1: Shelly 1, 1PM, Plug S, 2.5 (two outlets); Gen2+: Plus 1, Plus 1PM, Plus Plug S, Pro 4PM (four outlets), Gen3/Gen4",
	Transport: "HTTP: Gen1 REST with basic auth, Gen2+ JSON-RPC with SHA-256 digest auth",
	FlipBack:  "the relay's own timer, sent with the switch-off (Gen1 timer=S, Gen2 toggle_after)",
	Settings:  func() config.PlugSettings { return &Settings{} },
	New: func(c config.PlugConfig, env actuator.DriverEnv) (actuator.Plug, error) {
		s, _ := c.Settings.(*Settings)
		if s == nil {
			s = &Settings{}
		}
		return New(Config{Host: c.Host, Port: c.Port, Username: c.Username, Password: env.Password,
			Timeout: c.Timeout.D(), Generation: s.Generation})
	},
}

// Settings are the keys only a shelly plug takes.
type Settings struct {
	// Generation pins the API: 1 (Gen1 HTTP) or 2 (Gen2+ RPC); 0 or absent
	// asks GET /shelly.
	Generation int `yaml:"generation,omitempty"`
}

// Check accepts 0 (detect), 1, or 2 and up.
func (s *Settings) Check() error {
	if s.Generation < 0 || s.Generation > 9 {
		return config.KeyErrorf("generation", "generation must be 1 (Gen1 HTTP API) or 2 (Gen2+ RPC, also for Gen3 and Gen4), or left out to detect it")
	}
	return nil
}
