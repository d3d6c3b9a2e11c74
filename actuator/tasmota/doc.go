// Package tasmota drives Tasmota-flashed plugs and relays over Tasmota's
// HTTP command interface, GET /cm?cmnd=… (with user= and password= when a
// web password is set). `Status 0` identifies the device (module, firmware,
// friendly names, StatusSNS.ENERGY when metered); Power1…PowerN are the
// outlets. Client implements actuator.Plug.
//
// # The device-side flip-back
//
// Tasmota offers several ways to have the device itself switch a relay back
// on; the Commands page (tasmota.github.io/docs/Commands) documents them:
//
//   - Backlog Power1 OFF; Delay N; Power1 ON — the commands run in sequence
//     on the device, Delay N waiting N tenths of a second.
//   - BlinkTime/BlinkCount and Power1 blink — toggles and returns to the
//     pre-blink state; at most 360 s, and BlinkTime/BlinkCount are settings
//     shared by every relay and written to flash.
//   - A rule with RuleTimer — survives a lost network too, but takes one of
//     the user's three rule sets and needs a firmware built with rules.
//   - TimedPower1 <ms>,off (recent firmware only, not in the 12.x releases
//     recorded in ../shared/fixtures/tasmota).
//
// We use Backlog with Delay: every Tasmota build has it, it writes nothing
// to flash and takes nothing from the user's own configuration, and switch-
// off and switch-on travel in one request, so the outlet is never off
// without its way back. ArmFlipBack only checks the outlet answers and
// remembers the off time; the next Switch(off) of that outlet sends
//
//	Backlog Power<n> OFF; Delay <t>; …; Power<n> ON
//
// and then reads the relay back (a Backlog runs after the HTTP answer, so
// its answer says nothing about the relay).
//
// The Client does not implement actuator.FlipBackVerifier: Tasmota shows
// no Backlog queue to read back, and before the switch-off there is none.
// With flip_back: required an off time too long for one Backlog refuses the
// cycle before anything is switched; a firmware without Backlog fails the
// switch-off with ErrUnknownCommand, and the safe cycle switches back on.
//
// What the docs warn about, and how the driver deals with it:
//
//   - "A Backlog command without an argument clears an possible existing
//     Backlog queue", and then Power1 ON never runs and the power stays
//     off. The driver never sends an empty Backlog, and DisarmFlipBack
//     does not clear the queue either: what is left of our Backlog can only
//     switch the outlet on, while clearing would also drop commands that
//     others (Home Assistant, rules) queued. Anything else on the network
//     that sends an empty Backlog during the off time defeats the flip-back;
//     our own switch-on at the end of the cycle still restores power.
//   - The queue is shared: a non-empty Backlog from elsewhere is appended
//     and waits behind our Delay. Cycles are short, and the Cycler runs one
//     cycle per outlet at a time.
//   - Delay takes 2…3600 tenths of a second (0.2 s to 6 min); the driver
//     rounds the off time up to tenths and chains as many Delays as needed.
//     A Backlog holds at most 30 commands, so with Power OFF and Power ON
//     the off time is at most 28 × 360 s; a longer one is refused with
//     actuator.ErrFlipBackUnsupported and the cycle runs without it.
//   - Between Backlog commands Tasmota waits SetOption34 (200 ms by
//     default), so the outlet stays off a little longer than asked, never
//     shorter.
//   - The queue lives in RAM: if the plug itself reboots during the off
//     time, PowerOnState decides the relay (default: the saved state).
package tasmota
