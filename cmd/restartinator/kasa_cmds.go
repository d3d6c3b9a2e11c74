package main

import "github.com/alecthomas/kingpin/v2"

// kasaCommands registers plug, discover and simulate. (Filled in by the Kasa work.)
func kasaCommands(app *kingpin.Application) []command { return nil }
