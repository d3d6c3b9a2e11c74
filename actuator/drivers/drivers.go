// Package drivers registers every plug type restartinator ships. Importing
// it is what makes the types known to the config, the service and the plug
// command; a new brand is its package and one line here.
package drivers

import (
	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/ipmi"
	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/redfish"
	"github.com/restartinator/restartinator/actuator/shelly"
	"github.com/restartinator/restartinator/actuator/snmppdu"
	"github.com/restartinator/restartinator/actuator/tasmota"
)

// All are the plug types, in the order --help and the README list them.
var All = []actuator.Driver{
	kasa.Driver,
	shelly.Driver,
	tasmota.Driver,
	snmppdu.Driver,
	redfish.Driver,
	ipmi.Driver,
}

func init() {
	for _, d := range All {
		actuator.Register(d)
	}
}
