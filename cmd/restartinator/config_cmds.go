package main

import (
	"go.yaml.in/yaml/v2"

	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/notify/channels"
	"github.com/restartinator/restartinator/notify/mqtt"
)

// configCommands registers "config convert".
func configCommands(app *kingpin.Application, opts *serveOptions) []command {
	cfg := app.Command("config", "Work with configuration files.")
	convert := cfg.Command("convert", "Print a legacy config (Restartinator JSON, py-stability-iot INI) as modern YAML. Secrets are kept: the output is a config file.")
	file := convert.Arg("file", "The config file to convert.").Required().ExistingFile()
	return []command{{clause: convert, run: func(ctx context.Context, logger *slog.Logger, stdout io.Writer) int {
		c, err := config.LoadFile(*file)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		out, err := c.Marshal(true)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "# Converted by restartinator from %s (%s).\n", *file, c.Format)
		stdout.Write(out)
		return 0
	}}}
}

// runCheck validates the config and prints a one-screen summary.
func (o *serveOptions) runCheck(stdout io.Writer, logger *slog.Logger) int {
	c, err := config.LoadFile(o.configFile)
	if err != nil {
		fmt.Fprintf(stdout, "FAILED: %v\n", err)
		return 1
	}
	if err := channels.Validate(&c.Notifications); err != nil {
		fmt.Fprintf(stdout, "FAILED: %s: %v\n", o.configFile, err)
		return 1
	}
	if m := c.MQTT; m != nil {
		if err := mqtt.Check(m, nil, nil, nil); err != nil {
			fmt.Fprintf(stdout, "FAILED: %s: %v\n", o.configFile, err)
			return 1
		}
	}
	fmt.Fprint(stdout, summary(o.configFile, c))
	// The file may be checked on another machine than the one it runs on:
	// what this host lacks is a warning here, an error at start-up.
	if err := checkHostDevices(c); err != nil {
		fmt.Fprintf(stdout, "\nWARNING on this host: %v (restartinator run refuses this config here unless global.dry_run)\n", err)
	}
	return 0
}

// summary describes a config in a few lines: what is watched, with what,
// and what may act.
func summary(file string, c *config.Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SUCCESS: %s is valid (%s)\n", file, c.Format)
	if c.Global.DryRun {
		b.WriteString("dry run: decisions are logged, power is never switched\n")
	}
	if c.Global.SingleRun {
		b.WriteString("single run: check once and exit\n")
	}
	fmt.Fprintf(&b, "\ndevices (%d):\n", len(c.Devices))
	for _, d := range c.Devices {
		target := d.Probe.Target
		if target == "" {
			target = config.RedactURL(d.Probe.URL)
		}
		if target == "" && d.Host != "" {
			target = d.Host
			if d.Port != 0 {
				target = fmt.Sprintf("%s:%d", d.Host, d.Port)
			}
		}
		plug := "-"
		if d.Plug != "" {
			plug = d.Plug
			if d.Outlet != "" {
				plug += "/" + d.Outlet
			}
		}
		s := d.Settings
		fmt.Fprintf(&b, "  %-20s %-5s %-28s mode=%-7s plug=%s every %s, cycle after %d failures (retry %s), off %s, boot %s",
			d.Name, d.Probe.Type, target, d.Mode, plug, s.CheckInterval, s.Retries, s.RetryInterval, s.CycleTime, s.BootTime)
		if d.Schedule != "" {
			fmt.Fprintf(&b, ", reboot at %q", d.Schedule)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nplugs (%d):\n", len(c.Plugs))
	for _, p := range c.Plugs {
		addr := p.Host
		if p.Port != 0 {
			addr = fmt.Sprintf("%s:%d", p.Host, p.Port)
		}
		fmt.Fprintf(&b, "  %-20s %s %s%s flip_back=%s\n", p.Name, p.Type, addr, settingsSummary(p.Settings), p.FlipBack)
	}
	b.WriteString("\nactions:\n")
	var actions []string
	if e := c.Notifications.Email; e != nil {
		actions = append(actions, fmt.Sprintf("email via %s to %s", e.SMTPHost, strings.Join(e.EmailTo, ", ")))
	}
	for _, ch := range c.Notifications.Channels {
		actions = append(actions, "notify channel "+ch.Name+" ("+channelKind(ch)+")")
	}
	for _, r := range c.Webhook.Routes {
		actions = append(actions, fmt.Sprintf("webhook {%s} -> %s", strings.Join(r.Matchers, ", "), r.Action))
	}
	for _, t := range c.Triggers.Files {
		a := t.Action
		if t.Device != "" {
			a += " " + t.Device
		}
		actions = append(actions, fmt.Sprintf("file %s (every %s) -> %s", t.Path, t.CheckInterval, a))
	}
	if h := c.HostReset; h != nil {
		m := h.Method
		switch h.Method {
		case config.ResetWatchdog:
			m = fmt.Sprintf("watchdog %s, timeout %s", h.Watchdog.Device, h.Watchdog.Timeout)
		case config.ResetRTC:
			m = fmt.Sprintf("rtcwake -d %s -m %s", h.RTC.Device, h.RTC.Mode)
		}
		if h.Fallback != "" {
			m += ", falling back to " + h.Fallback
		}
		actions = append(actions, "host reset by "+m)
	}
	if m := c.MQTT; m != nil {
		a := fmt.Sprintf("MQTT to %s under %s/", config.RedactURL(m.Broker), m.TopicPrefix)
		if m.Discovery {
			a += ", Home Assistant discovery under " + m.DiscoveryPrefix + "/"
		}
		if m.Commands {
			a += ", power-cycle commands ON (anyone who can publish to the broker can cycle plugs)"
		}
		actions = append(actions, a)
	}
	if len(actions) == 0 {
		actions = []string{"none beyond automatic cycles"}
	}
	sort.Strings(actions)
	for _, a := range actions {
		fmt.Fprintf(&b, "  %s\n", a)
	}
	return b.String()
}

// settingsSummary shows a plug type's own keys as " key=value", in the
// order the type declares them.
func settingsSummary(s config.PlugSettings) string {
	if s == nil {
		return ""
	}
	out, err := yaml.Marshal(s)
	var keys yaml.MapSlice
	if err != nil || yaml.Unmarshal(out, &keys) != nil {
		return ""
	}
	var b strings.Builder
	for _, kv := range keys {
		fmt.Fprintf(&b, " %v=%v", kv.Key, kv.Value)
	}
	return b.String()
}

// channelKind names a channel's kind without its secret URL: webhook, a
// shoutrrr service (ntfy), or "url_file".
func channelKind(ch config.ChannelConfig) string {
	switch {
	case ch.Webhook != nil:
		return "webhook"
	case ch.URLFile != "":
		return "URL from " + ch.URLFile
	}
	if scheme, _, ok := strings.Cut(string(ch.URL), "://"); ok && !strings.ContainsAny(scheme, "@:/?") {
		return scheme
	}
	return "url"
}
