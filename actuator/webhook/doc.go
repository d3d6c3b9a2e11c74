// Package webhook is the Alertmanager webhook receiver: it decodes
// Alertmanager's payload (version 4), matches each firing alert against the
// configured routes and acts through Actions (cycle a device, reset this
// host, or only notify). Alertmanager repeats notifications and HA peers send
// duplicates, so an alert (fingerprint + startsAt) acts at most once, and
// that is remembered in the state file across restarts.
//
// The handler assumes the request is already authenticated; the caller wraps
// it in the action auth middleware.
package webhook
