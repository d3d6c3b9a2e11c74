package pdusim

import (
	"crypto/md5"  //nolint:gosec // RFC 3414 test vectors
	"crypto/sha1" //nolint:gosec // RFC 3414 test vectors
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/restartinator/restartinator/internal/clock"
)

// RFC 3414 appendix A.3: the password "maplesyrup" localised to the engine
// ID 00…02.
func TestLocalizedKeyRFC3414Vectors(t *testing.T) {
	engineID, _ := hex.DecodeString("000000000000000000000002")
	for _, tc := range []struct {
		name string
		key  []byte
		want string
	}{
		{"MD5 (A.3.1)", localizedKey(md5.New, "maplesyrup", engineID), "526f5eed9fcce26f8964c2930787d82b"},
		{"SHA (A.3.2)", localizedKey(sha1.New, "maplesyrup", engineID), "6695febc9288e36282235fc7151f128497b38f3f"},
	} {
		if got := hex.EncodeToString(tc.key); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// The keys we localise are the ones gosnmp, a manager we did not write,
// derives from the same passwords.
func TestKeysAgreeWithGosnmp(t *testing.T) {
	engineID := []byte{0x80, 0x00, 0x01, 0x3e, 0x03, 0x00, 0xc0, 0xb7, 0x5d, 0x01, 0x02}
	for _, u := range []User{
		{Name: "a", AuthProtocol: "MD5", AuthPassword: "auth-pass-1", PrivProtocol: "DES", PrivPassword: "priv-pass-1"},
		{Name: "b", AuthProtocol: "SHA", AuthPassword: "auth-pass-1", PrivProtocol: "AES", PrivPassword: "priv-pass-1"},
		{Name: "c", AuthProtocol: "SHA-256", AuthPassword: "auth-pass-1", PrivProtocol: "AES", PrivPassword: "priv-pass-1"},
	} {
		ours, err := newUSMUser(u, engineID)
		if err != nil {
			t.Fatal(err)
		}
		sp := &gosnmp.UsmSecurityParameters{AuthoritativeEngineID: string(engineID), AuthenticationProtocol: ours.auth.gosnmp,
			AuthenticationPassphrase: u.AuthPassword, PrivacyProtocol: gosnmp.AES, PrivacyPassphrase: u.PrivPassword}
		if ours.priv == privDES {
			sp.PrivacyProtocol = gosnmp.DES
		}
		if err := sp.InitSecurityKeys(); err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(sp.SecretKey) != hex.EncodeToString(ours.authKey) || hex.EncodeToString(sp.PrivacyKey[:16]) != hex.EncodeToString(ours.privKey) {
			t.Errorf("%s: keys differ from gosnmp's", u.Name)
		}
	}
}

func TestUserChecks(t *testing.T) {
	for _, tc := range []struct {
		u    User
		want string
	}{
		{User{Name: ""}, "1 to 32 characters"},
		{User{Name: "u", AuthPassword: "short"}, "at least 8"},
		{User{Name: "u", PrivPassword: "priv-pass-1"}, "privacy needs authentication"},
		{User{Name: "u", AuthProtocol: "SHA-512", AuthPassword: "auth-pass-1"}, "use MD5, SHA, SHA-224 or SHA-256"},
		{User{Name: "u", AuthPassword: "auth-pass-1", PrivProtocol: "3DES", PrivPassword: "priv-pass-1"}, "use DES or AES"},
		{User{Name: "u", AuthProtocol: "MD5"}, "needs an auth password"},
	} {
		_, err := Start(Options{Users: []User{tc.u}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.u, err, tc.want)
		}
	}
}

// fuzzUsers are the users the fuzz target's agent knows.
var fuzzUsers = []User{
	{Name: "md5des", AuthProtocol: "MD5", AuthPassword: "auth-pass-1", PrivProtocol: "DES", PrivPassword: "priv-pass-1"},
	{Name: "shaaes", AuthProtocol: "SHA", AuthPassword: "auth-pass-1", PrivProtocol: "AES", PrivPassword: "priv-pass-1"},
	{Name: "plain"},
}

// seedV3 is a request a manager would send: encoded, encrypted and
// authenticated by gosnmp with the agent's localised keys.
func seedV3(t testing.TB, p *PDU, user string, level byte, pdu gosnmp.PDUType, vars []gosnmp.SnmpPDU) []byte {
	return requestV3(t, p, user, level, p.boots, p.engineTime(), pdu, vars)
}

// requestV3 is seedV3 claiming the agent's boots and time to be these.
func requestV3(t testing.TB, p *PDU, user string, level byte, boots, engineTime int, pdu gosnmp.PDUType, vars []gosnmp.SnmpPDU) []byte {
	u := p.users[user]
	req := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: gosnmp.SnmpV3MsgFlags(level | flagReportable),
		SecurityModel: gosnmp.UserSecurityModel, MsgID: 42, PDUType: pdu, RequestID: 7, Variables: vars,
		ContextEngineID: string(p.engineID), Logger: gosnmp.NewLogger(nil),
		SecurityParameters: u.securityParameters(p.engineID, boots, engineTime, []byte{0, 0, 0, 1, 0, 0, 0, 9}, level)}
	b, err := req.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzV3Message feeds arbitrary datagrams to the agent's SNMPv3 path (the
// message and USM parser, authentication, decryption, the scoped PDU): it
// must never panic, and whatever it answers must be an SNMPv3 message.
func FuzzV3Message(f *testing.F) {
	p, err := Start(Options{Outlets: 2, Users: fuzzUsers, Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		EngineID: []byte{0x80, 0x00, 0x01, 0x3e, 0x03, 0x00, 0xc0, 0xb7, 0x5d, 0x00, 0x01}})
	if err != nil {
		f.Fatal(err)
	}
	defer p.Close()
	get := []gosnmp.SnmpPDU{{Name: "1.3.6.1.2.1.1.2.0", Type: gosnmp.Null}}
	set := []gosnmp.SnmpPDU{{Name: ctlCommand(2), Type: gosnmp.Integer, Value: cmdImmediateOff}}
	f.Add(seedV3(f, p, "md5des", flagAuth|flagPriv, gosnmp.GetRequest, get))
	f.Add(seedV3(f, p, "shaaes", flagAuth|flagPriv, gosnmp.SetRequest, set))
	f.Add(seedV3(f, p, "shaaes", flagAuth, gosnmp.GetNextRequest, get))
	f.Add(seedV3(f, p, "plain", 0, gosnmp.GetBulkRequest, get))
	// Net-SNMP's engine discovery probe.
	f.Add(netsnmpProbe(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		out := p.handle(b)
		if out != nil && !isV3(out) && isV3(b) {
			t.Fatalf("answered a v3 message with a non-v3 one: %x", out)
		}
	})
}

func ctlCommand(n int) string { return controlEntry + "4." + strconv.Itoa(n) }

// netsnmpProbe is the engine discovery probe Net-SNMP 5.9's snmpget sends.
func netsnmpProbe(t testing.TB) []byte {
	b, err := hex.DecodeString("303e020103301102040b11ffd6020300ffe30401040201030410300e0400020100020100040004000400" +
		"301404000400a00e02046d46c9470201000201003000")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The fuzz seeds are requests the agent serves, so the fuzzer starts from
// the paths that matter: the probe gets its Report, the SET switches.
func TestV3SeedsAreServed(t *testing.T) {
	p, err := Start(Options{Outlets: 2, Users: fuzzUsers})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: gosnmp.NoAuthNoPriv,
		SecurityParameters: &gosnmp.UsmSecurityParameters{UserName: "x"}, Logger: gosnmp.NewLogger(nil)}
	rep, err := dec.SnmpDecodePacket(p.handle(netsnmpProbe(t)))
	if err != nil || rep.PDUType != gosnmp.Report || len(rep.Variables) != 1 || rep.Variables[0].Name != "."+usmStatsUnknownEngineIDs {
		t.Fatalf("discovery answer %+v %v", rep, err)
	}
	if got := rep.SecurityParameters.(*gosnmp.UsmSecurityParameters).AuthoritativeEngineID; got != string(p.engineID) {
		t.Fatalf("discovery gave engine ID %x, want %x", got, p.engineID)
	}
	set := []gosnmp.SnmpPDU{{Name: ctlCommand(2), Type: gosnmp.Integer, Value: cmdImmediateOff}}
	if p.handle(seedV3(t, p, "shaaes", flagAuth|flagPriv, gosnmp.SetRequest, set)) == nil || p.Outlets()[1].On {
		t.Fatal("the authPriv SET seed was not served")
	}
}

// RFC 3414 3.2 step 7b: the 150 s window around the agent's time, and
// boots that must match (2147483647 never does).
func TestTimeWindow(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p, err := Start(Options{Outlets: 2, Users: fuzzUsers, Clock: clk, EngineBoots: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	clk.Advance(1000 * time.Second)
	get := []gosnmp.SnmpPDU{{Name: "1.3.6.1.2.1.1.2.0", Type: gosnmp.Null}}
	for _, tc := range []struct {
		boots, time int
		inWindow    bool
	}{
		{7, 1000, true}, {7, 850, true}, {7, 1150, true}, {7, 849, false}, {7, 1151, false},
		{6, 1000, false}, {8, 1000, false}, {0, 0, false}, {0x7fffffff, 1000, false},
	} {
		for _, user := range []string{"md5des", "shaaes"} {
			before := p.Counter(usmStatsNotInTimeWindows)
			out := p.handle(requestV3(t, p, user, flagAuth|flagPriv, tc.boots, tc.time, gosnmp.GetRequest, get))
			reported := p.Counter(usmStatsNotInTimeWindows) > before
			if out == nil || reported == tc.inWindow {
				t.Errorf("%s boots %d time %d: answered %v, reported notInTimeWindow %v, want in window %v", user, tc.boots, tc.time, out != nil, reported, tc.inWindow)
			}
		}
	}
}

// RFC 3414 3.2 step 8 (and RFC 3826 3.3.2): an authentic message whose
// privacy parameters are not 8 octets cannot be decrypted: a Report of
// usmStatsDecryptionErrors, nothing switched. (A wrong privacy key is no
// decryption error: it decrypts to garbage and is dropped, see the Net-SNMP
// test.)
func TestDecryptionErrorReport(t *testing.T) {
	p, err := Start(Options{Outlets: 2, Users: fuzzUsers})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	u := p.users["shaaes"]
	set := []gosnmp.SnmpPDU{{Name: ctlCommand(1), Type: gosnmp.Integer, Value: cmdImmediateOff}}
	req := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: gosnmp.AuthPriv | gosnmp.Reportable,
		SecurityModel: gosnmp.UserSecurityModel, MsgID: 43, PDUType: gosnmp.SetRequest, RequestID: 8, Variables: set,
		ContextEngineID: string(p.engineID), Logger: gosnmp.NewLogger(nil),
		SecurityParameters: u.securityParameters(p.engineID, p.boots, p.engineTime(), []byte{1, 2, 3, 4, 5, 6, 7}, flagAuth|flagPriv)}
	b, err := req.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	out := p.handle(b)
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: gosnmp.NoAuthNoPriv,
		SecurityParameters: &gosnmp.UsmSecurityParameters{UserName: "x"}, Logger: gosnmp.NewLogger(nil)}
	rep, err := dec.SnmpDecodePacket(out)
	if err != nil || rep.PDUType != gosnmp.Report || rep.MsgID != 43 || len(rep.Variables) != 1 || rep.Variables[0].Name != "."+usmStatsDecryptionErrors {
		t.Fatalf("answer %+v %v", rep, err)
	}
	if p.Counter(usmStatsDecryptionErrors) != 1 || !p.Outlets()[0].On || p.Sets() != 0 {
		t.Fatal("counted wrong, or switched")
	}
}
