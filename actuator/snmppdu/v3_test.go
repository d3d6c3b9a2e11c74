package snmppdu_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/snmppdu"
	"github.com/restartinator/restartinator/actuator/snmppdu/pdusim"
)

// Our driver over SNMPv3 against our simulator, for the four auth/priv
// pairs an APC card offers and the lower levels: status, switching by name
// and number, and a safe cycle through the PDU's own reboot.
func TestV3StatusSwitchAndSafeCycle(t *testing.T) {
	for _, tc := range []struct {
		user pdusim.User
		cfg  snmppdu.Config
	}{
		{pdusim.User{Name: "md5des", AuthProtocol: "MD5", AuthPassword: v3Auth, PrivProtocol: "DES", PrivPassword: v3Priv},
			snmppdu.Config{AuthProtocol: "MD5", PrivProtocol: "DES", AuthPassword: v3Auth, PrivPassword: v3Priv}},
		{pdusim.User{Name: "md5aes", AuthProtocol: "MD5", AuthPassword: v3Auth, PrivProtocol: "AES", PrivPassword: v3Priv},
			snmppdu.Config{AuthProtocol: "MD5", PrivProtocol: "AES", AuthPassword: v3Auth, PrivPassword: v3Priv}},
		{pdusim.User{Name: "shades", AuthProtocol: "SHA", AuthPassword: v3Auth, PrivProtocol: "DES", PrivPassword: v3Priv},
			snmppdu.Config{AuthProtocol: "SHA", PrivProtocol: "DES", AuthPassword: v3Auth, PrivPassword: v3Priv}},
		// The defaults: SHA and AES.
		{pdusim.User{Name: "shaaes", AuthPassword: v3Auth, PrivPassword: v3Priv},
			snmppdu.Config{AuthPassword: v3Auth, PrivPassword: v3Priv}},
		{pdusim.User{Name: "sha256", AuthProtocol: "SHA-256", AuthPassword: v3Auth},
			snmppdu.Config{AuthProtocol: "SHA-256", AuthPassword: v3Auth}},
		{pdusim.User{Name: "plain"}, snmppdu.Config{}},
	} {
		t.Run(tc.user.Name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Version, cfg.Username = "3", tc.user.Name
			r := newCycleRigWith(t, pdusim.Options{Outlets: 4, Users: []pdusim.User{tc.user}}, cfg)
			r.sim.SetOutlet(3, "db-server", true)
			ctx := context.Background()
			st, err := r.c.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Outlets) != 4 || st.Outlets[2].Alias != "db-server" || !strings.Contains(st.Protocol, "APC rPDU") {
				t.Fatalf("status %+v", st)
			}
			if err := r.c.Switch(ctx, "db-server", false); err != nil || r.sim.Outlets()[2].On {
				t.Fatalf("switch db-server off: %v", err)
			}
			if err := r.c.Switch(ctx, "3", true); err != nil || !r.sim.Outlets()[2].On {
				t.Fatalf("switch 3 on: %v", err)
			}
			done := r.start(ctx, "2", actuator.SafeCycleOptions{})
			r.ourClk.WaitForTimers(1)
			if o := r.sim.Outlets()[1]; o.On || !r.sim.Pending(2) {
				t.Fatalf("after the reboot command outlet 2 is %+v, want off with the PDU's timer pending", o)
			}
			r.simClk.Advance(5 * time.Second)
			r.ourClk.Advance(7 * time.Second)
			res := <-done
			if res.err != nil {
				t.Fatal(res.err, r.log.String())
			}
			if !res.rep.DeviceCycled || !res.rep.Verified || res.rep.DeviceOffTime != 5*time.Second || !r.sim.Outlets()[1].On {
				t.Errorf("report %+v", res.rep)
			}
		})
	}
}

// Wrong SNMPv3 credentials: the PDU's Report becomes an error that says
// what to check, and nothing is switched. (gosnmp drops the Report, which
// RFC 3414 sends unauthenticated, so the error cannot say which it was;
// Net-SNMP's tools can, see pdusim's tests.)
func TestV3WrongCredentials(t *testing.T) {
	user := pdusim.User{Name: "restartinator", AuthProtocol: "SHA", AuthPassword: v3Auth, PrivProtocol: "AES", PrivPassword: v3Priv}
	sim := startSim(t, pdusim.Options{Outlets: 2, Users: []pdusim.User{user}})
	for _, tc := range []struct {
		name string
		cfg  snmppdu.Config
		want string
	}{
		{"wrong auth password", snmppdu.Config{Username: user.Name, AuthPassword: "wrong-pass-1", PrivPassword: v3Priv}, "check username, password and auth_protocol"},
		{"wrong auth protocol", snmppdu.Config{Username: user.Name, AuthProtocol: "MD5", AuthPassword: v3Auth, PrivPassword: v3Priv}, "check username, password and auth_protocol"},
		{"unknown user", snmppdu.Config{Username: "nobody", AuthPassword: v3Auth, PrivPassword: v3Priv}, "check username, password and auth_protocol"},
		{"wrong priv password", snmppdu.Config{Username: user.Name, AuthPassword: v3Auth, PrivPassword: "wrong-pass-1"}, "privacy password gets no answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Version, cfg.Timeout = "3", 200*time.Millisecond
			c := client(t, sim, cfg)
			err := c.Switch(context.Background(), "1", false)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), sim.Addr()) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if sim.Sets() != 0 || !sim.Outlets()[0].On {
				t.Fatal("switched with wrong credentials")
			}
		})
	}
}
