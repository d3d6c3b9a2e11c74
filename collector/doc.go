// Package collector owns the probers, the per-device supervisor state machine
// and the Prometheus collector that exposes what they observed.
package collector
