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
	"strings"
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

func init() {
	// make build and the release stamp the version with -ldflags; a plain
	// go build or go run says it is a development build (with the revision
	// Go recorded, when it did).
	if version.Version == "" {
		version.Version = "dev"
	}
}

// cli is the command line: the kingpin application and its commands.
type cli struct {
	app      *kingpin.Application
	commands []command
	logCfg   *promslog.Config
	// terminated is the exit code of --help, --version or --help-man once
	// one of them ran, else -1: kingpin ends the program through Terminate,
	// and run returns the code instead, so tests can call it.
	terminated int
}

// newCLI builds the command line; version is what --version prints.
func newCLI(stdout, stderr io.Writer, version string) *cli {
	c := &cli{terminated: -1}
	app := kingpin.New("restartinator", "Keeps hung devices alive: probes them, power-cycles their smart plugs, and exports what it sees to Prometheus. "+
		"Without a command it runs the server: see \"restartinator run --help\" for its flags.")
	c.app = app
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.HelpFlag.Short('h')
	app.UsageFuncs(manPageFuncs)
	app.Terminate(func(code int) {
		if c.terminated < 0 {
			c.terminated = code
		}
	})
	app.Version(version)

	// Only the log flags are global: each subcommand's --help shows its own
	// flags and these, not the server's.
	c.logCfg = &promslog.Config{}
	promslogflag.AddFlags(app, c.logCfg)

	serve, opts := serveCommand(app)
	commands := []command{serve}
	commands = append(commands, configCommands(app, opts)...)
	commands = append(commands, plugCommands(app)...)
	commands = append(commands, notifyCommands(app)...)
	commands = append(commands, hostResetCommands(app)...)
	commands = append(commands, completionCommand(app))
	c.commands = commands
	return c
}

// run parses the command line and runs what it names; it returns the exit
// code instead of exiting deep inside.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && args[0] == "--completion-bash" && !strings.HasPrefix(args[1], "-") {
		// The shells pass the word being completed ("" or "pl"); as the
		// first word kingpin takes it for an argument of the default command
		// and offers nothing. Without it, it offers the commands, which the
		// shell then filters by that word.
		args = args[:1]
	}
	c := newCLI(stdout, stderr, version.Print("restartinator"))
	chosen, err := c.app.Parse(args)
	if c.terminated >= 0 {
		return c.terminated
	}
	if err != nil {
		fmt.Fprintf(stderr, "restartinator: %v (try --help)\n", err)
		return 2
	}
	logCfg := c.logCfg
	commands := c.commands
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

// serveCommand registers the default command, run, with the server's flags:
// they are its own, so `restartinator --web.listen-address=...` still
// selects it while `restartinator plug --help` does not list them.
func serveCommand(app *kingpin.Application) (command, *serveOptions) {
	opts := &serveOptions{}
	serve := app.Command("run", "Run the supervisor, exporter and actuator (the default command: its flags may be given without \"run\").").Default()
	opts.web = kingpinflag.AddFlags(serve, ":9788")
	serve.Flag("config.file", "Configuration file: YAML, or a legacy Restartinator JSON or py-stability-iot INI.").
		Default("restartinator.yml").StringVar(&opts.configFile)
	serve.Flag("config.check", "Validate the configuration, print a summary and exit 0 (valid) or 1.").BoolVar(&opts.check)
	serve.Flag("demo", "Run the whole loop on loopback against built-in simulated plugs and devices; no hardware needed.").BoolVar(&opts.demo)
	serve.Flag("demo.notify-url", "With --demo: send the demo's notifications to this URL: http(s):// posts restartinator's JSON webhook body, any other scheme is a shoutrrr service URL (ntfy://ntfy.sh/my-topic).").StringVar(&opts.demoNotifyURL)
	serve.Flag("web.allow-unauthenticated-actions", "Allow the action endpoints (webhook, manual cycle, reload) without authentication on non-loopback addresses.").
		BoolVar(&opts.allowUnauthenticated)
	serve.Flag("web.max-connections", "Most HTTP connections open at once per listener; more wait in the kernel's queue. 0: the default; -1: no limit.").
		Default(strconv.Itoa(defaultMaxConnections)).IntVar(&opts.maxConnections)
	serve.Flag("web.external-url", "The URL under which restartinator is reachable, for links in emails and the status page.").StringVar(&opts.externalURL)
	serve.Flag("metrics.device-state-enum", "Also expose restartinator_device_state as one series per device and state (0 or 1), seven per device, besides restartinator_device_state_code.").BoolVar(&opts.deviceStateEnum)
	serve.Flag("web.route-prefix", "Prefix for the HTTP routes, when served behind a reverse proxy. Defaults to the path of --web.external-url.").StringVar(&opts.routePrefix)
	return command{clause: serve, run: opts.run}, opts
}
