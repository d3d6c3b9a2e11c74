package kasa

import (
	"net"
	"strings"
	"testing"

	"github.com/restartinator/restartinator/actuator/kasa/internal/wire"
)

// What the port-20002 answer says decides the transport; devices that need
// one we do not speak are listed with a sentence saying so.
func TestParseTDP(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		protocol     string // "" when unsupported
		family, enc  string
		lv           int
		note         string
	}{
		{"KLAP SMART lv 2", `{"device_type":"SMART.TAPOPLUG","mgt_encrypt_schm":{"encrypt_type":"KLAP","http_port":80,"is_support_https":false,"lv":2}}`,
			"klap", "SMART", "KLAP", 2, ""},
		{"KLAP IOT", `{"device_type":"IOT.SMARTPLUGSWITCH","mgt_encrypt_schm":{"encrypt_type":"KLAP","http_port":80,"is_support_https":false}}`,
			"klap", "IOT", "KLAP", 0, ""},
		{"AES SMART lv 2", `{"device_type":"SMART.KASAPLUG","mgt_encrypt_schm":{"encrypt_type":"AES","http_port":80,"is_support_https":false,"lv":2}}`,
			"aes", "SMART", "AES", 2, ""},
		{"AES SMART without lv", `{"device_type":"SMART.TAPOPLUG","mgt_encrypt_schm":{"encrypt_type":"AES","http_port":80,"is_support_https":false}}`,
			"aes", "SMART", "AES", 0, ""},
		{"SSL-AES camera", `{"device_type":"SMART.IPCAMERA","mgt_encrypt_schm":{"encrypt_type":"AES","http_port":443,"is_support_https":true,"lv":2}}`,
			"", "SMART", "AES", 2, "SSL-AES"},
		{"KLAP over HTTPS", `{"device_type":"SMART.TAPOPLUG","mgt_encrypt_schm":{"encrypt_type":"KLAP","http_port":4433,"is_support_https":true}}`,
			"", "SMART", "KLAP", 0, "KLAP over HTTPS"},
		{"TPAP in encrypt_info", `{"device_type":"SMART.TAPOPLUG","mgt_encrypt_schm":{"is_support_https":true},"encrypt_info":{"sym_schm":"AES","key":"","data":""},"encrypt_type":["3"]}`,
			"", "SMART", "AES", 3, "TPAP"},
		{"TPAP named", `{"device_type":"SMART.TAPOPLUG","mgt_encrypt_schm":{"encrypt_type":"TPAP","is_support_https":false}}`,
			"", "SMART", "TPAP", 0, "TPAP"},
		{"no scheme", `{"device_type":"SMART.TAPOPLUG"}`, "", "SMART", "", 0, "did not say its encryption"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := []byte(`{"error_code":0,"result":` + tc.answer + `}`)
			d, err := parseDiscovery(wire.TDPResponse(payload, 0), &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 20002})
			if err != nil {
				t.Fatal(err)
			}
			if d.Protocol != tc.protocol || d.Supported != (tc.protocol != "") || d.Family != tc.family || d.Encryption != tc.enc || d.LoginVersion != tc.lv {
				t.Fatalf("= %+v", d)
			}
			if tc.note == "" && d.Note != "" || !strings.Contains(d.Note, tc.note) {
				t.Fatalf("note %q, want one saying %q", d.Note, tc.note)
			}
		})
	}
}

func FuzzParseDiscovery(f *testing.F) {
	f.Add(wire.TDPResponse([]byte(`{"error_code":0,"result":{"device_type":"SMART.TAPOPLUG","mgt_encrypt_schm":{"encrypt_type":"AES","lv":2}}}`), 0))
	f.Add(wire.TDPResponse([]byte(`{"result":{"encrypt_type":["1","2","x"],"encrypt_info":{"sym_schm":"AES"}}}`), 0))
	f.Add(wire.XOREncrypt(nil, []byte(`{"system":{"get_sysinfo":{"model":"HS100","relay_state":1}}}`)))
	f.Add([]byte{2, 0, 0, 1})
	from := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9999}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseDiscovery(b, from)
		if err != nil {
			return
		}
		if d.Supported != (d.Protocol != "") || d.Supported == (d.Note != "") {
			t.Fatalf("supported %v, protocol %q, note %q", d.Supported, d.Protocol, d.Note)
		}
	})
}
