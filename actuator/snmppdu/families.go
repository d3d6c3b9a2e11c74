package snmppdu

import (
	"fmt"
	"slices"
	"strings"
)

// Family is how one line of PDUs lays out its outlets in its MIB: the
// columns (OIDs without the outlet number) and the INTEGER codes. Adding a
// vendor is adding an entry to Families.
type Family struct {
	// Name says which MIB this is, for status and errors.
	Name string
	// SysObjectIDs are the sysObjectID.0 values (without a leading dot) of
	// the PDUs that speak it.
	SysObjectIDs []string
	// StatusColumn is read for the outlet state: StateOn and StateOff.
	StatusColumn      string
	StateOn, StateOff int
	// NameColumn holds the outlet names users may select outlets by.
	NameColumn string
	// ControlColumn is written with CmdOn, CmdOff or CmdReboot.
	ControlColumn            string
	CmdOn, CmdOff, CmdReboot int
	// RebootDurationColumn holds, per outlet, how many seconds the reboot
	// command keeps it off ("" when the MIB has none).
	RebootDurationColumn string
	// LoadColumn is the device's current per phase or bank in tenths of an
	// ampere ("" when none); it is not per outlet.
	LoadColumn string
	// PowerWattsOID is the whole device's power in watts ("" when none).
	PowerWattsOID string
}

// APC PowerNet-MIB columns.
const (
	apc = "1.3.6.1.4.1.318.1.1."
	// sPDUOutletControlTable (MasterSwitch): sPDUOutletCtl reads the state
	// (outletOn 1, outletOff 2) and takes outletOn 1, outletOff 2,
	// outletReboot 3; sPDUOutletCtlName is the name.
	sPDUOutletCtl     = apc + "4.4.2.1.3"
	sPDUOutletCtlName = apc + "4.4.2.1.4"
	// sPDUOutletConfigTable: sPDUOutletRebootDuration (seconds).
	sPDUOutletRebootDuration = apc + "4.5.2.1.5"
	// rPDUOutletControlTable: rPDUOutletControlOutletName and
	// rPDUOutletControlOutletCommand (immediateOn 1, immediateOff 2,
	// immediateReboot 3; reading it gives immediateOn or immediateOff).
	rPDUOutletControlOutletName    = apc + "12.3.3.1.1.2"
	rPDUOutletControlOutletCommand = apc + "12.3.3.1.1.4"
	// rPDUOutletConfigTable: rPDUOutletConfigRebootDuration (seconds).
	rPDUOutletConfigRebootDuration = apc + "12.3.4.1.1.6"
	// rPDUOutletStatusTable: rPDUOutletStatusOutletState (outletStatusOn 1,
	// outletStatusOff 2).
	rPDUOutletStatusOutletState = apc + "12.3.5.1.1.4"
	// rPDULoadStatusLoad: tenths of amperes per phase or bank.
	rPDULoadStatusLoad = apc + "12.2.3.1.1.2"
	// rPDUIdentDevicePowerWatts.0.
	rPDUIdentDevicePowerWatts = apc + "12.1.16.0"
)

// Families are the PDU lines this driver knows, told apart by sysObjectID as
// fence_apc_snmp does.
var Families = []Family{
	{
		// AP79xx rack PDUs (sysObjectID masterSwitchrPDU).
		Name:                 "APC rPDU (PowerNet-MIB rPDUOutlet tables)",
		SysObjectIDs:         []string{"1.3.6.1.4.1.318.1.3.4.5"},
		StatusColumn:         rPDUOutletStatusOutletState,
		StateOn:              1,
		StateOff:             2,
		NameColumn:           rPDUOutletControlOutletName,
		ControlColumn:        rPDUOutletControlOutletCommand,
		CmdOn:                1,
		CmdOff:               2,
		CmdReboot:            3,
		RebootDurationColumn: rPDUOutletConfigRebootDuration,
		LoadColumn:           rPDULoadStatusLoad,
		PowerWattsOID:        rPDUIdentDevicePowerWatts,
	},
	{
		// AP8xxx and AP7900B with rpdu2g firmware v6+: fence_apc_snmp reads
		// their state from the MasterSwitch column (which the LibreNMS
		// recordings of AP7900B and AP8959 carry) and switches through the
		// rPDU control column.
		Name:                 "APC rPDU2g (state from sPDUOutletCtl, control through rPDUOutletControlOutletCommand)",
		SysObjectIDs:         []string{"1.3.6.1.4.1.318.1.3.4.6", "1.3.6.1.4.1.318.1.3.4.8", "1.3.6.1.4.1.318.1.3.4.9"},
		StatusColumn:         sPDUOutletCtl,
		StateOn:              1,
		StateOff:             2,
		NameColumn:           sPDUOutletCtlName,
		ControlColumn:        rPDUOutletControlOutletCommand,
		CmdOn:                1,
		CmdOff:               2,
		CmdReboot:            3,
		RebootDurationColumn: rPDUOutletConfigRebootDuration,
		LoadColumn:           rPDULoadStatusLoad,
		PowerWattsOID:        rPDUIdentDevicePowerWatts,
	},
	{
		// MasterSwitch AP9211/AP9212, AP96xx (masterSwitch, masterSwitchV2,
		// masterSwitchVM).
		Name:                 "APC MasterSwitch (PowerNet-MIB sPDUOutletControlTable)",
		SysObjectIDs:         []string{"1.3.6.1.4.1.318.1.3.4.1", "1.3.6.1.4.1.318.1.3.4.2", "1.3.6.1.4.1.318.1.3.4.3"},
		StatusColumn:         sPDUOutletCtl,
		StateOn:              1,
		StateOff:             2,
		NameColumn:           sPDUOutletCtlName,
		ControlColumn:        sPDUOutletCtl,
		CmdOn:                1,
		CmdOff:               2,
		CmdReboot:            3,
		RebootDurationColumn: sPDUOutletRebootDuration,
	},
}

// FamilyOf finds the family of a sysObjectID, or says which it is and what
// is known.
func FamilyOf(sysObjectID string) (Family, error) {
	id := strings.TrimPrefix(sysObjectID, ".")
	for _, f := range Families {
		if slices.Contains(f.SysObjectIDs, id) {
			return f, nil
		}
	}
	var known []string
	for _, f := range Families {
		known = append(known, f.Name+" ("+strings.Join(f.SysObjectIDs, ", ")+")")
	}
	return Family{}, fmt.Errorf("%w: the agent's sysObjectID is %s, which is not a PDU this driver knows; known: %s",
		ErrUnknownPDU, sysObjectID, strings.Join(known, "; "))
}
