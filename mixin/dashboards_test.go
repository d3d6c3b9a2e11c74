package mixin_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The metrics restartinator exports; every query in the mixin must read one
// of these or a recording rule from rules.yaml.
var exportedMetrics = []string{
	"restartinator_device_up",
	"restartinator_device_state",
	"restartinator_device_state_code",
	"restartinator_device_info",
	"restartinator_device_probe_duration_seconds",
	"restartinator_device_consecutive_failures",
	"restartinator_probes_total",
	"restartinator_probe_failures_total",
	"restartinator_power_cycles_total",
	"restartinator_power_cycle_failures_total",
	"restartinator_last_power_cycle_timestamp_seconds",
	"restartinator_plug_up",
	"restartinator_plug_relay_on",
	"restartinator_plug_power_watts",
	"restartinator_plug_voltage_volts",
	"restartinator_plug_current_amperes",
	"restartinator_plug_energy_joules_total",
	"restartinator_plug_info",
	"restartinator_guard_holding",
	"restartinator_dry_run",
	"restartinator_webhook_requests_total",
	"restartinator_webhook_alerts_total",
	"restartinator_notifications_total",
	"restartinator_notification_failures_total",
	"restartinator_notification_queue_length",
	"restartinator_notifications_dropped_total",
	"restartinator_host_resets_total",
	"restartinator_config_last_reload_successful",
	"restartinator_config_last_reload_success_timestamp_seconds",
	"restartinator_build_info",
}

// Grafana unit ids the dashboards may use; a typo renders as a bare number.
var grafanaUnits = []string{
	"none", "short", "s", "ms", "percentunit", "percent",
	"watt", "volt", "amp", "watth", "kwatth", "joule",
	"dateTimeAsIso", "dateTimeFromNow",
}

// Variables Grafana defines itself.
var builtinVariables = []string{"__interval", "__rate_interval", "__range", "__range_s"}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string      `json:"name"`
			Datasource *datasource `json:"datasource"`
			Expr       string      `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasource     `json:"datasource"`
}

type panel struct {
	ID          int         `json:"id"`
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Datasource  *datasource `json:"datasource"`
	GridPos     *struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		Datasource *datasource `json:"datasource"`
		Expr       string      `json:"expr"`
		RefID      string      `json:"refId"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
		Overrides []struct {
			Properties []struct {
				ID    string          `json:"id"`
				Value json.RawMessage `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
	Panels []panel `json:"panels"` // inside collapsed rows
}

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("dashboards_out", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	dashboards := map[string]dashboard{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: not valid dashboard JSON: %v", f, err)
		}
		dashboards[filepath.Base(f)] = d
	}
	return dashboards
}

// recordedMetrics returns the recording rules' names from rules.yaml.
func recordedMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\s*record: "?([^"\s]+)"?$`).FindAllStringSubmatch(string(b), -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatal("rules.yaml: no recording rules found")
	}
	return names
}

func TestDashboardsExist(t *testing.T) {
	dashboards := loadDashboards(t)
	want := map[string]string{
		"restartinator-overview.json": "restartinator-overview",
		"restartinator-device.json":   "restartinator-device",
	}
	if len(dashboards) != len(want) {
		t.Errorf("dashboards_out holds %d dashboards, want %d", len(dashboards), len(want))
	}
	for file, uid := range want {
		d, ok := dashboards[file]
		if !ok {
			t.Errorf("dashboards_out/%s is missing", file)
			continue
		}
		if d.UID != uid {
			t.Errorf("%s: uid %q, want the stable %q", file, d.UID, uid)
		}
		if d.Title == "" {
			t.Errorf("%s: no title", file)
		}
		if d.SchemaVersion < 36 {
			t.Errorf("%s: schemaVersion %d, want at least 36", file, d.SchemaVersion)
		}
	}
}

