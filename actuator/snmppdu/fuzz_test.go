package snmppdu

import (
	"testing"

	"github.com/gosnmp/gosnmp"
)

// seedAnswer is a GetResponse as an rPDU sends it for a walk of states.
func seedAnswer(t testing.TB, vars []gosnmp.SnmpPDU) []byte {
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "private", PDUType: gosnmp.GetResponse,
		RequestID: 7, Variables: vars, Logger: gosnmp.NewLogger(nil)}
	b, err := p.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzDecodeAnswer feeds arbitrary datagrams through gosnmp's decoder and
// our value decoders and outlet parser, as a hostile or broken agent's
// answers would arrive: nothing may panic, and every outlet parsed must
// carry the PDU's number.
func FuzzDecodeAnswer(f *testing.F) {
	fam := Families[0]
	f.Add(seedAnswer(f, []gosnmp.SnmpPDU{
		{Name: "." + fam.StatusColumn + ".1", Type: gosnmp.Integer, Value: 1},
		{Name: "." + fam.StatusColumn + ".2", Type: gosnmp.Integer, Value: 2},
		{Name: "." + fam.NameColumn + ".1", Type: gosnmp.OctetString, Value: []byte("web-1")},
	}))
	f.Add(seedAnswer(f, []gosnmp.SnmpPDU{
		{Name: "." + sysObjectID, Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.4.1.318.1.3.4.5"},
		{Name: "." + fam.LoadColumn + ".1", Type: gosnmp.Gauge32, Value: uint(24)},
		{Name: "." + fam.StatusColumn + ".3", Type: gosnmp.NoSuchInstance},
	}))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
		pkt, err := dec.SnmpDecodePacket(b)
		if err != nil || pkt == nil {
			return
		}
		for _, v := range pkt.Variables {
			_, _ = intValue(v)
			_, _ = stringValue(v)
			if id, err := oidValue(v); err == nil {
				_, _ = FamilyOf(id)
			}
		}
		for _, f := range Families {
			outs, err := parseOutlets(f, pkt.Variables, pkt.Variables)
			if err != nil {
				continue
			}
			for _, o := range outs {
				if o.ID == "" || o.Index < 0 {
					t.Fatalf("outlet without its number: %+v", o)
				}
			}
		}
	})
}
