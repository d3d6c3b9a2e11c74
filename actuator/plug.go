package actuator

import (
	"context"
	"errors"
	"time"
)

// ErrFlipBackUnsupported is returned (wrapped) by ArmFlipBack only when the
// plug explicitly says it has no device-side timer; SafeCycle then falls back
// to a plain off/on and says so. Any other ArmFlipBack error stops the cycle
// before switching off, so drivers must not use it for timeouts, session
// errors or device errors they do not recognise.
var ErrFlipBackUnsupported = errors.New("plug refused a device-side flip-back timer")

// Energy is one reading of a plug's meter.
type Energy struct {
	Watts     float64 `json:"power_watts"`
	Volts     float64 `json:"voltage_volts"`
	Amperes   float64 `json:"current_amperes"`
	WattHours float64 `json:"energy_watt_hours"`
}

// Outlet is one switchable socket. A single plug has one outlet whose ID is
// empty; a strip lists each child.
type Outlet struct {
	Index  int           `json:"index"`
	ID     string        `json:"id"`
	Alias  string        `json:"alias"`
	On     bool          `json:"on"`
	OnTime time.Duration `json:"on_time_seconds"`
	Energy *Energy       `json:"energy,omitempty"` // nil when the outlet has no meter
}

// Status is what a plug says about itself.
type Status struct {
	Model     string   `json:"model"`
	HWVersion string   `json:"hw_version"`
	SWVersion string   `json:"sw_version"`
	MAC       string   `json:"mac"`
	Alias     string   `json:"alias"`
	RSSI      int      `json:"rssi"`
	Protocol  string   `json:"protocol"`
	Strip     bool     `json:"strip"`
	Outlets   []Outlet `json:"outlets"` // always at least one
	// Inputs are meters of the whole device or of its phases or banks (a
	// PDU's), not of one outlet; empty for plugs that meter their outlets.
	Inputs []InputMeter `json:"inputs,omitempty"`
}

// InputMeter is one reading of a device-level, phase or bank meter. A nil
// field is one the device does not measure there.
type InputMeter struct {
	Name    string   `json:"name"` // "device", "phase/bank 1", ...
	Amperes *float64 `json:"current_amperes,omitempty"`
	Watts   *float64 `json:"power_watts,omitempty"`
}

// Plug is a smart plug or power strip. Outlet names select a strip socket by
// alias, index or id; the empty name means the plug itself (or, on a strip,
// is an error). Implementations are safe for concurrent use.
type Plug interface {
	Status(ctx context.Context) (Status, error)
	Switch(ctx context.Context, outlet string, on bool) error
	// ArmFlipBack makes the plug itself switch the outlet on after d, so power
	// returns even if we die or lose the network while the outlet is off.
	ArmFlipBack(ctx context.Context, outlet string, d time.Duration) error
	// DisarmFlipBack removes the timer armed by ArmFlipBack.
	DisarmFlipBack(ctx context.Context, outlet string) error
	Close() error
}
