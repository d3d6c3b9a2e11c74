package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/actuator/shelly"
	"github.com/restartinator/restartinator/internal/testtool"
)

// The high-availability tests (issue 21): Debian's real Alertmanager as a
// two-peer cluster, real Prometheus replicas, and the real binary as one or
// two restartinators, all on loopback. Like TestPipeline they take a minute
// each and run with RESTARTINATOR_E2E=1 (make e2e).

// haRig holds the processes of one HA test.
type haRig struct {
	*pipeline
	bin string
	dir string
}

func newHARig(t *testing.T) *haRig {
	t.Helper()
	if os.Getenv("RESTARTINATOR_E2E") != "1" {
		t.Skip("the high-availability end-to-end tests run with RESTARTINATOR_E2E=1 (make e2e)")
	}
	testtool.Need(t, "prometheus-alertmanager", "prometheus-alertmanager")
	return &haRig{pipeline: newPipeline(t), bin: binary(t), dir: t.TempDir()}
}

func (h *haRig) write(name, content string) string {
	h.t.Helper()
	path := filepath.Join(h.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return path
}

// plug starts a simulated plug of a type (kasa or shelly) in its own
// process and a device that follows its outlet; the device comes back as
// soon as power returns. It returns the plug's entry for restartinator's
// plugs: list.
func (h *haRig) plug(typ, model string) (plugYAML string, dev *poweredDevice) {
	h.t.Helper()
	sim := h.start("plug simulator "+model, h.bin, "simulate", "--model", model, "--listen", "127.0.0.1:0")
	m := regexp.MustCompile(`simulating .* \((\w+)/\w+, .*\) on 127\.0\.0\.1:(\d+)`).FindStringSubmatch(h.logMatchLine(sim, `simulating .* on 127\.0\.0\.1:\d+`))
	var port int
	fmt.Sscan(m[2], &port)
	var c actuator.Plug
	var err error
	switch typ {
	case "kasa":
		c, err = kasa.New(kasa.Options{Host: "127.0.0.1", Port: port, Protocol: m[1], Timeout: 2 * time.Second})
		plugYAML = fmt.Sprintf("{name: p, type: kasa, host: 127.0.0.1, port: %d, protocol: %s}", port, m[1])
	case "shelly":
		c, err = shelly.New(shelly.Config{Host: "127.0.0.1", Port: port, Timeout: 2 * time.Second})
		plugYAML = fmt.Sprintf("{name: p, type: shelly, host: 127.0.0.1, port: %d}", port)
	default:
		h.t.Fatalf("no plug type %q in this test", typ)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	h.until("the simulated plug to answer and switch on", func() bool { return c.Switch(h.ctx, "", true) == nil })
	dev = &poweredDevice{plug: c, booted: make(chan struct{})}
	dev.finishBoot()
	ctx, stop := context.WithCancel(h.ctx)
	followed := make(chan struct{})
	go func() { dev.follow(ctx); close(followed) }()
	h.t.Cleanup(func() { stop(); <-followed })
	h.until("the device to follow its outlet", func() bool { return dev.snapshot().up })
	return plugYAML, dev
}

// stop ends a process with SIGTERM, as systemd would, and waits for it.
func (h *haRig) stop(pr *proc) {
	h.t.Helper()
	pr.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-pr.done:
	case <-time.After(60 * time.Second):
		h.t.Fatalf("%s did not exit after SIGTERM", pr.name)
	}
	h.forget(pr)
}

// forget drops a process that exited on purpose: until must not fail on it.
func (h *haRig) forget(pr *proc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, q := range h.procs {
		if q == pr {
			h.procs = append(h.procs[:i], h.procs[i+1:]...)
			break
		}
	}
}

// execOutput runs a command and returns its standard output.
func execOutput(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, exitStderr(err))
	}
	return string(out), nil
}

// logMatchLine waits for a line matching re and returns it whole.
func (h *haRig) logMatchLine(pr *proc, re string) string {
	h.t.Helper()
	return h.logMatch(pr, regexp.MustCompile(`(?m)^(.*`+re+`.*)$`))
}

