package mqtt

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/restartinator/restartinator/config"
	"github.com/restartinator/restartinator/internal/event"
	"github.com/restartinator/restartinator/notify/mqtt/mqtttest"
)

// TestTransports connects over each transport the config accepts to
// Debian's mosquitto, and checks what Home Assistant needs over each:
// discovery and state arrive, and a button press is answered. The test
// subscriber listens on the broker's plain listener, as Home Assistant
// on another connection would.
func TestTransports(t *testing.T) {
	ca := mqtttest.NewCA(t, "test CA")
	b := mqtttest.Start(t, mqtttest.Options{WebSockets: true, TLS: &mqtttest.TLS{Server: ca.Server("127.0.0.1", "localhost")}})
	// A proxy that serves the broker's WebSocket under /mqtt only, as a
	// reverse proxy in front of a broker does: it proves the path in the
	// URL is the one asked for.
	proxy := pathProxy(t, "/mqtt", b.WSURL())

	clientCA := mqtttest.NewCA(t, "client CA")
	mutual := mqtttest.Start(t, mqtttest.Options{TLS: &mqtttest.TLS{Server: ca.Server("127.0.0.1"), CAFile: clientCA.File, RequireCertificate: true}})
	client := clientCA.Client("restartinator")

	withCA := func(c *config.MQTTConfig) { c.TLSConfig.CAFile = ca.File }
	for _, tc := range []struct {
		name   string
		broker *mqtttest.Broker
		url    string
		edit   func(*config.MQTTConfig)
	}{
		{"mqtts with ca_file", b, b.MQTTSURL(), withCA},
		{"ssl scheme", b, strings.Replace(b.MQTTSURL(), "mqtts://", "ssl://", 1), withCA},
		{"tls scheme", b, strings.Replace(b.MQTTSURL(), "mqtts://", "tls://", 1), withCA},
		{"localhost by name", b, strings.Replace(b.MQTTSURL(), "127.0.0.1", "localhost", 1), withCA},
		{"client certificate", mutual, mutual.MQTTSURL(), func(c *config.MQTTConfig) {
			withCA(c)
			c.TLSConfig.CertFile, c.TLSConfig.KeyFile = client.CertFile, client.KeyFile
		}},
		{"ws", b, b.WSURL(), nil},
		{"ws with a path through a proxy", b, proxy + "/mqtt", nil},
		{"wss with a path", b, b.WSSURL() + "/mqtt", withCA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := "t" + slug(tc.name)
			sub := mqtttest.Subscribe(t, tc.broker.URL(), prefix+"/#")
			discovery := mqtttest.Subscribe(t, tc.broker.URL(), "homeassistant/sensor/"+prefix+"/#")
			var mu sync.Mutex
			var cycled []string
			r := startPublisher(t, tc.url, func(o *Options, c *config.MQTTConfig) {
				c.TopicPrefix, c.ClientID = prefix, prefix
				if tc.edit != nil {
					tc.edit(c)
				}
				o.Cycle = func(device string) CycleAnswer {
					mu.Lock()
					defer mu.Unlock()
					cycled = append(cycled, device)
					return CycleAnswer{Status: "started", Device: device}
				}
			})
			sub.Wait("state", waitLong, func(ms []mqtttest.Message) bool {
				return has(prefix+"/status", "online")(ms) && has(prefix+"/router/state", "up")(ms)
			})
			discovery.Wait("discovery", waitLong, hasTopic("homeassistant/sensor/"+prefix+"/router_state/config"))
			sub.Publish(prefix+"/router/cycle/set", "PRESS", false)
			ms := sub.Wait("the answer", waitLong, hasTopic(prefix+"/router/cycle/result"))
			last, _ := mqtttest.Last(ms, prefix+"/router/cycle/result")
			var a CycleAnswer
			if err := json.Unmarshal([]byte(last), &a); err != nil || a.Status != "started" {
				t.Errorf("answer %q (%v)", last, err)
			}
			mu.Lock()
			if len(cycled) != 1 || cycled[0] != "Router" {
				t.Errorf("cycled %v, want [Router]", cycled)
			}
			mu.Unlock()
			if got := testutil.ToFloat64(r.m.ConnectionAttempt.WithLabelValues("ok")); got != 1 {
				t.Errorf("ok attempts = %g", got)
			}
		})
	}
}

