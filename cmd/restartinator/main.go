// Command restartinator keeps hung devices alive: it probes them, power-cycles
// their smart plugs when they stop answering, and exports what it sees to
// Prometheus.
package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/alecthomas/kingpin/v2"
)

// command is a subcommand: its kingpin clause and what runs when it is chosen.
// Each group of subcommands lives in a file of its own and is listed in run.
type command struct {
	clause *kingpin.CmdClause
	run    func(ctx context.Context, logger *slog.Logger, stdout io.Writer) int
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
