package ipmi

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/app"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/rmcpplus"
	"github.com/bougou/go-ipmi/pkg/types"
)

// FuzzBMCAnswer feeds arbitrary datagrams, as a BMC (or anyone on its
// network) could send them, to go-ipmi's decoder for each answer this
// driver waits for, and maps what decodes onto our status. A panic here
// would be a panic in our process; run() recovers from one, but the
// decoder should not need it.
func FuzzBMCAnswer(f *testing.F) {
	// Seeds: RMCP + IPMI 1.5 session-less Get Channel Authentication
	// Capabilities answer, an RMCP+ Open Session answer and a 1.5 chassis
	// status answer, as ipmi_sim sends them.
	f.Add([]byte{0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
		0x81, 0x1c, 0x63, 0x20, 0x00, 0x38, 0x00, 0x01, 0x80, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x5b})
	f.Add([]byte{0x06, 0x00, 0xff, 0x07, 0x06, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0x24, 0x00,
		0x00, 0x00, 0x04, 0x00, 0xa3, 0xa2, 0xa1, 0xa0, 0x02, 0, 0, 0,
		0, 0, 0, 8, 1, 0, 0, 0, 1, 0, 0, 8, 1, 0, 0, 0, 2, 0, 0, 8, 1, 0, 0, 0})
	f.Add([]byte{0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b,
		0x81, 0x04, 0x7b, 0x20, 0x04, 0x01, 0x00, 0x01, 0x00, 0x00, 0xda})
	f.Add([]byte{0x06, 0x00, 0xff, 0x07, 0x06, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0x00, 0x04})
	f.Fuzz(func(t *testing.T, b []byte) {
		done := make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				panic(fmt.Sprintf("HANG on %x", b))
			}
		}()
		defer close(done)
		s, err := client.NewClient("127.0.0.1", 623, "u", "p")
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		var caps app.GetChannelAuthenticationCapabilitiesResponse
		_ = s.ParseRmcpResponse(ctx, b, types.CommandGetChannelAuthCapabilities, &caps)
		var open rmcpplus.OpenSessionResponse
		_ = s.ParseRmcpResponse(ctx, b, types.Command{Name: "Open Session"}, &open)
		rakp2 := rmcpplus.RAKPMessage2{AuthAlg: types.AuthAlg_HMAC_SHA1}
		_ = s.ParseRmcpResponse(ctx, b, types.Command{Name: "RAKP 2"}, &rakp2)
		var st chassis.GetChassisStatusResponse
		if err := s.ParseRmcpResponse(ctx, b, types.CommandGetChassisStatus, &st); err == nil {
			got := statusOf(&st, nil)
			if len(got.Outlets) != 1 || got.Outlets[0].On != st.PowerIsOn {
				t.Fatalf("status %+v from %+v", got, st)
			}
			if h := bmcStatusOf(&st).Health; (h == "OK") != (len(faults(&st)) == 0) {
				t.Fatalf("health %q with faults %v", h, faults(&st))
			}
		}
		var dev app.GetDeviceIDResponse
		if err := s.ParseRmcpResponse(ctx, b, types.CommandGetDeviceID, &dev); err == nil {
			_ = statusOf(&chassis.GetChassisStatusResponse{}, &dev)
		}
	})
}