// TestTLSRefusals: a broker whose certificate cannot be trusted, or that
// wants a client certificate we do not give, is an error that says what to
// change (a log line and the metric), never a crash and never a silent
// fallback to an unchecked connection.
func TestTLSRefusals(t *testing.T) {
	ca := mqtttest.NewCA(t, "test CA")
	other := mqtttest.NewCA(t, "another CA")
	b := mqtttest.Start(t, mqtttest.Options{WebSockets: true, TLS: &mqtttest.TLS{Server: ca.Server("127.0.0.1")}})
	elsewhere := mqtttest.Start(t, mqtttest.Options{TLS: &mqtttest.TLS{Server: ca.Server("broker.example")}})
	mutual := mqtttest.Start(t, mqtttest.Options{TLS: &mqtttest.TLS{Server: ca.Server("127.0.0.1"), CAFile: ca.File, RequireCertificate: true}})
	stranger := other.Client("stranger")
	proxy := pathProxy(t, "/mqtt", b.WSURL())

	for _, tc := range []struct {
		name string
		url  string
		tls  commoncfgTLS
		want string
	}{
		{"wrong CA", b.MQTTSURL(), commoncfgTLS{ca: other.File}, "is not signed by a CA in mqtt.tls_config.ca_file"},
		{"no CA: the system's roots", b.MQTTSURL(), commoncfgTLS{}, "is not signed by a CA in mqtt.tls_config.ca_file"},
		{"wss wrong CA", b.WSSURL() + "/mqtt", commoncfgTLS{ca: other.File}, "is not signed by a CA in mqtt.tls_config.ca_file"},
		{"certificate for another name", elsewhere.MQTTSURL(), commoncfgTLS{ca: ca.File}, `the broker's TLS certificate is for broker.example, not 127.0.0.1`},
		{"no client certificate", mutual.MQTTSURL(), commoncfgTLS{ca: ca.File}, "the broker wants a client certificate"},
		{"client certificate of another CA", mutual.MQTTSURL(), commoncfgTLS{ca: ca.File, cert: stranger.CertFile, key: stranger.KeyFile}, "the broker did not accept our client certificate"},
		{"TLS to the plain port", strings.Replace(b.URL(), "mqtt://", "mqtts://", 1), commoncfgTLS{ca: ca.File}, "does not speak TLS"},
		{"ws wrong path", proxy + "/wrong", commoncfgTLS{}, "did not accept the WebSocket upgrade"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startPublisher(t, tc.url, func(o *Options, c *config.MQTTConfig) {
				c.TLSConfig.CAFile, c.TLSConfig.CertFile, c.TLSConfig.KeyFile = tc.tls.ca, tc.tls.cert, tc.tls.key
			})
			waitFor(t, "the failure in the log", func() bool { return strings.Contains(r.logs.String(), tc.want) })
			result := "tls"
			if strings.HasPrefix(tc.name, "ws ") {
				result = "unreachable"
			}
			if got := testutil.ToFloat64(r.m.ConnectionAttempt.WithLabelValues(result)); got < 1 {
				t.Errorf("restartinator_mqtt_connection_attempts_total{result=%q} = %g\n%s", result, got, r.logs)
			}
			if got := testutil.ToFloat64(r.m.Connected); got != 0 {
				t.Errorf("connected = %g", got)
			}
		})
	}

	// The certificate for another name is accepted when server_name says
	// which name to expect, and an untrusted one only when verification is
	// turned off on purpose.
	for _, tc := range []struct {
		name string
		url  string
		edit func(*config.MQTTConfig)
	}{
		{"server_name", elsewhere.MQTTSURL(), func(c *config.MQTTConfig) {
			c.TLSConfig.CAFile, c.TLSConfig.ServerName = ca.File, "broker.example"
		}},
		{"insecure_skip_verify", b.MQTTSURL(), func(c *config.MQTTConfig) {
			c.TLSConfig.CAFile, c.TLSConfig.InsecureSkipVerify = other.File, true
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := elsewhere
			if tc.url == b.MQTTSURL() {
				host = b
			}
			prefix := "t" + slug(tc.name)
			sub := mqtttest.Subscribe(t, host.URL(), prefix+"/#")
			startPublisher(t, tc.url, func(o *Options, c *config.MQTTConfig) {
				c.TopicPrefix, c.ClientID = prefix, prefix
				tc.edit(c)
			})
			sub.Wait("state", waitLong, has(prefix+"/router/state", "up"))
		})
	}
}

