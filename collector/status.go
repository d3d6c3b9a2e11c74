package collector

import (
	"strings"
	"time"

	"github.com/restartinator/restartinator/internal/event"
)

// DeviceStatus is what the API and the status page show of a device.
type DeviceStatus struct {
	Name                string       `json:"name"`
	State               string       `json:"state"`
	Mode                string       `json:"mode"`
	Probe               string       `json:"probe"`
	Target              string       `json:"target"`
	Plug                string       `json:"plug,omitempty"`
	Outlet              string       `json:"outlet,omitempty"`
	ConsecutiveFailures int          `json:"consecutive_failures"`
	LastProbe           *ProbeStatus `json:"last_probe,omitempty"`
	LastCycle           *time.Time   `json:"last_cycle,omitempty"`
	CyclesInWindow      int          `json:"cycles_in_window"`
	NextScheduledReboot *time.Time   `json:"next_scheduled_reboot,omitempty"`
	BootUntil           *time.Time   `json:"boot_until,omitempty"`
	Held                string       `json:"held_reason,omitempty"`
	DependsOn           []string     `json:"depends_on,omitempty"`
	// ParentsDown are the devices it depends on (directly or not) that
	// are not up: while there are any, it is not cycled automatically.
	ParentsDown []string       `json:"parents_down,omitempty"`
	Reading     *event.Reading `json:"plug_reading,omitempty"`
	Events      []event.Event  `json:"events"`
	// Targets are each target's last result, for a device with several
	// (probes:); Require is how many must answer.
	Targets []TargetStatus `json:"targets,omitempty"`
	Require int            `json:"require,omitempty"`
	// PausedUntil and PauseReason: paused through the API; InMaintenance
	// ends at MaintenanceUntil.
	Paused           bool       `json:"paused"`
	PausedUntil      *time.Time `json:"paused_until,omitempty"`
	PauseReason      string     `json:"pause_reason,omitempty"`
	MaintenanceUntil *time.Time `json:"maintenance_until,omitempty"`
	// Availability24h and 7d are the share of the known time the device
	// answered (nil: nothing known); Bar24h is the last 24 hours in
	// BarSegments characters: u up, d down, p partly down, - unknown.
	Availability24h *float64 `json:"availability_24h,omitempty"`
	Availability7d  *float64 `json:"availability_7d,omitempty"`
	Bar24h          string   `json:"bar_24h,omitempty"`
}

// TargetStatus is one target's last probe.
type TargetStatus struct {
	Target          string  `json:"target"`
	Success         bool    `json:"success"`
	DurationSeconds float64 `json:"duration_seconds"`
	Error           string  `json:"error,omitempty"`
}

// ProbeStatus is the last probe.
type ProbeStatus struct {
	Time            time.Time `json:"time"`
	Success         bool      `json:"success"`
	DurationSeconds float64   `json:"duration_seconds"`
	Error           string    `json:"error,omitempty"`
}

// Snapshot returns every device's status, sorted by name.
func (s *Supervisor) Snapshot() []DeviceStatus {
	s.mu.RLock()
	devices := s.order
	s.mu.RUnlock()
	now := s.opt.Clock.Now()
	out := make([]DeviceStatus, 0, len(devices))
	for _, d := range devices {
		ds := DeviceStatus{Name: d.cfg.Name, Mode: d.cfg.Mode, Probe: d.prober.Type(), Target: d.prober.Target(), Plug: d.cfg.Plug, Outlet: d.cfg.Outlet}
		d.mu.Lock()
		m := d.m
		ds.State, ds.ConsecutiveFailures, ds.Held = m.State, m.Failures, m.HeldFor
		ds.DependsOn = d.cfg.DependsOn
		ds.Paused = m.Paused(now)
		if now.Before(m.PausedUntil) {
			t := m.PausedUntil
			ds.PausedUntil, ds.PauseReason = &t, m.PauseReason
		}
		if now.Before(m.MaintUntil) {
			t := m.MaintUntil
			ds.MaintenanceUntil = &t
		}
		if m.ParentsDown != "" {
			ds.ParentsDown = strings.Split(m.ParentsDown, ", ")
		}
		if m.Probed {
			ds.LastProbe = &ProbeStatus{Time: m.LastProbeAt, Success: m.LastProbe.Success, DurationSeconds: m.LastProbe.Duration.Seconds(), Error: errText(m.LastProbe.Err)}
		}
		if !m.LastCycle.IsZero() {
			t := m.LastCycle
			ds.LastCycle = &t
		}
		if !d.nextReboot.IsZero() {
			t := d.nextReboot
			ds.NextScheduledReboot = &t
		}
		if m.State == StateBooting {
			t := m.BootUntil
			ds.BootUntil = &t
		}
		ds.Events = append([]event.Event{}, d.events...)
		if a, ok := Availability(d.hist, now.Add(-24*time.Hour), now); ok {
			ds.Availability24h = &a
		}
		if a, ok := Availability(d.hist, now.Add(-historyKeep), now); ok {
			ds.Availability7d = &a
		}
		ds.Bar24h = Bar(d.hist, now)
		d.mu.Unlock()
		if ds.State != StateHeld {
			ds.Held = ""
		}
		if ds.LastCycle == nil {
			if h := s.opt.State.History(d.cfg.Name); len(h) > 0 {
				t := h[len(h)-1].Started
				ds.LastCycle = &t
			}
		}
		if d.multi != nil {
			ds.Require = d.multi.Need()
			last := d.multi.Last()
			for i, t := range d.multi.Targets() {
				ts := TargetStatus{Target: t}
				if i < len(last) {
					ts.Success, ts.DurationSeconds, ts.Error = last[i].Success, last[i].Duration.Seconds(), errText(last[i].Err)
				}
				ds.Targets = append(ds.Targets, ts)
			}
		}
		ds.CyclesInWindow = s.cyclesInWindow(d.cfg.Name, d.cfg.Settings.CycleWindow.D(), now)
		ds.Reading = s.reading(d.cfg.Plug, d.cfg.Outlet)
		out = append(out, ds)
	}
	return out
}

// UpSince says since when the named device has answered again after its
// last outage or power cycle (the time of its last recovered event), and
// false when it is not up now.
func (s *Supervisor) UpSince(name string) (time.Time, bool) {
	s.mu.RLock()
	d := s.devices[name]
	s.mu.RUnlock()
	if d == nil {
		return time.Time{}, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m.State != StateUp {
		return time.Time{}, false
	}
	for i := len(d.events) - 1; i >= 0; i-- {
		if d.events[i].Kind == event.Recovered {
			return d.events[i].Time, true
		}
	}
	return time.Time{}, true
}

// ParentsDown names the devices the named one depends on (directly or
// not) that are not up now; the APIs that cycle on request say so.
func (s *Supervisor) ParentsDown(name string) []string {
	s.mu.RLock()
	d := s.devices[name]
	s.mu.RUnlock()
	if d == nil {
		return nil
	}
	if down := s.parentsDown(d); down != "" {
		return strings.Split(down, ", ")
	}
	return nil
}
