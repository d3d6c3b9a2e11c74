// Package redfish switches a server's power through its BMC's Redfish
// service (DMTF DSP0266): PowerState of the ComputerSystem, and the
// ComputerSystem.Reset action — PowerCycle, done by the BMC itself, when the
// service lists it (actuator.DeviceCycler), else ForceOff and On through the
// safe cycle. Session or basic authentication; TLS verified against the
// system roots, a CA file, or a pinned SHA-256 certificate fingerprint. The
// simulator is in redfishsim.
package redfish