type commoncfgTLS struct{ ca, cert, key string }

// pathProxy serves the WebSocket endpoint target (ws://host:port) under
// path on a loopback HTTP server, and 404 elsewhere; it returns
// ws://127.0.0.1:PORT.
func pathProxy(t *testing.T, path, target string) string {
	t.Helper()
	u, err := url.Parse(strings.Replace(target, "ws://", "http://", 1))
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	mux := http.NewServeMux()
	mux.Handle(path, rp)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return fmt.Sprintf("ws://%s", srv.Listener.Addr())
}

// A broker whose certificate is not trusted is, once it has lasted
// OutageAfter, a channel_failing notification to the other channels that
// says what to change.
func TestTLSFailureIsToldToTheOtherChannels(t *testing.T) {
	ca := mqtttest.NewCA(t, "test CA")
	other := mqtttest.NewCA(t, "another CA")
	b := mqtttest.Start(t, mqtttest.Options{TLS: &mqtttest.TLS{Server: ca.Server("127.0.0.1")}})
	told := make(chan event.Event, 4)
	startPublisher(t, b.MQTTSURL(), func(o *Options, c *config.MQTTConfig) {
		c.TLSConfig.CAFile = other.File
		// The second failed attempt, a second later, is past it.
		o.OutageAfter = time.Nanosecond
		o.Tell = func(e event.Event) { told <- e }
	})
	select {
	case e := <-told:
		if e.Kind != event.ChannelFailing || e.Channel != "mqtt" || !strings.Contains(e.Detail, "is not signed by a CA in mqtt.tls_config.ca_file") {
			t.Errorf("told %+v", e)
		}
	case <-time.After(waitLong):
		t.Fatal("the other channels were not told")
	}
}

// The README's Mosquitto listener: a client certificate required and its
// common name taken as the user name for the broker's ACL. Only the user
// "restartinator" may write under restartinator/, so the state arriving
// proves the broker took the certificate's name (an anonymous client may
// only read), and a certificate with another name publishes nothing there.
func TestClientCertificateIdentityAndACL(t *testing.T) {
	ca := mqtttest.NewCA(t, "test CA")
	b := mqtttest.Start(t, mqtttest.Options{
		TLS: &mqtttest.TLS{Server: ca.Server("127.0.0.1"), CAFile: ca.File, RequireCertificate: true, IdentityAsUsername: true},
		ACL: "topic read #\ntopic write restartinator/+/cycle/set\n\nuser restartinator\ntopic readwrite restartinator/#\ntopic readwrite homeassistant/#\n",
	})
	sub := mqtttest.Subscribe(t, b.URL(), "restartinator/#")
	withCert := func(kp mqtttest.KeyPair, id string) func(*Options, *config.MQTTConfig) {
		return func(_ *Options, c *config.MQTTConfig) {
			c.TLSConfig.CAFile, c.TLSConfig.CertFile, c.TLSConfig.KeyFile = ca.File, kp.CertFile, kp.KeyFile
			c.ClientID = id
		}
	}
	intruder := startPublisher(t, b.MQTTSURL(), func(o *Options, c *config.MQTTConfig) {
		withCert(ca.Client("intruder"), "intruder")(o, c)
		c.TopicPrefix = "restartinator/intruder"
	})
	waitFor(t, "the intruder connected", func() bool { return testutil.ToFloat64(intruder.m.Connected) == 1 })
	startPublisher(t, b.MQTTSURL(), withCert(ca.Client("restartinator"), "restartinator"))
	sub.Wait("state from the certificate named restartinator", waitLong, has("restartinator/router/state", "up"))
	// The intruder's publishes are dropped by the broker's ACL (MQTT
	// 3.1.1 cannot tell it so): a marker after they were sent shows none
	// arrived.
	waitFor(t, "the intruder's publishes sent", func() bool { return testutil.ToFloat64(intruder.m.Published) > 5 })
	sub.Publish("restartinator/marker/cycle/set", "x", false)
	sub.Wait("the marker", waitLong, has("restartinator/marker/cycle/set", "x"))
	for _, m := range sub.Messages() {
		if strings.HasPrefix(m.Topic, "restartinator/intruder/") {
			t.Fatalf("a certificate not named restartinator published %s", m)
		}
	}
}
