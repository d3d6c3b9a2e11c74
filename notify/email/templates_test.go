package email

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/notify"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current templates")

var t0 = time.Date(2026, 3, 1, 14, 5, 9, 0, time.UTC)

// realistic is one event of each kind as the supervisor, Cycler and webhook
// would raise it.
func realistic() map[string]event.Event {
	cam := event.Event{
		Time: t0, Device: "Front Door Camera", Plug: "rack-strip", Outlet: "Camera",
		Reading: &event.Reading{RelayOn: true, Watts: 4.2, Volts: 231.4, Amperes: 0.031, Metered: true},
	}
	with := func(f func(e *event.Event)) event.Event {
		e := cam
		f(&e)
		return e
	}
	return map[string]event.Event{
		"offline": with(func(e *event.Event) {
			e.Kind, e.State, e.ConsecutiveFailures = event.Offline, "failing", 3
			e.Detail = "GET http://camera1/: dial tcp 192.168.1.20:80: connect: connection refused"
		}),
		"cycle_started": with(func(e *event.Event) {
			e.Kind, e.State, e.ConsecutiveFailures, e.CyclesInWindow, e.Trigger = event.CycleStarted, "cycling", 3, 1, "auto"
			e.LastCycle = t0
		}),
		"recovered": with(func(e *event.Event) {
			e.Kind, e.State, e.CyclesInWindow, e.LastCycle = event.Recovered, "up", 1, t0.Add(-6*time.Minute)
		}),
		"cycle_failed": with(func(e *event.Event) {
			e.Kind, e.State, e.CyclesInWindow, e.Trigger = event.CycleFailed, "failing", 2, "auto"
			e.LastCycle = t0.Add(-time.Minute)
			e.Detail = "plug rack-strip (192.168.1.50:9999): connection refused — is the plug on the network?"
			e.Next = "restartinator tries again in 10m."
		}),
		"gave_up": with(func(e *event.Event) {
			e.Kind, e.State, e.ConsecutiveFailures, e.CyclesInWindow = event.GaveUp, "gave_up", 40, 3
			e.LastCycle = t0.Add(-20 * time.Minute)
			e.Reading = &event.Reading{RelayOn: true, Watts: 0.4, Volts: 230.9, Amperes: 0.002, Metered: true}
		}),
		"held": with(func(e *event.Event) {
			e.Kind, e.State, e.ConsecutiveFailures, e.Trigger = event.Held, "held", 3, "auto"
			e.Detail = "no guard target answers (192.168.1.1:53): this host looks cut off, not the device"
		}),
		"plug_unreachable": {
			Kind: event.PlugUnreachable, Time: t0, Plug: "rack-strip",
			Detail: "plug rack-strip (192.168.1.50:9999): i/o timeout — is the plug on the network?",
		},
		"host_reset": {
			Kind: event.HostReset, Time: t0, Trigger: "file",
			Detail: "/tmp/pywatchdog-fault-indicator appeared; resetting through /dev/watchdog",
		},
		"notify": {
			Kind: event.Notify, Time: t0, Device: "Front Door Camera",
			Detail: "Front Door Camera has been down for 10 minutes.",
			Labels: map[string]string{"alertname": "RestartinatorDeviceDown", "device": "Front Door Camera", "severity": "critical"},
		},
		"channel_failing": {
			Kind: event.ChannelFailing, Time: t0, Channel: "ops-webhook",
			Detail: "POST https://hooks.example/restartinator: 500 Internal Server Error (3 attempts in a row)",
		},
		"channel_recovered": {Kind: event.ChannelRecovered, Time: t0, Channel: "ops-webhook"},
	}
}

