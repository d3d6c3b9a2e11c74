package notify

import (
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/event"
)

// Data is what every channel's templates see (email's subject_template and
// body_template, a channel's title_template and message_template). The
// fields are documented in the package comment (doc.go).
type Data struct {
	// Summary is one line: "Front Door Camera is OFFLINE", or for a burst
	// "3 devices are OFFLINE: A, B, C".
	Summary string
	// Event is the first event; most mails carry only one.
	Event EventData
	// Events is every event in this mail, oldest first.
	Events []EventData
	// Devices names each device the events are about once, in order.
	Devices []string
	// Hostname is the host restartinator runs on.
	Hostname string
	// ExternalURL is the status page (--web.external-url); may be empty.
	ExternalURL string
	// Time is when the mail was composed.
	Time time.Time
	// Test is true for the mail sent by "restartinator notify test".
	Test bool
}

// EventData is one event with the sentences the default templates use.
// event.Event is embedded, so .Device, .Kind, .Reading ... work directly.
type EventData struct {
	event.Event
	// Status is the kind in capitals: OFFLINE, ONLINE, POWER CYCLING, ...
	Status string
	// Summary is the event in a line: "Front Door Camera is OFFLINE".
	Summary string
	// WhatHappened, WhatWasDone and WhatNext are sentences; WhatNext is the
	// event's own Next when the sender gave one.
	WhatHappened string
	WhatWasDone  string
	WhatNext     string
	// Then is what happens next in a few words, for small screens: "power
	// cycle if it stays down"; the event's own Next when it has one.
	Then string
}

