package email

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/notify"
)

// DefaultSubjectTemplate keeps the seed's "[restartinator] X is OFFLINE".
const DefaultSubjectTemplate = `[restartinator] {{ if .Test }}TEST: {{ end }}{{ .Summary }}`

// DefaultBodyTemplate says what happened, what was done and what comes next
// for each event, then the details an operator looks for first.
const DefaultBodyTemplate = `{{- if .Test -}}
This is a test email from restartinator on {{ .Hostname }}: if you can read it,
email notifications work. The event below is a sample; nothing happened.

{{ end -}}
{{- if gt (len .Events) 1 -}}
{{ .Summary }}
{{ range .Events }}
  - {{ .Time.Format "15:04:05" }} {{ .Summary }}
{{- end }}

{{ end -}}
{{- range $i, $e := .Events -}}
{{- if $i }}
------------------------------------------------------------------------

{{ end -}}
{{ $e.Summary }} ({{ $e.Time.Format "2006-01-02 15:04:05 MST" }})

What happened: {{ $e.WhatHappened }}
{{- with $e.Detail }}
Details: {{ . }}
{{- end }}

What was done: {{ $e.WhatWasDone }}

What happens next: {{ $e.WhatNext }}
{{ with $e.Device }}
Device:        {{ . }}{{ with $e.State }} ({{ . }}){{ end }}
{{- end }}
{{- if $e.ConsecutiveFailures }}
Failed checks: {{ $e.ConsecutiveFailures }} in a row
{{- end }}
{{- if or $e.CyclesInWindow (not $e.LastCycle.IsZero) }}
Power cycles:  {{ $e.CyclesInWindow }} in the current window
{{- if not $e.LastCycle.IsZero }}, last at {{ $e.LastCycle.Format "2006-01-02 15:04:05 MST" }}{{ end }}
{{- end }}
{{- with $e.Plug }}
Plug:          {{ . }}{{ with $e.Outlet }}, outlet {{ . }}{{ end }}
{{- with $e.Reading }}: relay {{ if .RelayOn }}on{{ else }}off{{ end }}
{{- if .Metered }}, {{ printf "%.1f" .Watts }} W, {{ printf "%.1f" .Volts }} V, {{ printf "%.3f" .Amperes }} A{{ end }}
{{- end }}
{{- end }}
{{- with $e.Trigger }}
Trigger:       {{ . }}
{{- end }}
{{- range $k, $v := $e.Labels }}
Label:         {{ $k }}={{ $v }}
{{- end }}
{{ end }}
-- 
restartinator on {{ .Hostname }}
{{- with .ExternalURL }}
Status page: {{ . }}
{{- end }}
`

// templates are the parsed subject and body.
type templates struct {
	subject, body *template.Template
}

// parseTemplates parses the configured templates, or the defaults.
func parseTemplates(cfg *config.EmailConfig) (*templates, error) {
	subj, body := cfg.SubjectTemplate, cfg.BodyTemplate
	if subj == "" {
		subj = DefaultSubjectTemplate
	}
	if body == "" {
		body = DefaultBodyTemplate
	}
	st, err := template.New("subject_template").Funcs(notify.Funcs).Parse(subj)
	if err != nil {
		return nil, fmt.Errorf("notifications.email.subject_template does not parse: %w", err)
	}
	bt, err := template.New("body_template").Funcs(notify.Funcs).Parse(body)
	if err != nil {
		return nil, fmt.Errorf("notifications.email.body_template does not parse: %w", err)
	}
	t := &templates{subject: st, body: bt}
	// Execute on sample data so a template that refers to a missing field or
	// calls a function wrongly fails at load time, not at 3 a.m.
	for _, d := range notify.SampleData() {
		if _, _, err := t.render(d); err != nil {
			return nil, fmt.Errorf("%w (on sample data; see the data model in the notify package documentation)", err)
		}
	}
	return t, nil
}

// ValidateTemplates reports whether the email templates parse and execute on
// sample data, so a bad template is a config error when the file is loaded.
func ValidateTemplates(cfg *config.EmailConfig) error {
	_, err := parseTemplates(cfg)
	return err
}

// render executes both templates. The subject is folded to one line.
func (t *templates) render(d *notify.Data) (subject, body string, err error) {
	var sb, bb bytes.Buffer
	if err := t.subject.Execute(&sb, d); err != nil {
		return "", "", fmt.Errorf("notifications.email.subject_template: %w", err)
	}
	if err := t.body.Execute(&bb, d); err != nil {
		return "", "", fmt.Errorf("notifications.email.body_template: %w", err)
	}
	return strings.Join(strings.Fields(sb.String()), " "), capBody(bb.String()), nil
}

// MaxBodyBytes bounds a mail body: a burst of a thousand alerts, or an
// alert with a huge annotation, must not become a mail servers refuse.
const MaxBodyBytes = 256 << 10

// capBody cuts a body longer than MaxBodyBytes at a line end (or a rune
// boundary) and says how much was left out.
func capBody(body string) string {
	if len(body) <= MaxBodyBytes {
		return body
	}
	cut := body[:MaxBodyBytes]
	if i := strings.LastIndexByte(cut, '\n'); i > MaxBodyBytes/2 {
		cut = cut[:i+1]
	} else {
		cut = strings.ToValidUTF8(cut, "")
		for len(cut) > 0 && !utf8.ValidString(cut) {
			cut = cut[:len(cut)-1]
		}
		cut += "\n"
	}
	return cut + fmt.Sprintf("[message cut: %d more bytes not shown (mail bodies are limited to %d bytes); see the status page]\n", len(body)-len(cut), MaxBodyBytes)
}
