// Package shelly drives Shelly relays and plugs over their local HTTP APIs:
// Gen1 (Shelly 1, 1PM, Plug S, 2.5 with two outlets) through /shelly,
// /status, /settings and /relay/N with optional HTTP basic auth, and Gen2+
// (Plus, Pro, Gen3, Gen4: Plus 1, Plus Plug S, Pro 4PM with four outlets)
// through JSON-RPC over HTTP (POST /rpc) with SHA-256 HTTP digest auth.
// Client implements actuator.Plug.
//
// The device-side flip-back is the relay's own timer: Gen1
// /relay/N?turn=off&timer=S and Gen2 Switch.Set {on:false, toggle_after:S}
// switch off and, S seconds later, back on, on the device. Neither API can
// arm a timer that switches on without switching off in the same request,
// so ArmFlipBack checks the outlet is reachable and remembers the off time,
// and the next Switch(off) of that outlet carries the timer. Off and timer
// are then one request: there is no moment when the outlet is off without
// its timer. Switching on (or DisarmFlipBack) sends a plain turn=on, which
// replaces the running timer on both generations.
//
// For flip_back: required the Client does not implement
// actuator.FlipBackVerifier: before the switch-off there is no timer to
// read back. The switch-off itself is the check: if the device's answer
// does not show the timer running, Switch fails with ErrNoTimer and the
// safe cycle switches the outlet straight back on.
//
// Deviation from the agreed contract: none in the API. Outlet ids are the
// relay/switch index ("0", "1", …); aliases are the names set on the device,
// or "relay N" (Gen1) / "switch:N" (Gen2) when unnamed, so strip outlets
// always have distinct metric labels.
package shelly
