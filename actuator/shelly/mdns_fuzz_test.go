package shelly

import (
	"net"
	"strings"
	"testing"

	"github.com/hashicorp/mdns"
)

// FuzzMDNSEntry feeds arbitrary announcements (instance name, port, TXT
// fields) through the filter that decides what is a Shelly: never a panic,
// and what it keeps has an address, a port and a generation of at least 1
// unless the TXT said otherwise.
func FuzzMDNSEntry(f *testing.F) {
	f.Add("shellyplus1-a8032ab12345._shelly._tcp.local.", 80, "gen=2|app=Plus1|ver=1.4.4", true)
	f.Add("shelly1-98CDAC1F2E3D._http._tcp.local.", 80, "", false)
	f.Add("office-printer._http._tcp.local.", 631, "rp=ipp", false)
	f.Add("shellypro4pm-x._shelly._tcp.local.", 80, "gen=x|app=", true)
	f.Fuzz(func(t *testing.T, name string, port int, txt string, gen2 bool) {
		e := &mdns.ServiceEntry{Name: name, Port: port, AddrV4: net.IPv4(127, 0, 0, 1), InfoFields: strings.Split(txt, "|")}
		service := "_http._tcp"
		if gen2 {
			service = "_shelly._tcp"
		}
		got, ok := foundFrom(e, service)
		if !ok {
			return
		}
		if got.Host != "127.0.0.1" || got.Port != port || port == 0 {
			t.Fatalf("kept %+v from %+v", got, e)
		}
		if service == "_http._tcp" && !strings.HasPrefix(strings.ToLower(got.Name), "shelly") {
			t.Fatalf("kept a non-Shelly HTTP service: %+v", got)
		}
	})
}
