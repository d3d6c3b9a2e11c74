// Package ipmi switches a server's power through its BMC over IPMI v2.0
// RMCP+ ("lanplus", UDP 623), with github.com/bougou/go-ipmi as the wire
// library: Get Chassis Status for the power state, Chassis Control for
// power up, power down, power cycle (done by the BMC itself:
// actuator.DeviceCycler) and the ACPI soft shutdown (power_off: soft).
//
// Every call opens its own session (Get Channel Authentication
// Capabilities, Open Session, RAKP 1-4, Set Session Privilege Level), sends
// its commands and closes the session, under the plug's timeout: a BMC that
// stops answering costs at most that timeout, never a hang, and no session
// is left to expire on a BMC that allows only a few. Calls to one BMC are
// serialised.
//
// Completion codes and RMCP+ status codes are named from the IPMI v2.0
// specification (errors.go); a wrong user, a wrong password, a privilege
// the account does not have and a cipher suite the BMC does not offer each
// get their own error.
package ipmi
