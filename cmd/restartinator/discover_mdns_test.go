package main

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"

	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
)

// zones answers for several mDNS services at once.
type zones []mdns.Zone

func (z zones) Records(q dns.Question) []dns.RR {
	var out []dns.RR
	for _, one := range z {
		out = append(out, one.Records(q)...)
	}
	return out
}

// discover finds a Kasa plug by broadcast and Shelly devices by mDNS, the
// way they announce themselves (Gen2+ _shelly._tcp with gen/app in TXT, Gen1
// only _http._tcp under its shelly… host name), and leaves out other HTTP
// services. The mDNS server and the query stay on the loopback interface.
func TestDiscoverFindsShellyByMDNS(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatalf("no loopback interface: %v", err)
	}
	ip := []net.IP{net.ParseIP("127.0.0.1")}
	// One responder per device, as on a real network: each device answers
	// for itself, in a message of its own.
	devices := map[string]zones{}
	for _, s := range []struct {
		instance, service string
		port              int
		txt               []string
	}{
		{"shellyplus1-a8032ab12345", "_shelly._tcp", 8081, []string{"gen=2", "app=Plus1", "ver=1.4.4"}},
		{"shellyplus1-a8032ab12345", "_http._tcp", 8081, nil},
		{"shelly1-98CDAC1F2E3D", "_http._tcp", 8082, nil},
		{"office-printer", "_http._tcp", 8083, nil},
	} {
		svc, err := mdns.NewMDNSService(s.instance, s.service, "", s.instance+".local.", s.port, ip, s.txt)
		if err != nil {
			t.Fatal(err)
		}
		devices[s.instance] = append(devices[s.instance], svc)
	}
	for name, z := range devices {
		srv, err := mdns.NewServer(&mdns.Config{Zone: z, Iface: lo})
		if err != nil {
			t.Fatalf("mDNS responder for %s on lo: %v", name, err)
		}
		t.Cleanup(func() { srv.Shutdown() })
	}
	kp := startKasaSim(t, kasasim.Options{Model: "HS110"})

	code, out, logs := runKasa(t, context.Background(), "discover", "--broadcast", kp.Addr(), "--mdns.interface", "lo", "--timeout", "1s", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, logs)
	}
	var found []map[string]any
	if err := json.Unmarshal([]byte(out), &found); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	byName := map[string]map[string]any{}
	kasaSeen := false
	for _, f := range found {
		if f["type"] == "shelly" {
			byName[f["name"].(string)] = f
		} else if f["host"] == "127.0.0.1" && strings.HasPrefix(f["model"].(string), "HS110") {
			kasaSeen = true
		}
	}
	if !kasaSeen {
		t.Errorf("the Kasa plug is missing: %s", out)
	}
	if g2 := byName["shellyplus1-a8032ab12345"]; g2 == nil || g2["generation"] != 2.0 || g2["app"] != "Plus1" || g2["port"] != 8081.0 {
		t.Errorf("Gen2 device: %v", g2)
	}
	if g1 := byName["shelly1-98CDAC1F2E3D"]; g1 == nil || g1["generation"] != 1.0 || g1["port"] != 8082.0 {
		t.Errorf("Gen1 device: %v", g1)
	}
	if len(byName) != 2 {
		t.Errorf("want exactly the two Shelly devices (not the printer), got %v", byName)
	}

	code, text, _ := runKasa(t, context.Background(), "discover", "--broadcast", kp.Addr(), "--mdns.interface", "lo", "--timeout", "1s")
	if code != 0 || !strings.Contains(text, "shelly1-98CDAC1F2E3D") || !strings.Contains(text, "shelly/gen2") {
		t.Errorf("text output:\n%s", text)
	}
}
