package main

import "github.com/alecthomas/kingpin/v2"

// notifyCommands registers its subcommands. (Filled in by its own work.)
func notifyCommands(app *kingpin.Application) []command { return nil }
