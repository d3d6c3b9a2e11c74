package shelly

import (
	"context"
	"io"
	"log"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/mdns"
)

// Found is a Shelly device that answered an mDNS query.
type Found struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	// Name is the device's mDNS instance name, e.g. shellyplus1-a8032ab12345.
	Name string `json:"name"`
	// Generation is from the TXT record gen= (Gen2+); 1 when absent.
	Generation int `json:"generation"`
	// App is the TXT record app= (Gen2+: Plus1, PlusPlugS, Pro4PM).
	App string `json:"app,omitempty"`
}

// MDNSOptions tunes DiscoverMDNS.
type MDNSOptions struct {
	// Interface to query on; nil lets the system choose.
	Interface *net.Interface
	Timeout   time.Duration // default 3s
}

// DiscoverMDNS asks mDNS for Shelly devices: Gen2+ announce _shelly._tcp,
// Gen1 only _http._tcp under a host name starting with "shelly", so both
// are asked (each for half the timeout) and the second filtered by name.
// Answers are merged by address.
func DiscoverMDNS(ctx context.Context, opt MDNSOptions) ([]Found, error) {
	if opt.Timeout <= 0 {
		opt.Timeout = 3 * time.Second
	}
	byAddr := map[string]Found{}
	var firstErr error
	// One query after the other: two at once share port 5353 and lose
	// answers to each other.
	for _, service := range []string{"_shelly._tcp", "_http._tcp"} {
		// hashicorp/mdns hands an entry over as soon as it is complete but
		// goes on filling it in from later answers until the query ends, so
		// entries are only collected here and read once QueryContext has
		// returned (reading them earlier is a data race).
		entries := make(chan *mdns.ServiceEntry, 64)
		done := make(chan struct{})
		var got []*mdns.ServiceEntry
		go func() {
			defer close(done)
			for e := range entries {
				got = append(got, e)
			}
		}()
		err := mdns.QueryContext(ctx, &mdns.QueryParam{Service: service, Domain: "local", Timeout: opt.Timeout / 2,
			Interface: opt.Interface, Entries: entries, DisableIPv6: true, Logger: log.New(io.Discard, "", 0)})
		close(entries)
		<-done
		for _, e := range got {
			f, ok := foundFrom(e, service)
			if !ok {
				continue
			}
			key := net.JoinHostPort(f.Host, strconv.Itoa(f.Port))
			if old, seen := byAddr[key]; !seen || old.App == "" && f.App != "" {
				byAddr[key] = f
			}
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	out := make([]Found, 0, len(byAddr))
	for _, f := range byAddr {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) > 0 {
		return out, nil
	}
	return out, firstErr
}

// foundFrom keeps an answer that is a Shelly device.
func foundFrom(e *mdns.ServiceEntry, service string) (Found, bool) {
	name, _, _ := strings.Cut(e.Name, ".")
	if e.AddrV4 == nil || e.Port == 0 {
		return Found{}, false
	}
	if service == "_http._tcp" && !strings.HasPrefix(strings.ToLower(name), "shelly") {
		return Found{}, false
	}
	f := Found{Host: e.AddrV4.String(), Port: e.Port, Name: name, Generation: 1}
	for _, kv := range e.InfoFields {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "gen":
			if n, err := strconv.Atoi(v); err == nil {
				f.Generation = n
			}
		case "app":
			f.App = v
		}
	}
	return f, true
}
