// Package actuator owns everything that changes the world: the Cycler that
// every trigger goes through, the Plug interface that plug drivers implement
// (actuator/kasa, ...), host reset, the webhook handler and file triggers.
package actuator
