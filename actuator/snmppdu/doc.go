// Package snmppdu switches the outlets of switched rack PDUs over SNMP
// (v1, v2c and v3): status from the outlet state column, on and off through
// the outlet control column, and a power cycle done by the PDU itself with
// its reboot command and reboot duration (actuator.DeviceCycler). PDU
// families are entries of a table keyed by sysObjectID (families.go); a PDU
// whose sysObjectID is not in it is refused, naming it. The simulator is in
// pdusim.
package snmppdu
