// Package mqtt publishes what restartinator sees to an MQTT broker: each
// device's state, reachability and attributes on retained topics, its events
// as they happen, and Home Assistant MQTT discovery configs so every device
// appears in Home Assistant as a device with entities (connectivity, state,
// cycles, last cycle, probe latency, outlet relay and power, a Power-cycle
// button). With commands on, a press of that button (a publish to
// <topic_prefix>/<device>/cycle/set) cycles the device through the same path
// as the manual API and the answer is published on …/cycle/result.
//
// Topics (prefix "restartinator" by default, device names slugged):
//
//	restartinator/status                  online | offline (retained; offline is the Last Will)
//	restartinator/guard                   {"holding":…,"reason":…,"dry_run":…} (retained)
//	restartinator/event                   events that name no device (not retained)
//	restartinator/<device>/state          unknown | up | failing | cycling | booting | held | gave_up
//	restartinator/<device>/up             ON | OFF (the last probe)
//	restartinator/<device>/attributes     JSON: failures, last probe, last cycle, cycles in window, …
//	restartinator/<device>/relay          ON | OFF (the outlet powering it)
//	restartinator/<device>/power          watts, when the plug is metered
//	restartinator/<device>/energy         watt-hours, when the plug is metered
//	restartinator/<device>/event          JSON events: offline, cycle_started, recovered, gave_up, … (not retained)
//	restartinator/<device>/cycle/set      a publish here power-cycles the device (commands: true)
//	restartinator/<device>/cycle/result   the answer, as the manual API's JSON (not retained)
//
// The client is github.com/eclipse/paho.mqtt.golang (MQTT 3.1.1) rather
// than github.com/eclipse/paho.golang: both are Eclipse Paho projects,
// both keep github.com/prometheus/common at the version the project pins,
// but paho.golang speaks only MQTT 5, and 3.1.1 is what every broker a home
// lab runs accepts (older Mosquitto builds, the brokers built into NAS
// systems and routers). The connection loop is ours, not the library's
// auto-reconnect: one goroutine owns the connection, so retained state is
// republished in order after every reconnect, backoff runs on the project's
// clock, and a refused login is said once, plainly, instead of retried
// silently.
package mqtt
