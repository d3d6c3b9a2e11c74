package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/notify"
	"github.com/restartinator/restartinator/notify/channels"
)

// notifyCommands registers "notify test".
func notifyCommands(app *kingpin.Application) []command {
	nc := app.Command("notify", "Notification channels.")
	test := nc.Command("test", "Send one test message to each configured channel (or the one --channel names) and say per channel whether it went out; exit 0 when all did, 1 when not.")
	channel := test.Flag("channel", "Test only this channel (its name under notifications.channels, or email).").String()
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
		return notifyTest(ctx, logger, stdout, configFile(), *channel)
	}}}
}

// notifyTest sends the test message on each channel and says per channel
// what happened in a sentence.
func notifyTest(ctx context.Context, logger *slog.Logger, stdout io.Writer, file, only string) int {
	c, err := config.LoadFile(file)
	if err != nil {
		fmt.Fprintf(stdout, "could not send: %v\n", err)
		return 1
	}
	built, err := channels.Build(&c.Notifications, channels.Options{Logger: logger})
	if err != nil {
		fmt.Fprintf(stdout, "could not send: %v\n", err)
		return 1
	}
	var names []string
	var todo []channels.Channel
	for _, ch := range built {
		names = append(names, ch.Name)
		if only == "" || ch.Name == only {
			todo = append(todo, ch)
		}
	}
	switch {
	case len(built) == 0:
		fmt.Fprintf(stdout, "could not send: %s has no notification channels — add notifications.email (smtp_host, email_from, email_to) or notifications.channels\n", file)
		return 1
	case len(todo) == 0:
		fmt.Fprintf(stdout, "could not send: %s has no channel %q; it has %s\n", file, only, joinQuoted(names))
		return 1
	}
	code := 0
	for _, ch := range todo {
		p := notify.NewPipeline(ch.Name, ch.Sender, ch.Settings, notify.Options{Logger: logger})
		if err := p.SendTest(ctx); err != nil {
			fmt.Fprintf(stdout, "%s: could not send: %v\n", ch.Name, err)
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "%s: sent %s\n", ch.Name, ch.Destination())
	}
	return code
}

func joinQuoted(names []string) string {
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%q", n)
	}
	return s
}
