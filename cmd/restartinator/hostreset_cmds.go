package main

import "github.com/alecthomas/kingpin/v2"

// hostResetCommands registers its subcommands. (Filled in by its own work.)
func hostResetCommands(app *kingpin.Application) []command { return nil }
