package main

import (
	"strings"
	"text/template"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

// manPageTemplate replaces kingpin's for --help-man: kingpin's lists only
// the leaf commands, so plug's own flags (--host, ...) were missing, and it
// put the multi-line --version text in the title line. This one walks the
// command tree, escapes roff, and names the files the packages install.
const manPageTemplate = `{{define "FormatFlags" -}}
{{range .Flags -}}
{{if not .Hidden -}}
.TP
\fB{{if .Short}}\-{{.Short|Char}}, {{end}}\-\-{{.Name|roff}}{{if not .IsBoolFlag}}={{.FormatPlaceHolder|roff}}{{end}}\fR
{{.Help|roff}}
{{end -}}
{{end -}}
{{end -}}

{{define "FormatCommand" -}}
{{if .FlagSummary}} {{.FlagSummary|roff}}{{end -}}
{{range .Args}}{{if not .Hidden}} {{if not .Required}}[{{end}}{{if .PlaceHolder}}{{.PlaceHolder|roff}}{{else}}<{{.Name|roff}}>{{end}}{{if .Value|IsCumulative}}...{{end}}{{if not .Required}}]{{end}}{{end}}{{end -}}
{{end -}}

{{define "FormatCommands" -}}
{{range .Commands -}}
{{if and (not .Hidden) (ne .FullCommand "help") -}}
.SS
\fB{{.FullCommand|roff}}{{template "FormatCommand" . -}}\fR{{if .Commands}} \fI<command>\fR{{end}}
.PP
{{.Help|roff}}
{{template "FormatFlags" . -}}
{{template "FormatCommands" . -}}
{{end -}}
{{end -}}
{{end -}}

.TH RESTARTINATOR 1 "" "restartinator {{manVersion}}" "User Commands"
.SH NAME
{{.App.Name}} \- keep hung devices alive by power\-cycling their smart plugs, with Prometheus metrics
.SH SYNOPSIS
.B {{.App.Name}}
[\fIflags\fR] [\fIcommand\fR [\fIflags\fR] [\fIargs\fR ...]]
.SH DESCRIPTION
{{.App.Help|roff}}
.SH OPTIONS
These flags apply to every command.
{{template "FormatFlags" .App -}}
.SH COMMANDS
{{template "FormatCommands" .App -}}
.SH FILES
.TP
.I /etc/restartinator/restartinator.yml
The configuration the packaged service reads; check it with
\fBrestartinator \-\-config.check \-\-config.file /etc/restartinator/restartinator.yml\fR.
.TP
.I /etc/default/restartinator
Flags for the packaged service, in \fBARGS\fR.
.TP
.I /var/lib/restartinator
The service's state (StateDirectory of restartinator.service).
.SH "SEE ALSO"
\fBsystemctl\fR(1), \fBjournalctl\fR(1)
`

func init() { kingpin.ManPageTemplate = manPageTemplate }

// roffEscaper keeps help text literal in roff: a backslash would start an
// escape, "-" should be a real hyphen-minus in flags, and a line starting
// with "." or "'" would be a request.
var roffEscaper = strings.NewReplacer(`\`, `\e`, "-", `\-`, "\n.", "\n\\&.", "\n'", "\n\\&'")

// manPageFuncs are the template functions the man page adds to kingpin's.
var manPageFuncs = template.FuncMap{
	"roff": func(s string) string {
		s = roffEscaper.Replace(s)
		if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
			s = `\&` + s
		}
		return s
	},
	"manVersion": func() string { return version.Version },
}
