package redfish

import (
	"os"
	"testing"
)

// FuzzDecodeSystem feeds arbitrary bodies to the ComputerSystem, ActionInfo
// and error decoders as a broken or hostile BMC would send them: nothing may
// panic, a system we accept has a PowerState and a Reset target under
// /redfish/v1/, and an error sentence stays short.
func FuzzDecodeSystem(f *testing.F) {
	for _, p := range []string{
		"../../../shared/fixtures/redfish/public-rackmount1/Systems/437XR1138R2/index.json",
		"../../../shared/fixtures/redfish/public-telemetry/Systems/1/index.json",
		"../../../shared/fixtures/redfish/public-telemetry/Systems/1/ResetActionInfo/index.json",
	} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"Id":"1","PowerState":"On","Actions":{"#ComputerSystem.Reset":{"target":"/redfish/v1/Systems/1/Actions/ComputerSystem.Reset","ResetType@Redfish.AllowableValues":["On","PowerCycle"]}}}`))
	f.Add([]byte(`{"error":{"code":"Base.1.8.GeneralError","message":"x","@Message.ExtendedInfo":[{"MessageId":"Base.1.8.ResourceInUse","Message":"in use","Resolution":"wait"}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := decodeSystem(b); err == nil {
			if s.PowerState == "" || s.Actions.Reset == nil || len(s.Actions.Reset.Target) < len("/redfish/v1/") {
				t.Fatalf("accepted %+v", s)
			}
		}
		_, _ = decodeActionInfo(b)
		if msg := decodeError(b); len(msg) > 510 {
			t.Fatalf("error sentence of %d bytes", len(msg))
		}
	})
}
