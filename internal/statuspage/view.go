package statuspage

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/notify"
)

// The formatting here is mirrored by static/statuspage.js, which re-renders
// the rows from api/v1/devices: change both together.

// pageData is what page.html renders.
type pageData struct {
	Version      string
	AssetVersion string
	Refresh      int
	Generated    timeView
	Holding      string
	DryRun       bool
	Devices      []deviceView
	Channels     []channelView
}

// channelView is one notification channel: whether it delivers.
type channelView struct {
	Name         string
	StateText    string // "delivering", "failing (3 attempts in a row)", "no deliveries yet"
	Failing      bool
	LastDelivery timeView
	LastFailure  timeView
	LastError    string
	Queued       int
}

type deviceView struct {
	Name        string
	Summary     string // "auto · http http://camera1/"
	State       string
	StateText   string
	StateDetail string
	ProbeText   string
	ProbeError  string
	ProbeTime   timeView
	Failures    int
	LastCycle   timeView
	CyclesText  string
	NextReboot  timeView
	PlugText    string
	Reading     string
	CanCycle    bool
	Events      []eventView // newest first
	// Depth is the device's place in the dependency tree (0 for a root).
	Depth     int
	Paused    bool
	Bar       []barRun
	BarLabel  string // "last 24 hours: 99.2% up"
	AvailText string // "24 h 99.2% · 7 d 98.1%"
}

type eventView struct {
	Time   timeView
	Kind   string
	What   string // "cycle started (manual)"
	State  string
	Detail string
	Next   string
}

// timeView is a moment shown relative to now, with the exact time in the
// datetime attribute and the tooltip.
type timeView struct {
	Set bool
	ISO string // RFC 3339, for <time datetime>
	Abs string
	Rel string // "12s ago", "in 3h 5m"
}

func (h *handler) pageData() pageData {
	src := h.opts.Source
	now := h.opts.Now()
	d := pageData{
		Version:      h.opts.Version,
		AssetVersion: h.assetVersion,
		Refresh:      RefreshSeconds,
		Generated:    at(now, now),
		Holding:      src.Holding(),
		DryRun:       src.DryRun(),
	}
	snap := src.Snapshot()
	order, depth := treeOrder(snap)
	for _, i := range order {
		v := newDeviceView(snap[i], now)
		v.Depth = depth[i]
		d.Devices = append(d.Devices, v)
	}
	if h.opts.Channels != nil {
		for _, s := range h.opts.Channels() {
			d.Channels = append(d.Channels, newChannelView(s, now))
		}
	}
	return d
}

func newChannelView(s notify.Status, now time.Time) channelView {
	v := channelView{Name: s.Channel, LastDelivery: at(s.LastDelivery, now), LastFailure: at(s.LastFailure, now),
		LastError: s.LastError, Queued: len(s.Queue)}
	switch {
	case s.Failures > 0:
		v.Failing = true
		v.StateText = fmt.Sprintf("failing (%d %s in a row)", s.Failures, notify.Plural(s.Failures, "attempt", "attempts"))
		if !s.NextAttempt.IsZero() {
			v.StateText += ", next try " + relTime(s.NextAttempt, now)
		}
	case s.LastDelivery.IsZero():
		v.StateText = "no deliveries yet"
	default:
		v.StateText = "delivering"
	}
	return v
}

func newDeviceView(s collector.DeviceStatus, now time.Time) deviceView {
	v := deviceView{
		Name:      s.Name,
		Summary:   joinNonEmpty(" · ", modeText(s.Mode), strings.TrimSpace(s.Probe+" "+s.Target)),
		State:     s.State,
		StateText: stateText(s.State),
		Failures:  s.ConsecutiveFailures,
		CanCycle:  s.Plug != "" && s.Mode != config.ModeMonitor,
	}
	v.Paused = s.Paused
	v.Bar = barRuns(s.Bar24h)
	v.AvailText = "24 h " + pct(s.Availability24h) + " · 7 d " + pct(s.Availability7d)
	v.BarLabel = "last 24 hours: " + pct(s.Availability24h) + " up"
	switch s.State {
	case collector.StateBlocked:
		v.StateDetail = "waiting for " + strings.Join(s.ParentsDown, ", ")
	case collector.StatePaused:
		v.StateDetail = pauseText(s, now)
	case collector.StateHeld:
		v.StateDetail = s.Held
	case collector.StateBooting:
		if s.BootUntil != nil {
			v.StateDetail = "boot window ends " + relTime(*s.BootUntil, now)
		}
	}
	switch p := s.LastProbe; {
	case p == nil:
		v.ProbeText = "not probed yet"
	case p.Success:
		v.ProbeText = "ok · " + latency(p.DurationSeconds)
		v.ProbeTime = at(p.Time, now)
	default:
		v.ProbeText = "failed · " + latency(p.DurationSeconds)
		v.ProbeError = p.Error
		v.ProbeTime = at(p.Time, now)
	}
	if s.LastCycle != nil {
		v.LastCycle = at(*s.LastCycle, now)
	}
	v.CyclesText = fmt.Sprintf("%d in window", s.CyclesInWindow)
	if s.NextScheduledReboot != nil {
		v.NextReboot = at(*s.NextScheduledReboot, now)
	}
	if s.Plug == "" {
		v.PlugText = "no plug"
	} else {
		v.PlugText = s.Plug
		if s.Outlet != "" {
			v.PlugText += " · outlet " + s.Outlet
		}
		v.Reading = readingText(s.Reading)
	}
	for _, e := range slices.Backward(s.Events) {
		v.Events = append(v.Events, newEventView(e, now))
	}
	return v
}

