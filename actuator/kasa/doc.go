// Package kasa drives TP-Link Kasa and Tapo smart plugs and power strips: the
// legacy XOR transport on TCP 9999, KLAP over HTTP, the legacy IOT JSON API
// and the newer SMART API, and UDP discovery on ports 9999 and 20002.
// Client implements actuator.Plug.
package kasa