// restartinator starts the binary with the given config on addr, or on a
// port of its own choosing (read from its log: no window for another process
// to take a port picked in advance) when addr is empty. A restart passes the
// address it had, which Alertmanager posts to; should another process have
// taken it meanwhile, the start is tried again.
func (h *haRig) restartinator(name, addr, cfg string) (*proc, string) {
	h.t.Helper()
	path := h.write(name+".yml", cfg)
	listen := addr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	for try := 1; ; try++ {
		pr := h.start(name, h.bin, "--web.listen-address="+listen, "--log.level=debug", "--config.file", path)
		var got string
		h.until(name+" to listen", func() bool {
			if m := listenRE.FindStringSubmatch(pr.out.String()); m != nil {
				got = m[1]
				return true
			}
			select {
			case <-pr.done:
				return true
			default:
				return false
			}
		})
		if got == "" {
			h.forget(pr)
			if try < 5 && strings.Contains(pr.out.String(), "address already in use") {
				continue
			}
			h.t.Fatalf("%s exited: %v\n%s", name, pr.err, pr.out.String())
		}
		h.until(name+" to be ready", func() bool { return httpOK("http://" + got + "/-/ready") })
		return pr, got
	}
}

// deviceConfig is restartinator's config for one device "cam" on plug p, in
// alert mode (only the webhook cycles it), with the ha section given.
func (h *haRig) deviceConfig(instance, plugYAML, probeURL, ha string) string {
	return fmt.Sprintf(`global:
  state_file: %s
  ha: {%s}
plugs: [%s]
devices:
  - name: cam
    probe: {type: http, url: "%s/"}
    plug: p
    mode: alert
    check_interval: 1s
    retry_interval: 1s
    retries: 2
    timeout: 1s
    cycle_time: 5s
    boot_time: 1m
webhook:
  routes:
    - matchers: ['alertname="RestartinatorDeviceDown"']
      action: cycle
      device_label: device
`, filepath.Join(h.dir, instance+"-state.json"), ha, plugYAML, probeURL)
}

// alertmanagers starts a two-peer Alertmanager cluster on loopback whose
// route sends RestartinatorDeviceDown to each webhook address given.
func (h *haRig) alertmanagers(webhooks ...string) []string {
	h.t.Helper()
	var b strings.Builder
	for _, addr := range webhooks {
		fmt.Fprintf(&b, "      - url: http://%s/webhook\n        send_resolved: true\n", addr)
	}
	cfg := h.write("alertmanager.yml", `route:
  receiver: restartinator
  group_by: [alertname, device]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: restartinator
    webhook_configs:
`+b.String())
	// Every peer binds 127.0.0.1:0; the second joins the first at the
	// gossip address the first reports in its status.
	var urls []string
	var gossip string
	for i := range 2 {
		args := []string{"--config.file=" + cfg, "--storage.path=" + filepath.Join(h.dir, fmt.Sprintf("am%d", i)),
			"--web.listen-address=127.0.0.1:0", "--cluster.peer-timeout=2s", "--cluster.listen-address=127.0.0.1:0"}
		if i > 0 {
			args = append(args, "--cluster.peer="+gossip)
		}
		am := h.start(fmt.Sprintf("alertmanager %d", i), testtool.Need(h.t, "prometheus-alertmanager", "prometheus-alertmanager"), args...)
		u := "http://" + h.logMatch(am, toolListenRE)
		urls = append(urls, u)
		if i == 0 {
			h.until("the first Alertmanager to report its gossip address", func() bool {
				var st struct {
					Cluster struct {
						Peers []struct {
							Address string `json:"address"`
						} `json:"peers"`
					} `json:"cluster"`
				}
				if getJSON(u+"/api/v2/status", &st) != nil || len(st.Cluster.Peers) != 1 {
					return false
				}
				gossip = st.Cluster.Peers[0].Address
				return gossip != ""
			})
		}
	}
	for _, u := range urls {
		h.until("Alertmanager "+u+" to be ready with 2 peers", func() bool {
			var st struct {
				Cluster struct {
					Status string     `json:"status"`
					Peers  []struct{} `json:"peers"`
				} `json:"cluster"`
			}
			return getJSON(u+"/api/v2/status", &st) == nil && st.Cluster.Status == "ready" && len(st.Cluster.Peers) == 2
		})
	}
	return urls
}

