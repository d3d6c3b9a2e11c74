package tasmota

import (
	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/config"
)

// Driver is the tasmota plug type. It has no keys beyond the common ones:
// Power1…PowerN are found from Status 0.
var Driver = actuator.Driver{
	Name:      "tasmota",
	Brand:     "Tasmota",
	Models:    "any Tasmota-flashed plug or relay board, Power1…PowerN as outlets, metered ones with their energy",
	Transport: "HTTP GET /cm?cmnd=… with user/password when a web password is set",
	FlipBack:  "a Backlog Power OFF; Delay; Power ON sent as the switch-off",
	New: func(c config.PlugConfig, env actuator.DriverEnv) (actuator.Plug, error) {
		return New(Config{Host: c.Host, Port: c.Port, Username: c.Username, Password: env.Password, Timeout: c.Timeout.D()})
	},
}
