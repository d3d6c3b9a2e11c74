package main

import (
	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/shelly"
)

// plugDrivers are the plug types restartinator can switch, one line each, in
// the order plug --type auto tries them. --help, config validation and the
// service all read this one list through the actuator registry.
var plugDrivers = []actuator.Driver{
	kasa.Driver,
	shelly.Driver,
}

func init() {
	for _, d := range plugDrivers {
		actuator.Register(d)
	}
}