// postAlert sends RestartinatorDeviceDown for cam, as a Prometheus replica
// whose rule became active at startsAt would, to each Alertmanager given.
func (h *haRig) postAlert(startsAt time.Time, resolved bool, ams ...string) {
	h.t.Helper()
	ends := ""
	if resolved {
		ends = fmt.Sprintf(`, "endsAt": %q`, time.Now().UTC().Format(time.RFC3339Nano))
	}
	body := fmt.Sprintf(`[{"labels": {"alertname": "RestartinatorDeviceDown", "device": "cam", "severity": "critical"}, "startsAt": %q%s}]`,
		startsAt.UTC().Format(time.RFC3339Nano), ends)
	for _, am := range ams {
		resp, err := http.Post(am+"/api/v2/alerts", "application/json", bytes.NewBufferString(body))
		if err != nil {
			h.t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			h.t.Fatalf("posting the alert to %s: %s", am, resp.Status)
		}
	}
}

// amStartsAt is the startsAt Alertmanager holds for cam's alert.
func amStartsAt(am string) (time.Time, bool) {
	var alerts []struct {
		StartsAt time.Time `json:"startsAt"`
	}
	if getJSON(am+`/api/v2/alerts?filter=alertname%3D%22RestartinatorDeviceDown%22`, &alerts) != nil || len(alerts) != 1 {
		return time.Time{}, false
	}
	return alerts[0].StartsAt, true
}

// TestHAOneCycleAcrossStartsAtOrder is the reproduction of issue 21: two
// Prometheus replicas give one outage two startsAt; the replica with the
// later one reaches the Alertmanager cluster first, the cluster later
// merges to the earlier one, and its notifications carry a new
// fingerprint+startsAt. It is the same episode: one cycle. A resolved
// notification ends the episode, so the next outage cycles again; a restart
// of restartinator mid-episode does not.
func TestHAOneCycleAcrossStartsAtOrder(t *testing.T) {
	h := newHARig(t)
	plugYAML, dev := h.plug("kasa", "HS100")
	probe := httptest.NewServer(dev)
	t.Cleanup(probe.Close)
	cfg := h.deviceConfig("solo", plugYAML, probe.URL, "")
	r, addr := h.restartinator("restartinator", "", cfg)
	ams := h.alertmanagers(addr)

	const (
		requests = `restartinator_webhook_requests_total{status="200"}`
		devUp    = `restartinator_device_up{device="cam"}`
	)
	offs := func() int { return dev.snapshot().offs }
	repeats := func(what string, n int) {
		seen := metricValue(t, addr, requests)
		h.until(fmt.Sprintf("%d more notifications (%s)", n, what), func() bool {
			if offs() > 1 {
				t.Fatalf("%s: %d power cycles of one outage", what, offs())
			}
			return metricValue(t, addr, requests) >= seen+float64(n)
		})
	}

	now := time.Now()
	later, earlier := now.Add(-30*time.Second), now.Add(-90*time.Second)
	h.postAlert(later, false, ams[0]) // the replica with the later activeAt
	h.until("the webhook to cycle the plug", func() bool { return offs() == 1 && dev.snapshot().on })
	h.mark("cycled once")
	h.until("the device to be up again in restartinator", func() bool { return metricValue(t, addr, devUp) == 1 })
	h.postAlert(earlier, false, ams...) // the other replica, with the earlier activeAt
	h.until("Alertmanager to merge to the earlier startsAt", func() bool {
		s, ok := amStartsAt(ams[0])
		return ok && s.Sub(earlier).Abs() < time.Millisecond
	})
	repeats("carrying the earlier startsAt", 3)
	if n := offs(); n != 1 {
		t.Fatalf("%d power cycles after the startsAt changed, want 1\n%s", n, r.out.String())
	}
	h.mark("one cycle across both startsAt")

	// A restart mid-episode remembers it.
	h.stop(r)
	h.restartinator("restartinator (restarted)", addr, cfg)
	h.postAlert(earlier, false, ams...)
	repeats("after a restart", 3)
	if n := offs(); n != 1 {
		t.Fatalf("%d power cycles after a restart mid-episode, want 1", n)
	}
	h.mark("still one cycle after a restart")

	// Resolved: the episode ends. The next outage is a new one.
	h.postAlert(earlier, true, ams...)
	h.until("Alertmanager to drop the resolved alert", func() bool { _, ok := amStartsAt(ams[0]); return !ok })
	repeats("the resolved notification", 1)
	h.postAlert(time.Now(), false, ams...)
	h.until("a second cycle for the second outage", func() bool { return dev.snapshot().offs == 2 })
	h.mark("second outage, second cycle")
	h.logTimings()
}

