// Package notify owns the delivery of outgoing notifications: one Pipeline
// per channel (queue, coalescing, retries, persistence, the shutdown flush),
// written once for every channel, and the template data every channel
// renders. Each channel is a small Sender in a package of its own
// (notify/email, ...) that renders a burst and makes one delivery attempt,
// saying per message whether a failure is worth retrying (Alertmanager's
// Notify(ctx, ...) (retry bool, err error)). Channels puts every channel's
// pipeline behind the one event.Notifier the program uses; package
// notify/channels builds them from the config.
//
// # Delivery
//
// A Pipeline implements event.Notifier. Notify only appends the event to the
// burst being gathered and returns; it never waits on the network, so a slow
// or dead server cannot hold up a probe, a power cycle or another channel
// (each channel's Run is a goroutine of its own). Run does the rest (the
// numbers are email's; each channel's are in its package):
//
//   - Coalescing. The first event opens a window of coalesce_window (default
//     10s); every event that arrives before it closes goes into the same mail
//     ("3 devices are OFFLINE: A, B, C"). With a window of 0 events go out as
//     they come (those that arrive during a delivery attempt share the next
//     mail). A mail lists at most 100 events.
//   - Queue. Closed bursts wait in a queue of at most queue_size mails; when
//     it is full the oldest mail is dropped, logged and counted in
//     restartinator_notifications_dropped_total.
//   - Retries. One attempt sends up to Settings.Batch queued messages (20
//     mails over one connection for email, one request elsewhere). After a
//     failed attempt the next comes after 5s, 10s, 20s ... at most 5m; the
//     first success resets the backoff, and so does a reload. A message the
//     sender says is not worth retrying is dropped after
//     Settings.MaxRejections refusals (3 for email's 5xx after DATA, 1 for a
//     webhook's 4xx); everything else is retried, since a reload may fix it.
//     Each mail carries a fixed Message-ID, so a mail client folds the rare
//     duplicate left by a connection lost between "250 OK" and our reading
//     it.
//   - Persistence. The queue is saved through a Store (the state file, under
//     the channel's name) whenever it changes, with any burst still being
//     gathered, and restored by NewPipeline. A damaged blob is logged and
//     ignored. The first version's mail_queue is the email channel's.
//   - Shutdown. Flush turns the open burst into a mail, tries to deliver
//     everything before its context ends, saves what is left and says how
//     much that is.
//
// # Templates
//
// Email's subject_template and body_template are Go text/template sources;
// empty means email.DefaultSubjectTemplate and email.DefaultBodyTemplate.
// email.ValidateTemplates,
// called when the config is loaded, parses both and executes them on sample
// data (one event of each kind, all of them together, the test mail, and an
// event with only a kind), so a template that does not parse or does not
// execute is a config error. The subject is folded to one line.
//
// Templates see a Data:
//
//	.Summary      the mail in a line: "Front Door Camera is OFFLINE",
//	              "3 devices are OFFLINE: A, B, C", "Camera: OFFLINE, then
//	              POWER CYCLING", "3 updates: A, B OFFLINE; C ONLINE"
//	.Event        the first event (an EventData); most mails carry one
//	.Events       every event in the mail, oldest first ([]EventData)
//	.Devices      the devices named, each once, in order ([]string)
//	.Hostname     the host restartinator runs on
//	.ExternalURL  the status page, from --web.external-url (may be empty)
//	.Time         when the mail was composed (time.Time)
//	.Test         true for "restartinator notify test"
//
// Each EventData has the fields of event.Event:
//
//	.Kind                 offline, cycle_started, recovered, cycle_failed,
//	                      gave_up, held, plug_unreachable, host_reset, notify,
//	                      channel_failing, channel_recovered
//	.Time                 when it happened (time.Time)
//	.Device               the device, if any
//	.State                the device's state after the event (up, failing,
//	                      cycling, booting, gave_up, held)
//	.ConsecutiveFailures  failed checks in a row
//	.CyclesInWindow       power cycles in the current cycle_window
//	.LastCycle            the last power cycle (time.Time; .IsZero if none)
//	.Trigger              auto, webhook, schedule, manual or file
//	.Plug, .Outlet        the plug and outlet that power the device
//	.Channel              the channel a channel_* event is about
//	.Reading              the plug's last reading, or nil: .RelayOn, .Watts,
//	                      .Volts, .Amperes, .WattHours, .Metered
//	.Detail               what happened, from the sender (an error, a probe
//	                      result)
//	.Next                 what happens next, from the sender (may be empty)
//	.Labels               the alert's labels for webhook events
//
// and the sentences the default body is made of:
//
//	.Status        the kind in capitals: OFFLINE, ONLINE, POWER CYCLING,
//	               POWER CYCLE FAILED, GAVE UP, POWER CYCLE HELD, PLUG
//	               UNREACHABLE, HOST RESET, ALERT
//	.Summary       "Front Door Camera is OFFLINE" (the seed's form),
//	               "... is ONLINE", "... is being POWER CYCLED", ...
//	.WhatHappened  what happened, in a sentence
//	.WhatWasDone   what restartinator did about it
//	.WhatNext      what happens next: .Next when the sender gave one,
//	               otherwise a default for the kind
//	.Then          what happens next in a few words, for small screens
//	               ("power cycle if it stays down"); .Next when given
//
// Besides text/template's built-ins, templates may call join (strings.Join),
// upper, lower, title, first N .Events and more N .Events (the events past
// the first N, for short lists), and trunc N s. A custom subject might be
//
//	[{{ .Hostname }}] {{ .Summary }}
//
// and a custom body
//
//	{{ range .Events }}{{ .Time.Format "15:04" }} {{ .Summary }}: {{ .Detail }}
//	{{ end }}{{ with .ExternalURL }}{{ . }}{{ end }}
//
// The rendered email defaults for every kind are in email/testdata/*.golden.
//
// Push, chat and webhook channels (notifications.channels) have a
// title_template and a message_template over the same data; empty means
// DefaultTitleTemplate and DefaultMessageTemplate, short for a phone's
// screen (a title under 200 characters, a message under 1000).
// ParseTextTemplates checks them on the sample data like the email
// templates.
//
// # A failing channel
//
// A channel whose attempts fail FailingAfter times in a row is news for the
// others: Channels.Tell hands them a channel_failing event (never to the
// channel itself), once per outage, and channel_recovered at its first
// delivery after that. Failing to deliver channel_* events alone does not
// count towards an outage, so when every channel is down each is reported
// to the others once. Outage does the same for a connection that is not a
// pipeline (the MQTT broker, after it has been unreachable for a while).
//
// # Metrics
//
// Collector exports, with descriptors built once:
//
//	restartinator_notifications_total{channel,event}          messages delivered, once per kind they report
//	restartinator_notification_failures_total{channel,event}  failed delivery attempts
//	restartinator_notifications_dropped_total{channel,event}  messages given up on (queue full, refused for good)
//	restartinator_notification_queue_length{channel}          messages waiting
//
// channel is the channel's name ("email" for email). Every event kind starts
// at 0; the test message counts as event="test".
//
// Package smtptest is a real SMTP server on loopback for tests of the email
// channel and other packages.
package notify
