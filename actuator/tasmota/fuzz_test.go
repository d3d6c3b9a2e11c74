package tasmota

import "testing"

// FuzzDecode feeds arbitrary answers to the decoders: each must return a
// value or an error, never panic. Seed corpus: testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"Status":{"Module":0,"DeviceName":"x","FriendlyName":["a","b"]},"StatusFWR":{"Version":"12.4.0(tasmota)"},"StatusSTS":{"POWER1":"ON","POWER2":"OFF"}}`))
	f.Add([]byte(`{"StatusSNS":{"ENERGY":{"Total":[0.1,0.2],"Power":[1,2],"Voltage":230}},"Status":{},"StatusSTS":{"POWER":"ON"}}`))
	f.Add([]byte(`{"WARNING":"Need user=<username>&password=<password>"}`))
	f.Add([]byte(`{"POWER":"OFF"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		Status0(b)
		EnergyOnly(b)
		if m, err := DecodeAnswer("Power1", b); err == nil {
			PowerStates(m)
			raw := map[string][]byte{}
			for k, v := range m {
				raw[k] = v
			}
			answerState("Power1", raw, 1)
			answerState("Power2", raw, 2)
		}
		checkJSON(200, string(b), b)
	})
}