// Funcs are the helpers every channel's templates may use besides
// text/template's own: join, upper, lower, title, first, more, trunc.
var Funcs = template.FuncMap{
	// first n events, and how many more there are: for short lists.
	"first": func(n int, evs []EventData) []EventData { return evs[:min(n, len(evs))] },
	"more":  func(n int, evs []EventData) int { return max(0, len(evs)-n) },
	// trunc shortens s to n characters, ending in "…" when it cut.
	"trunc": func(n int, s string) string { return Truncate(s, n) },
	"join":  strings.Join,
	"upper": func(v any) string { return strings.ToUpper(fmt.Sprint(v)) },
	"lower": func(v any) string { return strings.ToLower(fmt.Sprint(v)) },
	"title": func(v any) string {
		s := fmt.Sprint(v)
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
}

// NewData builds the template data for events (at least one).
func NewData(events []event.Event, hostname, externalURL string, now time.Time, test bool) *Data {
	d := &Data{Hostname: hostname, ExternalURL: externalURL, Time: now, Test: test}
	seen := map[string]bool{}
	for _, e := range events {
		d.Events = append(d.Events, describe(e, hostname))
		if e.Device != "" && !seen[e.Device] {
			seen[e.Device] = true
			d.Devices = append(d.Devices, e.Device)
		}
	}
	if len(d.Events) > 0 {
		d.Event = d.Events[0]
	}
	d.Summary = summarize(d)
	return d
}

// status is each kind in capitals, as the seed wrote OFFLINE and ONLINE.
var status = map[event.Kind]string{
	event.Offline:          "OFFLINE",
	event.Recovered:        "ONLINE",
	event.CycleStarted:     "POWER CYCLING",
	event.CycleFailed:      "POWER CYCLE FAILED",
	event.GaveUp:           "GAVE UP",
	event.Held:             "POWER CYCLE HELD",
	event.PlugUnreachable:  "PLUG UNREACHABLE",
	event.HostReset:        "HOST RESET",
	event.Notify:           "ALERT",
	event.ChannelFailing:   "CHANNEL FAILING",
	event.ChannelRecovered: "CHANNEL WORKS AGAIN",
}

// describe fills in the sentences for one event.
func describe(e event.Event, hostname string) EventData {
	d := EventData{Event: e, Status: status[e.Kind]}
	if d.Status == "" {
		d.Status = strings.ToUpper(strings.ReplaceAll(string(e.Kind), "_", " "))
	}
	dev := e.Device
	if dev == "" {
		dev = "a device"
	}
	plug := "its plug"
	if e.Plug != "" {
		plug = "plug " + e.Plug
		if e.Outlet != "" {
			plug += " (outlet " + e.Outlet + ")"
		}
	}
	var next string
	switch e.Kind {
	case event.Offline:
		d.Summary = dev + " is OFFLINE"
		d.WhatHappened = "it stopped answering"
		if e.ConsecutiveFailures > 0 {
			d.WhatHappened += fmt.Sprintf(" (%d failed %s in a row)", e.ConsecutiveFailures, Plural(e.ConsecutiveFailures, "check", "checks"))
		}
		d.WhatHappened += "."
		d.WhatWasDone = "nothing yet."
		if e.Plug != "" {
			next = "restartinator keeps checking it and power-cycles " + plug + " if it stays down; you will get an email when it answers again."
		} else {
			next = "restartinator keeps checking it; you will get an email when it answers again."
		}
	case event.CycleStarted:
		d.Summary = dev + " is being POWER CYCLED"
		d.WhatHappened = "a power cycle started because " + triggerReason(e.Trigger) + "."
		d.WhatWasDone = "restartinator switched off " + plug + "; power comes back on after the cycle time (the plug is armed to switch itself back on)."
		next = "restartinator waits for it to boot and checks it again; you will get an email when it answers, or if the cycle does not help."
	case event.Recovered:
		d.Summary = dev + " is ONLINE"
		d.WhatHappened = "it answers again."
		if !e.LastCycle.IsZero() {
			d.WhatHappened = "it answers again after the power cycle at " + e.LastCycle.Format("15:04:05 MST") + "."
		}
		d.WhatWasDone = "nothing more: its failure count is reset."
		next = "restartinator goes back to its normal checks."
	case event.CycleFailed:
		d.Summary = dev + ": POWER CYCLE FAILED"
		d.WhatHappened = "the power cycle did not complete, or it did not bring the device back."
		d.WhatWasDone = "restartinator stopped this cycle"
		if e.CyclesInWindow > 0 {
			d.WhatWasDone += fmt.Sprintf(" (%d %s in the current window)", e.CyclesInWindow, Plural(e.CyclesInWindow, "cycle", "cycles"))
		}
		d.WhatWasDone += "."
		next = "restartinator keeps checking it and tries again after a backoff, up to max_cycles in the cycle window."
	case event.GaveUp:
		d.Summary = dev + " is still OFFLINE: GAVE UP power cycling"
		d.WhatHappened = "it is still down"
		if e.CyclesInWindow > 0 {
			d.WhatHappened += fmt.Sprintf(" after %d power %s in the cycle window", e.CyclesInWindow, Plural(e.CyclesInWindow, "cycle", "cycles"))
		}
		d.WhatHappened += "."
		d.WhatWasDone = "restartinator stopped power-cycling it, so a device that is really broken is not switched off and on forever."
		next = "nothing automatic until it answers again: please look at it. You will get an email when it comes back."
	case event.Held:
		d.Summary = dev + ": power cycle HELD"
		d.WhatHappened = "a power cycle was due, but it was held: dry run is on, or so much is failing at once that the network or this host is the more likely culprit."
		d.WhatWasDone = "nothing was switched."
		next = "restartinator keeps checking; the cycle goes ahead once the hold lifts."
	case event.PlugUnreachable:
		name := "its plug"
		if e.Plug != "" {
			name = "plug " + e.Plug
		}
		d.Summary = "Plug " + strings.TrimPrefix(name, "plug ") + " is UNREACHABLE"
		if e.Plug == "" {
			d.Summary = "Plug is UNREACHABLE"
		}
		if e.Device != "" {
			d.Summary = e.Device + ": " + d.Summary
		}
		d.WhatHappened = name + " did not answer."
		d.WhatWasDone = "nothing could be switched."
		next = "restartinator keeps trying it; check that the plug has power and is on the network."
	case event.HostReset:
		h := hostname
		if h == "" {
			h = "this host"
		}
		d.Summary = h + " is HARD-RESETTING itself"
		d.WhatHappened = "restartinator decided to hard-reset the host it runs on (" + h + ")"
		if e.Trigger != "" {
			d.WhatHappened += ", because " + triggerReason(e.Trigger)
		}
		d.WhatHappened += "."
		d.WhatWasDone = "the reset was started."
		next = "the host restarts, and restartinator with it."
	case event.Notify:
		alert := e.Labels["alertname"]
		switch {
		case alert != "" && e.Device != "":
			d.Summary = "Alert " + alert + " for " + e.Device
		case alert != "":
			d.Summary = "Alert " + alert
		case e.Device != "":
			d.Summary = "Alert for " + e.Device
		default:
			d.Summary = "Alert from Alertmanager"
		}
		d.WhatHappened = "an Alertmanager alert matched a route that only notifies."
		d.WhatWasDone = "nothing: this route does not act."
		next = "nothing automatic; see the alert in Alertmanager."
	case event.ChannelFailing:
		d.Summary = "Notification channel " + e.Channel + " is FAILING"
		d.WhatHappened = "restartinator cannot deliver notifications through the channel " + e.Channel + "."
		d.WhatWasDone = "its notifications stay queued and are retried with a backoff."
		next = "restartinator keeps retrying; you will hear here when " + e.Channel + " works again. Check its server, URL and credentials."
	case event.ChannelRecovered:
		d.Summary = "Notification channel " + e.Channel + " WORKS AGAIN"
		d.WhatHappened = "the channel " + e.Channel + " delivers again."
		d.WhatWasDone = "what it had queued goes out now."
		next = "nothing: back to normal."
	default:
		d.Summary = dev + " is " + d.Status
		d.WhatHappened = string(e.Kind) + "."
		d.WhatWasDone = "nothing."
	}
	d.WhatNext = next
	d.Then = then(e)
	if e.Next != "" {
		d.WhatNext, d.Then = e.Next, e.Next
	}
	return d
}

// then is what happens next in a few words, for push messages.
func then(e event.Event) string {
	switch e.Kind {
	case event.Offline:
		if e.Plug != "" {
			return "power cycle if it stays down"
		}
		return "keep checking"
	case event.CycleStarted:
		return "wait for it to boot, then check it"
	case event.Recovered:
		return "back to normal checks"
	case event.CycleFailed:
		return "try again after a backoff"
	case event.GaveUp:
		return "nothing automatic: please look at it"
	case event.Held:
		return "cycle when the hold lifts"
	case event.PlugUnreachable:
		return "check the plug's power and network"
	case event.HostReset:
		return "the host restarts"
	case event.Notify:
		return "see the alert in Alertmanager"
	case event.ChannelFailing:
		return "retrying; check the channel's server"
	case event.ChannelRecovered:
		return "back to normal"
	}
	return ""
}

func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func triggerReason(trigger string) string {
	switch trigger {
	case "auto", "":
		return "it stayed down"
	case "webhook":
		return "an Alertmanager alert asked for it"
	case "schedule":
		return "its scheduled reboot came due"
	case "manual":
		return "someone asked for it (API or status page)"
	case "file":
		return "a trigger file appeared"
	}
	return "of trigger " + trigger
}

// groupPhrase is how a burst of one kind reads after "3 devices ".
var groupPhrase = map[event.Kind]string{
	event.Offline:         "are OFFLINE",
	event.Recovered:       "are ONLINE",
	event.CycleStarted:    "are being POWER CYCLED",
	event.CycleFailed:     "FAILED to power cycle",
	event.GaveUp:          "are still OFFLINE: GAVE UP power cycling",
	event.Held:            "had power cycles HELD",
	event.PlugUnreachable: "have UNREACHABLE plugs",
}

// summarize is the mail in a line.
func summarize(d *Data) string {
	switch {
	case len(d.Events) == 0:
		return "no events"
	case len(d.Events) == 1:
		return d.Events[0].Summary
	}
	kinds := map[event.Kind]bool{}
	for _, e := range d.Events {
		kinds[e.Kind] = true
	}
	if len(kinds) == 1 {
		k := d.Events[0].Kind
		if p, ok := groupPhrase[k]; ok && len(d.Devices) > 1 {
			return fmt.Sprintf("%d devices %s: %s", len(d.Devices), p, list(d.Devices, 5))
		}
	}
	if len(d.Devices) == 1 {
		// One device, several steps: "Camera: OFFLINE, then POWER CYCLING".
		var steps []string
		for _, e := range d.Events {
			if len(steps) == 0 || steps[len(steps)-1] != e.Status {
				steps = append(steps, e.Status)
			}
		}
		return d.Devices[0] + ": " + strings.Join(steps, ", then ")
	}
	// Mixed: group by status in order of first appearance.
	var order []string
	names := map[string][]string{}
	for _, e := range d.Events {
		n := e.Device
		if n == "" {
			n = e.Summary
		}
		if _, ok := names[e.Status]; !ok {
			order = append(order, e.Status)
		}
		if !contains(names[e.Status], n) {
			names[e.Status] = append(names[e.Status], n)
		}
	}
	parts := make([]string, 0, len(order))
	for _, s := range order {
		parts = append(parts, list(names[s], 3)+" "+s)
	}
	return fmt.Sprintf("%d updates: %s", len(d.Events), strings.Join(parts, "; "))
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// list joins names, shortening a long list to "a, b and 4 more".
func list(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
}

// sampleEvents covers every kind with every field set, for validation and
// the test mail.
func sampleEvents(now time.Time) []event.Event {
	reading := &event.Reading{RelayOn: true, Watts: 4.2, Volts: 231, Amperes: 0.031, WattHours: 1234.5, Metered: true}
	base := event.Event{
		Time: now, Device: "Front Door Camera", State: "failing", ConsecutiveFailures: 3,
		CyclesInWindow: 1, LastCycle: now.Add(-2 * time.Hour), Trigger: "auto",
		Plug: "rack-strip", Outlet: "Camera", Reading: reading,
		Detail: "GET http://camera1/: connection refused",
		Labels: map[string]string{"alertname": "RestartinatorDeviceDown", "device": "Front Door Camera"},
	}
	var out []event.Event
	for _, k := range config.Events {
		e := base
		e.Kind = event.Kind(k)
		out = append(out, e)
	}
	return out
}

// SampleData is what templates are validated on: one event of each kind
// alone, all of them together, and a bare event with only a kind, so a
// template must cope with empty optional fields.
func SampleData() []*Data {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	evs := sampleEvents(now)
	var out []*Data
	for _, e := range evs {
		out = append(out, NewData([]event.Event{e}, "monitor", "http://monitor:9788/", now, false))
	}
	out = append(out,
		NewData(evs, "monitor", "http://monitor:9788/", now, false),
		NewData(evs[:1], "monitor", "", now, true),
		NewData([]event.Event{{Kind: event.Offline}}, "", "", now, false),
	)
	return out
}
