// Package notify owns outgoing notifications: SMTP email, its templates and
// the delivery queue.
//
// # Delivery
//
// A Mailer implements event.Notifier. Notify only appends the event to the
// burst being gathered and returns; it never waits on the network, so a slow
// or dead mail server cannot hold up a probe or a power cycle. Run does the
// rest:
//
//   - Coalescing. The first event opens a window of coalesce_window (default
//     10s); every event that arrives before it closes goes into the same mail
//     ("3 devices are OFFLINE: A, B, C"). With a window of 0 events go out as
//     they come (those that arrive during a delivery attempt share the next
//     mail). A mail lists at most 100 events.
//   - Queue. Closed bursts wait in a queue of at most queue_size mails; when
//     it is full the oldest mail is dropped, logged and counted in
//     restartinator_notifications_dropped_total.
//   - Retries. One attempt sends up to 20 queued mails over one connection.
//     After a failed attempt the next comes after 5s, 10s, 20s ... at most
//     5m; the first success resets the backoff, and so does a reload. A mail
//     the server refuses for what it is (5xx after DATA) is dropped after 3
//     refusals; everything else (connection, TLS, login, sender, recipient)
//     is retried, since a reload may fix it. Each mail carries a fixed
//     Message-ID, so a mail client folds the rare duplicate left by a
//     connection lost between "250 OK" and our reading it.
//   - Persistence. The queue is saved through a Store (the state file)
//     whenever it changes, with any burst still being gathered, and restored
//     by New. A damaged blob is logged and ignored.
//   - Shutdown. Flush turns the open burst into a mail, tries to deliver
//     everything before its context ends, saves what is left and says how
//     much that is.
//
// # SMTP
//
// smtp_host is host or host:port. Without a port: 465 with use_ssl
// (implicit TLS), else 587 with STARTTLS as starttls says (opportunistic:
// when the server offers it; mandatory: fail when it does not; off: never).
// Port 25 is used only when smtp_host names it. With smtp_user set the login
// is PLAIN or LOGIN, whichever the server offers (SCRAM, NTLM or CRAM-MD5
// if it offers neither), and never over a connection without TLS except to
// loopback; without smtp_user there is no login. tls_config takes ca_file,
// server_name (default: the host) and insecure_skip_verify, which is off
// unless asked for. timeout bounds each connection.
//
// Failures come back as a *DeliveryError that reads as a sentence naming
// the server, what it did and what to check, for example
//
//	mail.example.com:587 refused the login for user alerts (535 5.7.8 Authentication failed) — check smtp_user and smtp_password
//
// The password never appears in an error or a log line.
//
// # Templates
//
// subject_template and body_template are Go text/template sources; empty
// means DefaultSubjectTemplate and DefaultBodyTemplate. ValidateTemplates,
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
//	                      gave_up, held, plug_unreachable, host_reset, notify
//	.Time                 when it happened (time.Time)
//	.Device               the device, if any
//	.State                the device's state after the event (up, failing,
//	                      cycling, booting, gave_up, held)
//	.ConsecutiveFailures  failed checks in a row
//	.CyclesInWindow       power cycles in the current cycle_window
//	.LastCycle            the last power cycle (time.Time; .IsZero if none)
//	.Trigger              auto, webhook, schedule, manual or file
//	.Plug, .Outlet        the plug and outlet that power the device
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
//
// Besides text/template's built-ins, templates may call join (strings.Join),
// upper, lower and title. A custom subject might be
//
//	[{{ .Hostname }}] {{ .Summary }}
//
// and a custom body
//
//	{{ range .Events }}{{ .Time.Format "15:04" }} {{ .Summary }}: {{ .Detail }}
//	{{ end }}{{ with .ExternalURL }}{{ . }}{{ end }}
//
// The rendered defaults for every kind are in testdata/*.golden.
//
// # Metrics
//
// Collector exports, with descriptors built once:
//
//	restartinator_notifications_total{channel="email",event}          mails delivered, once per kind they report
//	restartinator_notification_failures_total{channel="email",event}  failed delivery attempts
//	restartinator_notifications_dropped_total{channel="email",event}  mails given up on (queue full, refused for good)
//	restartinator_notification_queue_length{channel="email"}          mails waiting
//
// Every event kind starts at 0; the test mail counts as event="test".
//
// Package smtptest is a real SMTP server on loopback for tests of this and
// other packages.
package notify
