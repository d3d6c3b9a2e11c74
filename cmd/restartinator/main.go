// Command restartinator keeps hung devices alive: it probes them, power-cycles
// their smart plugs when they stop answering, and exports what it sees to
// Prometheus.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
)

// command is a subcommand: its kingpin clause and what runs when it is chosen.
// Each group of subcommands lives in a file of its own and is listed in run.
type command struct {
	clause *kingpin.CmdClause
	run    func(ctx context.Context, logger *slog.Logger, stdout io.Writer) int
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run parses the command line and runs what it names; it returns the exit
// code instead of exiting deep inside.
func run(args []string, stdout, stderr io.Writer) int {
	app := kingpin.New("restartinator", "Keeps hung devices alive: probes them, power-cycles their smart plugs, and exports what it sees to Prometheus.")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.HelpFlag.Short('h')
	app.Version(version.Print("restartinator"))

	opts := &serveOptions{}
	opts.web = kingpinflag.AddFlags(app, ":9788")
	app.Flag("config.file", "Configuration file: YAML, or a legacy Restartinator JSON or py-stability-iot INI.").
		Default("restartinator.yml").StringVar(&opts.configFile)
	app.Flag("config.check", "Validate the configuration, print a summary and exit 0 (valid) or 1.").BoolVar(&opts.check)
	app.Flag("demo", "Run the whole loop on loopback against built-in simulated plugs and devices; no hardware needed.").BoolVar(&opts.demo)
	app.Flag("web.allow-unauthenticated-actions", "Allow the action endpoints (webhook, manual cycle, reload) without authentication on non-loopback addresses.").
		BoolVar(&opts.allowUnauthenticated)
	app.Flag("web.max-connections", "Most HTTP connections open at once per listener; more wait in the kernel's queue. 0: the default; -1: no limit.").
		Default(strconv.Itoa(defaultMaxConnections)).IntVar(&opts.maxConnections)
	app.Flag("web.external-url", "The URL under which restartinator is reachable, for links in emails and the status page.").StringVar(&opts.externalURL)
	app.Flag("web.route-prefix", "Prefix for the HTTP routes, when served behind a reverse proxy. Defaults to the path of --web.external-url.").StringVar(&opts.routePrefix)
	logCfg := &promslog.Config{}
	promslogflag.AddFlags(app, logCfg)

	serve := app.Command("run", "Run the supervisor, exporter and actuator (the default).").Default()
	commands := []command{{clause: serve, run: opts.run}}
	commands = append(commands, configCommands(app, opts)...)
	commands = append(commands, kasaCommands(app)...)
	commands = append(commands, notifyCommands(app)...)
	commands = append(commands, hostResetCommands(app)...)

	chosen, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "restartinator: %v (try --help)\n", err)
		return 2
	}
	logCfg.Writer = stderr
	logger := promslog.New(logCfg)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, c := range commands {
		if c.clause.FullCommand() == chosen {
			return c.run(ctx, logger, stdout)
		}
	}
	fmt.Fprintf(stderr, "restartinator: no handler for command %q\n", chosen)
	return 2
}
