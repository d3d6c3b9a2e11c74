package shellysim

import (
	"slices"
	"strings"
)

// model is one simulated Shelly model: what /shelly says and what it has.
type model struct {
	gen     int
	typ     string // Gen1 "type", e.g. "SHSW-25"
	model   string // Gen2+ "model", e.g. "SPSW-104PE16EU"
	app     string // Gen2+ "app"
	name    string // Gen2+ default device name
	host    string // hostname / id prefix, e.g. "shellyplus1"
	outlets int
	metered bool
	// devVoltage: Gen1 devices (the 2.5) that report one mains voltage at
	// the top of /status rather than per meter.
	devVoltage bool
	mode       string // Gen1 2.5: "relay"
	fw         string
	ver        string // Gen2+
}

// models are the simulated models, named as in `restartinator simulate
// --model`. Identity strings are those of the recorded devices in
// ../shared/fixtures/shelly.
var models = map[string]model{
	"shelly1":     {gen: 1, typ: "SHSW-1", host: "shelly1", outlets: 1, fw: "20230913-112003/v1.14.0-gcb84623"},
	"shelly1pm":   {gen: 1, typ: "SHSW-PM", host: "shelly1pm", outlets: 1, metered: true, fw: "20230913-112003/v1.14.0-gcb84623"},
	"shellyplugs": {gen: 1, typ: "SHPLG-S", host: "shellyplug-s", outlets: 1, metered: true, fw: "20230913-113421/v1.14.0-gcb84623"},
	"shelly25":    {gen: 1, typ: "SHSW-25", host: "shellyswitch25", outlets: 2, metered: true, devVoltage: true, mode: "relay", fw: "20230913-112234/v1.14.0-gcb84623"},
	"shellyplus1": {gen: 2, model: "SNSW-001X16EU", app: "Plus1", name: "1 Plus", host: "shellyplus1", outlets: 1,
		fw: "20260311-095850/1.7.5-g9979d16", ver: "1.7.5"},
	"shellyplus1pm": {gen: 2, model: "SNSW-001P16EU", app: "Plus1PM", name: "1PM Plus", host: "shellyplus1pm", outlets: 1, metered: true,
		fw: "20260311-095850/1.7.5-g9979d16", ver: "1.7.5"},
	"shellyplusplugs": {gen: 2, model: "SNPL-00112EU", app: "PlusPlugS", name: "PlugS Plus", host: "shellyplusplugs", outlets: 1, metered: true,
		fw: "20260311-095859/1.7.5-g9979d16", ver: "1.7.5"},
	"shellypro4pm": {gen: 2, model: "SPSW-104PE16EU", app: "Pro4PM", name: "4PM Pro", host: "shellypro4pm", outlets: 4, metered: true,
		fw: "20260311-095905/1.7.5-g9979d16", ver: "1.7.5"},
}

// Models lists the simulated model names.
func Models() []string {
	var out []string
	for k := range models {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func lookupModel(name string) (model, bool) {
	m, ok := models[strings.ToLower(name)]
	return m, ok
}
