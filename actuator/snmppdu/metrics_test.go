package snmppdu_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/snmppdu"
	"github.com/restartinator/restartinator/actuator/snmppdu/pdusim"
	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/clock"
	"github.com/restartinator/restartinator/internal/event"
)

// The PDU's phase current and device power reach /metrics as input meters,
// with HELP saying they are not one outlet's draw.
func TestLoadMetrics(t *testing.T) {
	register()
	sim := startSim(t, pdusim.Options{Outlets: 4, Amperes: 0.5})
	sim.SetOutlet(4, "spare", false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	plugs := actuator.NewPlugs(ctx, actuator.Factory(clock.Real{}, slog.New(slog.DiscardHandler)), time.Hour, event.Discard{}, clock.NewFake(t0), slog.New(slog.DiscardHandler))
	defer plugs.Close()
	if err := plugs.Apply([]config.PlugConfig{{Name: "pdu", Type: "snmp_pdu", Host: sim.Host(), Port: sim.Port(),
		Timeout: config.Duration(time.Second), Settings: &snmppdu.Settings{Version: "2c"}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if last, ok := plugs.Last("pdu"); ok && last.Status.Model != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the PDU was not polled")
		}
		time.Sleep(5 * time.Millisecond)
	}
	want := `
# HELP restartinator_plug_input_current_amperes Current a PDU measures on a phase or bank (or the whole device) at the last poll. PDUs metered this way do not meter single outlets: this is not one device's draw.
# TYPE restartinator_plug_input_current_amperes gauge
restartinator_plug_input_current_amperes{input="phase/bank 1",plug="pdu"} 1.5
# HELP restartinator_plug_input_power_watts Power a PDU measures for the whole device (or a phase or bank) at the last poll. Not per outlet: this is not one device's draw.
# TYPE restartinator_plug_input_power_watts gauge
restartinator_plug_input_power_watts{input="device",plug="pdu"} 345
`
	if err := testutil.CollectAndCompare(plugs, strings.NewReader(want), "restartinator_plug_input_current_amperes", "restartinator_plug_input_power_watts"); err != nil {
		t.Fatal(err)
	}
}