func TestDefaultTemplatesGolden(t *testing.T) {
	evs := realistic()
	down := func(dev string, sec int) event.Event {
		e := evs["offline"]
		e.Device, e.Time, e.Plug, e.Outlet = dev, t0.Add(time.Duration(sec)*time.Second), "rack-strip", dev
		return e
	}
	cases := map[string]struct {
		events []event.Event
		test   bool
		url    string
	}{
		"burst_offline":   {events: []event.Event{down("Front Door Camera", 0), down("Garage Camera", 2), down("NVR", 3), down("Doorbell", 5), down("Porch Light", 7), down("Shed AP", 8)}},
		"one_device":      {events: []event.Event{evs["offline"], evs["cycle_started"]}},
		"mixed":           {events: []event.Event{down("Garage Camera", 0), evs["recovered"], down("NVR", 1)}},
		"test_mail":       {events: []event.Event{evs["offline"]}, test: true},
		"bare_event":      {events: []event.Event{{Kind: event.Offline, Time: t0, Device: "NVR"}}},
		"no_external_url": {events: []event.Event{evs["recovered"]}, url: "-"},
	}
	for _, k := range config.Events {
		cases[k] = struct {
			events []event.Event
			test   bool
			url    string
		}{events: []event.Event{evs[k]}}
	}
	tmpl, err := parseTemplates(&config.EmailConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			url := "http://pi-monitor:9788/"
			if c.url == "-" {
				url = ""
			}
			subject, body, err := tmpl.render(notify.NewData(c.events, "pi-monitor", url, t0.Add(10*time.Second), c.test))
			if err != nil {
				t.Fatal(err)
			}
			got := "Subject: " + subject + "\n\n" + body
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./notify/email/ -run Golden -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the template output (go test ./notify/email/ -run Golden -update, then review the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

func TestSubjects(t *testing.T) {
	evs := realistic()
	want := map[string]string{
		"offline":           "[restartinator] Front Door Camera is OFFLINE",
		"recovered":         "[restartinator] Front Door Camera is ONLINE",
		"cycle_started":     "[restartinator] Front Door Camera is being POWER CYCLED",
		"cycle_failed":      "[restartinator] Front Door Camera: POWER CYCLE FAILED",
		"gave_up":           "[restartinator] Front Door Camera is still OFFLINE: GAVE UP power cycling",
		"held":              "[restartinator] Front Door Camera: power cycle HELD",
		"plug_unreachable":  "[restartinator] Plug rack-strip is UNREACHABLE",
		"host_reset":        "[restartinator] pi-monitor is HARD-RESETTING itself",
		"notify":            "[restartinator] Alert RestartinatorDeviceDown for Front Door Camera",
		"channel_failing":   "[restartinator] Notification channel ops-webhook is FAILING",
		"channel_recovered": "[restartinator] Notification channel ops-webhook WORKS AGAIN",
	}
	tmpl, err := parseTemplates(&config.EmailConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range config.Events {
		subject, _, err := tmpl.render(notify.NewData([]event.Event{evs[k]}, "pi-monitor", "", t0, false))
		if err != nil {
			t.Fatal(err)
		}
		if subject != want[k] {
			t.Errorf("%s: subject %q, want %q", k, subject, want[k])
		}
	}
}

func TestValidateTemplates(t *testing.T) {
	cases := []struct {
		name, subject, body string
		wantErr             string // "" means valid
	}{
		{name: "defaults"},
		{name: "custom fields", subject: `{{ .Event.Device }} {{ .Event.Kind | upper }} on {{ .Hostname }}`,
			body: `{{ range .Events }}{{ .Device }}: {{ .WhatHappened }} {{ index .Labels "alertname" }}{{ end }} {{ join .Devices ", " }}`},
		{name: "subject does not parse", subject: `{{ .Event.Device`, wantErr: "notifications.email.subject_template does not parse"},
		{name: "body does not parse", body: `{{ range .Events }}`, wantErr: "notifications.email.body_template does not parse"},
		{name: "unknown function", body: `{{ humanize .Time }}`, wantErr: `function "humanize" not defined`},
		{name: "unknown field", subject: `{{ .Device }}`, wantErr: "notifications.email.subject_template: template: subject_template:1:3: executing \"subject_template\" at <.Device>: can't evaluate field Device in type *notify.Data"},
		{name: "index out of range on one event", body: `{{ (index .Events 1).Device }}`, wantErr: "error calling index"},
		{name: "nil reading", body: `{{ .Event.Reading.Watts }}`, wantErr: "nil pointer evaluating *event.Reading.Watts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := ValidateTemplates(&config.EmailConfig{SubjectTemplate: c.subject, BodyTemplate: c.body})
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q", c.wantErr)
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Fatalf("error %q, want it to contain %q", err, c.wantErr)
			}
		})
	}
}

// A burst of a thousand alerts with long annotations makes a mail body cut
// at MaxBodyBytes, at a line end, saying what was left out.
func TestMailBodyCapped(t *testing.T) {
	tmpl, err := parseTemplates(&config.EmailConfig{BodyTemplate: `{{ range .Events }}{{ .Device }}: {{ .Detail }}
{{ end }}`})
	if err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	for i := range 1000 {
		evs = append(evs, event.Event{Kind: event.Notify, Time: t0, Device: fmt.Sprintf("dev%04d", i), Detail: strings.Repeat("disk full é ", 100)})
	}
	_, body, err := tmpl.render(notify.NewData(evs, "pi-monitor", "", t0, false))
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > MaxBodyBytes+200 || !strings.Contains(body, "[message cut: ") || !utf8.ValidString(body) {
		t.Fatalf("body of %d bytes, valid UTF-8 %v, ends %q", len(body), utf8.ValidString(body), body[max(0, len(body)-200):])
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if last := lines[len(lines)-2]; !strings.HasSuffix(last, "disk full é ") {
		t.Errorf("cut inside a line: %q", last)
	}
}
