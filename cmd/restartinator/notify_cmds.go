package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/notify"
)

// notifyCommands registers "notify test".
func notifyCommands(app *kingpin.Application) []command {
	nc := app.Command("notify", "Email notifications.")
	test := nc.Command("test", "Send one test email with the configured settings; exit 0 when the server took it, 1 with the server's answer when not.")
	// kingpin refuses a subcommand flag that repeats a global one, so use the
	// global --config.file when an app has one (restartinator's does not:
	// each command that reads the config has its own).
	var configFile func() string
	if f := app.GetFlag("config.file"); f != nil {
		configFile = func() string { return f.Model().Value.String() }
	} else {
		p := test.Flag("config.file", "Configuration file.").Default("restartinator.yml").String()
		configFile = func() string { return *p }
	}
	return []command{{clause: test, run: func(ctx context.Context, logger *slog.Logger, stdout io.Writer) int {
		return notifyTest(ctx, logger, stdout, configFile())
	}}}
}

// notifyTest sends the test mail and says what happened in a sentence.
func notifyTest(ctx context.Context, logger *slog.Logger, stdout io.Writer, file string) int {
	c, err := config.LoadFile(file)
	if err != nil {
		fmt.Fprintf(stdout, "could not send: %v\n", err)
		return 1
	}
	e := c.Notifications.Email
	if e == nil {
		fmt.Fprintf(stdout, "could not send: %s has no notifications.email section — add smtp_host, email_from and email_to\n", file)
		return 1
	}
	m, err := notify.New(e, notify.Options{Logger: logger})
	if err != nil {
		fmt.Fprintf(stdout, "could not send: %v\n", err)
		return 1
	}
	if err := m.SendTest(ctx); err != nil {
		fmt.Fprintf(stdout, "could not send: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "sent a test email to %s via %s\n", strings.Join(e.EmailTo, ", "), m.Addr())
	return 0
}