// TestHAPairSharesOnePlug: two restartinators behind the same Alertmanager
// cluster, both receivers of the route, on the same plug. The primary cycles;
// the standby (peer_delay) asks the plug, sees the primary's cycle and skips
// with cycled_by_peer. Kasa IOT over XOR, SMART over KLAP, Shelly Gen2.
func TestHAPairSharesOnePlug(t *testing.T) {
	for _, tc := range []struct{ typ, model string }{{"kasa", "HS100"}, {"kasa", "KP125M"}, {"shelly", "shellyplus1"}} {
		t.Run(tc.model, func(t *testing.T) {
			h := newHARig(t)
			plugYAML, dev := h.plug(tc.typ, tc.model)
			probe := httptest.NewServer(dev)
			t.Cleanup(probe.Close)
			_, a := h.restartinator("restartinator-a", "", h.deviceConfig("a", plugYAML, probe.URL, "peer_check: true, instance: a"))
			rb, b := h.restartinator("restartinator-b", "", h.deviceConfig("b", plugYAML, probe.URL, "peer_check: true, instance: b, peer_delay: 2s"))
			ams := h.alertmanagers(a, b)

			h.postAlert(time.Now().Add(-time.Minute), false, ams...)
			h.until("one of the pair to cycle the plug", func() bool { return dev.snapshot().offs == 1 && dev.snapshot().on })
			const (
				cyclesSeries = `restartinator_power_cycles_total{device="cam",trigger="webhook"}`
				skipped      = `restartinator_power_cycles_skipped_total{device="cam",reason="cycled_by_peer"}`
				answered     = `restartinator_webhook_alerts_total{action="cycle",result="cycled_by_peer"}`
			)
			h.until("the standby to report cycled_by_peer", func() bool {
				return metricValue(t, b, skipped)+metricValue(t, b, answered) >= 1
			})
			seen := metricValue(t, a, `restartinator_webhook_requests_total{status="200"}`)
			h.until("3 more notifications", func() bool {
				return metricValue(t, a, `restartinator_webhook_requests_total{status="200"}`) >= seen+3
			})
			ca, cb, n := metricValue(t, a, cyclesSeries), metricValue(t, b, cyclesSeries), dev.snapshot().offs
			if ca != 1 || cb != 0 || n != 1 {
				t.Fatalf("primary %g cycles, standby %g, relay off %d times; want 1, 0, 1\n%s", ca, cb, n, rb.out.String())
			}
			t.Logf("primary 1 cycle; standby: %g skipped before switching, %g answered cycled_by_peer", metricValue(t, b, skipped), metricValue(t, b, answered))
		})
	}
}

// vantage is the device as one vantage point sees it: the same service, or
// nothing when the path from that vantage is cut.
type vantage struct {
	dev *poweredDevice
	cut atomic.Bool
}

func (v *vantage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if v.cut.Load() {
		panic(http.ErrAbortHandler)
	}
	v.dev.ServeHTTP(w, r)
}

