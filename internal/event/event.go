// Package event defines what the supervisor, the Cycler and the webhook tell
// the notifier, so none of them imports another to say it.
package event

import "time"

// Kind is what happened.
type Kind string

// The event kinds; config.Events lists the same names for the email filter.
const (
	Offline         Kind = "offline"          // a device stopped answering
	CycleStarted    Kind = "cycle_started"    // its outlet was switched off
	Recovered       Kind = "recovered"        // it answers again
	CycleFailed     Kind = "cycle_failed"     // switching failed, or the cycle did not help
	GaveUp          Kind = "gave_up"          // max_cycles reached in cycle_window
	Held            Kind = "held"             // the guard (or dry run) holds cycling
	PlugUnreachable Kind = "plug_unreachable" // the plug did not answer
	HostReset       Kind = "host_reset"       // this host is about to hard-reset
	Notify          Kind = "notify"           // a webhook route asked only to tell
	// A notification channel (or the MQTT connection) has been failing
	// for a while, and works again; told to the other channels only.
	ChannelFailing   Kind = "channel_failing"
	ChannelRecovered Kind = "channel_recovered"
)

// Reading is the last poll of a device's plug outlet.
type Reading struct {
	RelayOn   bool    `json:"relay_on"`
	Watts     float64 `json:"power_watts"`
	Volts     float64 `json:"voltage_volts"`
	Amperes   float64 `json:"current_amperes"`
	WattHours float64 `json:"energy_watt_hours"`
	Metered   bool    `json:"metered"`
}

// Event is one thing worth telling a person.
type Event struct {
	Kind   Kind      `json:"kind"`
	Time   time.Time `json:"time"`
	Device string    `json:"device,omitempty"`
	// State is the device's state after the event (up, failing, ...).
	State               string    `json:"state,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures,omitempty"`
	CyclesInWindow      int       `json:"cycles_in_window,omitempty"`
	LastCycle           time.Time `json:"last_cycle,omitempty"`
	Trigger             string    `json:"trigger,omitempty"` // auto, webhook, schedule, manual, file
	Plug                string    `json:"plug,omitempty"`
	// Channel is the notification channel a channel_* event is about.
	Channel string   `json:"channel,omitempty"`
	Outlet  string   `json:"outlet,omitempty"`
	Reading *Reading `json:"reading,omitempty"`
	// Detail says what happened in a sentence (an error, the probe result).
	Detail string `json:"detail,omitempty"`
	// Next says what happens next ("checking again every 5s", "giving up").
	Next string `json:"next,omitempty"`
	// Affected are the devices that depend on this one (depends_on): they
	// are blocked, not cycled, while it is down.
	Affected []string `json:"affected,omitempty"`
	// Labels are the alert's labels for events raised by the webhook.
	Labels map[string]string `json:"labels,omitempty"`
}

// Notifier takes events. Notify must not block: a slow mail server may never
// hold up a probe or a cycle.
type Notifier interface {
	Notify(Event)
}

// Discard drops every event.
type Discard struct{}

func (Discard) Notify(Event) {}
