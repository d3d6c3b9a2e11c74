package notify

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
	"unicode/utf8"
)

// DefaultTitleTemplate is a push channel's title: the summary in a line.
const DefaultTitleTemplate = `{{ if .Test }}TEST: {{ end }}{{ .Summary }}`

// DefaultMessageTemplate is a push channel's message, short for a phone's
// screen: for one event what happened, what was done and what comes next;
// for a burst one line per event (at most 8); then the status page.
const DefaultMessageTemplate = `{{ if .Test }}Test from restartinator on {{ .Hostname }}: notifications work. The event below is a sample.
{{ end }}
{{- if eq (len .Events) 1 }}{{ with .Event -}}
{{ title .WhatHappened }}{{ with .Detail }}
{{ trunc 120 . }}{{ end }}
Done: {{ .WhatWasDone }}
Next: {{ .Then }}
{{- end }}{{ else }}{{ range $i, $e := first 8 .Events }}{{ if $i }}
{{ end }}{{ $e.Time.Format "15:04" }} {{ $e.Summary }}{{ end }}{{ with more 8 .Events }}
and {{ . }} more{{ end }}
{{- end }}{{ with .ExternalURL }}
{{ . }}{{ end }}`

// Limits for small screens (Pushover takes 250 and 1024).
const (
	MaxTitle   = 200
	MaxMessage = 1000
)

// TextTemplates are a channel's parsed title and message templates.
type TextTemplates struct {
	where          string
	title, message *template.Template
}

// ParseTextTemplates parses a channel's templates (empty: the defaults) and
// executes them on sample data of every event kind, so a template that fails
// is a config error at load. where names the channel in errors.
func ParseTextTemplates(where, title, message string) (*TextTemplates, error) {
	if title == "" {
		title = DefaultTitleTemplate
	}
	if message == "" {
		message = DefaultMessageTemplate
	}
	tt, err := template.New("title_template").Funcs(Funcs).Parse(title)
	if err != nil {
		return nil, fmt.Errorf("%s: title_template does not parse: %w", where, err)
	}
	mt, err := template.New("message_template").Funcs(Funcs).Parse(message)
	if err != nil {
		return nil, fmt.Errorf("%s: message_template does not parse: %w", where, err)
	}
	t := &TextTemplates{where: where, title: tt, message: mt}
	for _, d := range SampleData() {
		if _, _, err := t.Render(d); err != nil {
			return nil, fmt.Errorf("%w (on sample data; see the data model in the notify package documentation)", err)
		}
	}
	return t, nil
}

// Render executes both templates: the title folded to one line, both cut
// to the limits for small screens.
func (t *TextTemplates) Render(d *Data) (title, message string, err error) {
	var tb, mb bytes.Buffer
	if err := t.title.Execute(&tb, d); err != nil {
		return "", "", fmt.Errorf("%s: title_template: %w", t.where, err)
	}
	if err := t.message.Execute(&mb, d); err != nil {
		return "", "", fmt.Errorf("%s: message_template: %w", t.where, err)
	}
	title = strings.Join(strings.Fields(tb.String()), " ")
	return Truncate(title, MaxTitle), Truncate(strings.TrimSpace(mb.String()), MaxMessage), nil
}

// Truncate shortens s to at most n characters, ending in "…" when it cut.
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