// TestHAMultiVantage: two restartinators at two vantage points probe one
// device; two Prometheus replicas scrape both and evaluate the mixin's rules
// (down only when down from every vantage: max by device); both send to a
// two-peer Alertmanager cluster, which routes to both restartinators. Down
// from one vantage: no cycle. Down from both: one cycle.
func TestHAMultiVantage(t *testing.T) {
	h := newHARig(t)
	promBin := testtool.Need(t, "prometheus", "prometheus")
	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancelBuild()
	for _, f := range []string{"alerts", "rules"} {
		out, err := execOutput(buildCtx, "go", "tool", "jsonnet", "-S", "../../mixin/"+f+".jsonnet",
			"--tla-code-file", "config=../../mixin/tests/short-durations.libsonnet")
		if err != nil {
			t.Fatalf("building the mixin's %s: %v", f, err)
		}
		h.write(f+".yaml", out)
	}
	plugYAML, dev := h.plug("kasa", "HS100")
	v1, v2 := &vantage{dev: dev}, &vantage{dev: dev}
	s1, s2 := httptest.NewServer(v1), httptest.NewServer(v2)
	t.Cleanup(s1.Close)
	t.Cleanup(s2.Close)
	_, a1 := h.restartinator("site-a", "", h.deviceConfig("site-a", plugYAML, s1.URL, "peer_check: true, instance: site-a"))
	_, a2 := h.restartinator("site-b", "", h.deviceConfig("site-b", plugYAML, s2.URL, "peer_check: true, instance: site-b, peer_delay: 2s"))
	ams := h.alertmanagers(a1, a2)

	// Two identical Prometheus replicas, each scraping both vantage points.
	var proms []string
	for i := range 2 {
		cfg := h.write(fmt.Sprintf("prometheus%d.yml", i), fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%s, %s]
alerting:
  alertmanagers:
    - static_configs: [{targets: ['%s', '%s']}]
scrape_configs:
  - job_name: restartinator
    static_configs: [{targets: ['%s', '%s']}]
`, filepath.Join(h.dir, "alerts.yaml"), filepath.Join(h.dir, "rules.yaml"),
			strings.TrimPrefix(ams[0], "http://"), strings.TrimPrefix(ams[1], "http://"), a1, a2))
		pr := h.start(fmt.Sprintf("prometheus %d", i), promBin, "--config.file="+cfg,
			"--storage.tsdb.path="+filepath.Join(h.dir, fmt.Sprintf("prom%d", i)), "--web.listen-address=127.0.0.1:0")
		proms = append(proms, "http://"+h.logMatch(pr, toolListenRE))
	}
	for _, u := range proms {
		h.until("Prometheus "+u+" to see cam up from both vantage points", func() bool {
			v, ok := promQuery(u, `count(restartinator_device_up{job="restartinator",device="cam"} == 1)`)
			return ok && v == 2
		})
	}

	// Down from site-b only: the alert's max by device stays 1.
	v2.cut.Store(true)
	for _, u := range proms {
		h.until("Prometheus "+u+" to see cam down from site-b", func() bool {
			v, ok := promQuery(u, `restartinator_device_up{job="restartinator",device="cam",instance="`+a2+`"}`)
			return ok && v == 0
		})
	}
	// Longer than the alert's for (10s) plus evaluation and group_wait.
	quiet := time.Now().Add(20 * time.Second)
	h.until("20 s of down-from-one-vantage", func() bool {
		if a, _ := activeAlert(proms[0], "cam"); a != nil {
			t.Fatalf("RestartinatorDeviceDown is %s while cam is down from one vantage only", a.State)
		}
		return time.Now().After(quiet)
	})
	if n := dev.snapshot().offs; n != 0 {
		t.Fatalf("%d power cycles while cam was down from one vantage only", n)
	}
	h.mark("down from one vantage: no alert, no cycle")

	// Down from both: one cycle by the pair.
	v2.cut.Store(false)
	dev.hang()
	h.until("the pair to cycle the plug", func() bool { return dev.snapshot().offs >= 1 && dev.snapshot().on })
	h.mark("down from both: cycled")
	h.until("cam up from both vantage points again", func() bool {
		return metricValue(t, a1, `restartinator_device_up{device="cam"}`) == 1 && metricValue(t, a2, `restartinator_device_up{device="cam"}`) == 1
	})
	for _, u := range proms {
		h.until("Prometheus "+u+" to resolve the alert", func() bool { a, ok := activeAlert(u, "cam"); return ok && a == nil })
	}
	if n := dev.snapshot().offs; n != 1 {
		t.Fatalf("%d power cycles for one outage seen from both vantage points, want 1", n)
	}
	h.logTimings()
}