func TestDashboardVariables(t *testing.T) {
	for file, d := range loadDashboards(t) {
		vars := map[string]variable{}
		for _, v := range d.Templating.List {
			vars[v.Name] = v
		}
		ds, ok := vars["datasource"]
		if !ok || ds.Type != "datasource" || string(ds.Query) != `"prometheus"` {
			t.Errorf("%s: want a prometheus datasource variable named datasource, got %+v", file, ds)
		}
		for _, name := range []string{"job", "device"} {
			v, ok := vars[name]
			if !ok {
				t.Errorf("%s: no %s variable", file, name)
				continue
			}
			if v.Type != "query" || v.Datasource == nil || v.Datasource.UID != "${datasource}" {
				t.Errorf("%s: variable %s must be a query on ${datasource}, got %+v", file, name, v)
			}
		}
	}
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func TestDashboardPanels(t *testing.T) {
	for file, d := range loadDashboards(t) {
		panels := allPanels(d.Panels)
		if len(panels) == 0 {
			t.Errorf("%s: no panels", file)
		}
		ids := map[int]bool{}
		for _, p := range panels {
			name := file + ": panel " + strings.TrimSpace(p.Title)
			if p.Title == "" {
				t.Errorf("%s: panel %d has no title", file, p.ID)
			}
			if p.ID == 0 || ids[p.ID] {
				t.Errorf("%s: id %d is missing or not unique", name, p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				continue
			}
			if p.Description == "" {
				t.Errorf("%s: no description", name)
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: datasource %+v, want uid ${datasource}", name, p.Datasource)
			}
			if u := p.FieldConfig.Defaults.Unit; !slices.Contains(grafanaUnits, u) {
				t.Errorf("%s: unit %q is not one of %v", name, u, grafanaUnits)
			}
			for _, o := range p.FieldConfig.Overrides {
				for _, prop := range o.Properties {
					var u string
					if prop.ID == "unit" && (json.Unmarshal(prop.Value, &u) != nil || !slices.Contains(grafanaUnits, u)) {
						t.Errorf("%s: override unit %s is not one of %v", name, prop.Value, grafanaUnits)
					}
				}
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no queries", name)
			}
			refIDs := map[string]bool{}
			for _, q := range p.Targets {
				if q.Datasource == nil || q.Datasource.UID != "${datasource}" {
					t.Errorf("%s: query %s datasource %+v, want uid ${datasource}", name, q.RefID, q.Datasource)
				}
				if q.RefID == "" || refIDs[q.RefID] {
					t.Errorf("%s: refId %q is missing or not unique", name, q.RefID)
				}
				refIDs[q.RefID] = true
				if strings.TrimSpace(q.Expr) == "" {
					t.Errorf("%s: query %s has no expr", name, q.RefID)
				}
			}
		}
	}
}

// TestDashboardLayout checks every panel sits on the 24-column grid without
// overlapping another.
func TestDashboardLayout(t *testing.T) {
	for file, d := range loadDashboards(t) {
		type box struct {
			title      string
			x, y, w, h int
		}
		var boxes []box
		for _, p := range d.Panels {
			if p.GridPos == nil {
				t.Errorf("%s: panel %q has no gridPos", file, p.Title)
				continue
			}
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
				t.Errorf("%s: panel %q gridPos %+v is off the 24-column grid", file, p.Title, *g)
			}
			b := box{p.Title, g.X, g.Y, g.W, g.H}
			for _, o := range boxes {
				if b.x < o.x+o.w && o.x < b.x+b.w && b.y < o.y+o.h && o.y < b.y+b.h {
					t.Errorf("%s: panels %q and %q overlap", file, b.title, o.title)
				}
			}
			boxes = append(boxes, b)
		}
	}
}

// TestDashboardQueries checks what can be checked of PromQL without a
// parser: brackets balance, every variable is defined, and every metric is
// one restartinator exports or the mixin records.
func TestDashboardQueries(t *testing.T) {
	known := append(slices.Clone(exportedMetrics), recordedMetrics(t)...)
	known = append(known, "up")
	metricRE := regexp.MustCompile(`\b(?:restartinator_[a-z_]+|[a-z_]+:restartinator_[a-z_]+:[a-z0-9_]+)`)
	varRE := regexp.MustCompile(`\$\{?(\w+)`)
	for file, d := range loadDashboards(t) {
		vars := slices.Clone(builtinVariables)
		for _, v := range d.Templating.List {
			vars = append(vars, v.Name)
		}
		var exprs []string
		for _, p := range allPanels(d.Panels) {
			for _, q := range p.Targets {
				exprs = append(exprs, q.Expr)
			}
		}
		for _, a := range d.Annotations.List {
			if a.Expr != "" {
				exprs = append(exprs, a.Expr)
				if a.Datasource == nil || a.Datasource.UID != "${datasource}" {
					t.Errorf("%s: annotation %q datasource %+v, want uid ${datasource}", file, a.Name, a.Datasource)
				}
			}
		}
		panelExprs := len(exprs)
		for _, v := range d.Templating.List {
			var q struct{ Query string }
			if json.Unmarshal(v.Query, &q) == nil && q.Query != "" {
				exprs = append(exprs, q.Query)
			}
		}
		for i, e := range exprs {
			if err := balanced(e); err != "" {
				t.Errorf("%s: %s in %q", file, err, e)
			}
			for _, m := range varRE.FindAllStringSubmatch(e, -1) {
				if !slices.Contains(vars, m[1]) {
					t.Errorf("%s: undefined variable $%s in %q", file, m[1], e)
				}
			}
			for _, m := range metricRE.FindAllString(e, -1) {
				if !slices.Contains(known, m) {
					t.Errorf("%s: unknown metric %s in %q", file, m, e)
				}
			}
			if i < panelExprs && strings.Contains(e, "restartinator_") && !strings.Contains(e, "$job") && !strings.Contains(e, ":restartinator_") {
				t.Errorf("%s: query ignores the job variable: %q", file, e)
			}
		}
	}
}

// TestRuleMetrics checks the rule files read only exported or recorded
// metrics, so a renamed metric cannot leave an alert silently empty.
func TestRuleMetrics(t *testing.T) {
	known := append(slices.Clone(exportedMetrics), recordedMetrics(t)...)
	metricRE := regexp.MustCompile(`\b(?:restartinator_[a-z_]+|[a-z_]+:restartinator_[a-z_]+:[a-z0-9_]+)`)
	exprRE := regexp.MustCompile(`(?m)^\s*- expr: \|\n((?:\s{6}.*\n)+)|^\s*expr: \|\n((?:\s{6}.*\n)+)`)
	for _, file := range []string{"alerts.yaml", "rules.yaml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		matches := exprRE.FindAllStringSubmatch(string(b), -1)
		if len(matches) == 0 {
			t.Fatalf("%s: no expressions found", file)
		}
		for _, m := range matches {
			e := m[1] + m[2]
			for _, name := range metricRE.FindAllString(e, -1) {
				if !slices.Contains(known, name) {
					t.Errorf("%s: unknown metric %s in %q", file, name, e)
				}
			}
		}
	}
}

// balanced reports the first unbalanced bracket, or "".
func balanced(s string) string {
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	var stack []rune
	inString := false
	for _, r := range s {
		switch {
		case r == '"':
			inString = !inString
		case inString:
		case r == '(' || r == '[' || r == '{':
			stack = append(stack, r)
		case pairs[r] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				return "unbalanced " + string(r)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if inString {
		return "unterminated string"
	}
	if len(stack) > 0 {
		return "unclosed " + string(stack[len(stack)-1])
	}
	return ""
}