func newEventView(e event.Event, now time.Time) eventView {
	what := strings.ReplaceAll(string(e.Kind), "_", " ")
	if e.Trigger != "" {
		what += " (" + e.Trigger + ")"
	}
	return eventView{Time: at(e.Time, now), Kind: string(e.Kind), What: what, State: stateText(e.State), Detail: e.Detail, Next: e.Next}
}

func at(t, now time.Time) timeView {
	if t.IsZero() {
		return timeView{}
	}
	return timeView{Set: true, ISO: t.UTC().Format(time.RFC3339), Abs: t.UTC().Format("2006-01-02 15:04:05 MST"), Rel: relTime(t, now)}
}

// relTime says how long ago t was, or how long until it comes.
func relTime(t, now time.Time) string {
	d := now.Sub(t)
	secs := int64(math.Floor(math.Abs(d.Seconds())))
	if secs < 1 {
		return "now"
	}
	if d > 0 {
		return span(secs) + " ago"
	}
	return "in " + span(secs)
}

func span(secs int64) string {
	switch {
	case secs < 60:
		return fmt.Sprintf("%ds", secs)
	case secs < 3600:
		return fmt.Sprintf("%dm %ds", secs/60, secs%60)
	case secs < 86400:
		return fmt.Sprintf("%dh %dm", secs/3600, secs%3600/60)
	}
	return fmt.Sprintf("%dd %dh", secs/86400, secs%86400/3600)
}

func latency(secs float64) string {
	switch {
	case secs < 0.01: // loopback and LAN answers take well under a millisecond
		return fixed1(secs*1000) + " ms"
	case secs < 1:
		return fmt.Sprintf("%d ms", int64(math.Floor(secs*1000+0.5)))
	}
	return fixed1(secs) + " s"
}

// fixed1 formats x with one decimal, rounding halves up as the script's
// Math.round does (fmt rounds them to even: 1.25 would read 1.2 here and 1.3
// after the first refresh).
func fixed1(x float64) string {
	return fmt.Sprintf("%.1f", math.Floor(x*10+0.5)/10)
}

func readingText(r *event.Reading) string {
	switch {
	case r == nil:
		return "no reading"
	case !r.Metered:
		return relayText(r.RelayOn)
	}
	return relayText(r.RelayOn) + " · " + fixed1(r.Watts) + " W"
}

func relayText(on bool) string {
	if on {
		return "relay on"
	}
	return "relay off"
}

func stateText(s string) string { return strings.ReplaceAll(s, "_", " ") }

// stateClass is the CSS class of a state; unknown states get the neutral one.
func stateClass(s string) string {
	if slices.Contains(collector.States, s) {
		return "state-" + s
	}
	return "state-unknown"
}

func modeText(m string) string {
	switch m {
	case config.ModeAlert:
		return "alert only"
	case config.ModeMonitor:
		return "monitor only"
	}
	return m
}

func joinNonEmpty(sep string, parts ...string) string {
	return strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), sep)
}

// pct is an availability as a percentage with one decimal, "–" unknown.
func pct(a *float64) string {
	if a == nil {
		return "–"
	}
	return fixed1(*a*100) + "%"
}

// pauseText says until when and why a device is paused.
func pauseText(s collector.DeviceStatus, now time.Time) string {
	switch {
	case s.PausedUntil != nil:
		t := "paused, ends " + relTime(*s.PausedUntil, now)
		if s.PauseReason != "" {
			t += ": " + s.PauseReason
		}
		return t
	case s.MaintenanceUntil != nil:
		return "maintenance window, ends " + relTime(*s.MaintenanceUntil, now)
	}
	return ""
}
