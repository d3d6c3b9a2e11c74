package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/actuator/kasa"
	"github.com/restartinator/restartinator/internal/testtool"
)

// pipelineBound bounds the whole pipeline, from the first process started
// to the resolved alert; the test deadline, if sooner, bounds it too.
const pipelineBound = 3 * time.Minute

// TestPipeline is the whole pipeline end to end (issue 7 item 7): the real
// binary supervises a simulated device (an HTTP service, probed over HTTP)
// on a plug simulated by a second process, in alert mode; Debian's real
// Prometheus scrapes it and evaluates the mixin's rules (with short
// durations); Debian's real Alertmanager routes RestartinatorDeviceDown to
// the webhook, as mixin/README.md shows.
// The device hangs; the alert fires; the webhook cycles the plug exactly
// once, also across Alertmanager's repeats; the device comes back and the
// alert resolves. Everything listens on loopback only.
//
// It takes about a minute, so it runs only with RESTARTINATOR_E2E=1 (make
// e2e; CI runs that target).
func TestPipeline(t *testing.T) {
	if os.Getenv("RESTARTINATOR_E2E") != "1" {
		t.Skip("the end-to-end pipeline test runs with RESTARTINATOR_E2E=1 (make e2e)")
	}
	promBin := testtool.Need(t, "prometheus", "prometheus")
	amBin := testtool.Need(t, "prometheus-alertmanager", "prometheus-alertmanager")
	bin := binary(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// The mixin's rules, with the short durations the mixin keeps for this.
	// Built, like the binary, before the pipeline's clock starts: a cold
	// cache compiles jsonnet first.
	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancelBuild()
	for _, f := range []string{"alerts", "rules"} {
		out, err := exec.CommandContext(buildCtx, "go", "tool", "jsonnet", "-S", "../../mixin/"+f+".jsonnet",
			"--tla-code-file", "config=../../mixin/tests/short-durations.libsonnet").Output()
		if err != nil {
			t.Fatalf("building the mixin's %s: %v\n%s", f, err, exitStderr(err))
		}
		write(f+".yaml", string(out))
	}

	p := newPipeline(t)

	// The plug: a separate process, like a real plug on the network.
	// Every process listens on 127.0.0.1:0 and logs the port it got: no
	// window in which another process can take a port picked in advance.
	sim := p.start("plug simulator", bin, "simulate", "--model", "HS100", "--listen", "127.0.0.1:0")
	var plugPort int
	fmt.Sscan(p.logMatch(sim, regexp.MustCompile(`simulating .* on 127\.0\.0\.1:(\d+)`)), &plugPort)
	plug, err := kasa.New(kasa.Options{Host: "127.0.0.1", Port: plugPort, Protocol: "xor", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plug.Close() })
	p.until("the simulated plug to answer and switch on", func() bool {
		return plug.Switch(p.ctx, "", true) == nil
	})
	pw := &poweredDevice{plug: plug, booted: make(chan struct{})}
	dev := httptest.NewServer(pw) // on loopback
	t.Cleanup(dev.Close)
	followCtx, stopFollow := context.WithCancel(p.ctx)
	followed := make(chan struct{})
	go func() { pw.follow(followCtx); close(followed) }()
	t.Cleanup(func() { stopFollow(); <-followed }) // before the plug client and device close
	p.until("the device to follow its outlet", func() bool { return pw.snapshot().up })

	// restartinator, in alert mode: only the webhook cycles the device.
	token := write("webhook.token", "e2e-token\n")
	cfg := write("restartinator.yml", fmt.Sprintf(`global: {state_file: %s}
plugs: [{name: p, host: 127.0.0.1, port: %d, protocol: xor}]
devices:
  - name: cam
    probe: {type: http, url: "%s/"}
    plug: p
    mode: alert
    check_interval: 1s
    retry_interval: 1s
    retries: 2
    timeout: 1s
    cycle_time: 2s
    boot_time: 1m
webhook:
  bearer_token_file: %s
  routes:
    - matchers: ['alertname="RestartinatorDeviceDown"']
      action: cycle
      device_label: device
`, filepath.Join(dir, "state.json"), plugPort, dev.URL, token))
	r := p.start("restartinator", bin, "--web.listen-address=127.0.0.1:0", "--log.level=debug", "--config.file", cfg)
	addr := p.logMatch(r, listenRE)

	// Alertmanager, routed as mixin/README.md shows, with short intervals.
	amCfg := write("alertmanager.yml", fmt.Sprintf(`route:
  receiver: people
  routes:
    - matchers: ['alertname="RestartinatorDeviceDown"']
      receiver: restartinator
      group_by: [alertname, device]
      group_wait: 1s
      group_interval: 1s
      repeat_interval: 5s
receivers:
  - name: people
  - name: restartinator
    webhook_configs:
      - url: http://%s/webhook
        send_resolved: false
        max_alerts: 0
        http_config:
          authorization:
            type: Bearer
            credentials_file: %s
`, addr, token))
	am := p.start("alertmanager", amBin, "--config.file="+amCfg, "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address=127.0.0.1:0", "--cluster.listen-address=")
	amAddr := p.logMatch(am, toolListenRE)
	amURL := "http://" + amAddr

	// Prometheus: scrapes restartinator as job "restartinator" (the mixin's
	// selector) and evaluates the rules every second.
	promCfg := write("prometheus.yml", fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%s, %s]
alerting:
  alertmanagers:
    - static_configs: [{targets: ['%s']}]
scrape_configs:
  - job_name: restartinator
    static_configs: [{targets: ['%s']}]
`, filepath.Join(dir, "alerts.yaml"), filepath.Join(dir, "rules.yaml"), amAddr, addr))
	prom := p.start("prometheus", promBin, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		"--web.listen-address=127.0.0.1:0")
	promURL := "http://" + p.logMatch(prom, toolListenRE)
	t.Cleanup(func() { // runs before the processes are killed
		if t.Failed() {
			p.logPrometheusHealth(promURL)
		}
	})
	p.until("Alertmanager to be ready", func() bool { return httpOK(amURL + "/-/ready") })
	p.until("Prometheus to be ready", func() bool { return httpOK(promURL + "/-/ready") })
	p.until("Prometheus to load the mixin's RestartinatorDeviceDown", func() bool {
		var rules struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name string `json:"name"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if getJSON(promURL+"/api/v1/rules", &rules) != nil {
			return false
		}
		for _, g := range rules.Data.Groups {
			for _, r := range g.Rules {
				if r.Name == "RestartinatorDeviceDown" {
					return true
				}
			}
		}
		return false
	})
	p.until(`Prometheus to scrape restartinator_device_up{job="restartinator",device="cam"} 1`, func() bool {
		v, ok := promQuery(promURL, `restartinator_device_up{job="restartinator",device="cam"}`)
		return ok && v == 1
	})
	p.mark("device up in Prometheus")
	p.until("Prometheus to list its alerts", func() bool {
		a, ok := activeAlert(promURL, "cam")
		if a != nil {
			t.Fatalf("RestartinatorDeviceDown is %s before the device hung", a.State)
		}
		return ok
	})

	const (
		cycles     = `restartinator_power_cycles_total{device="cam",trigger="webhook"}`
		requests   = `restartinator_webhook_requests_total{status="200"}`
		refused    = `restartinator_webhook_requests_total{status="401"}`
		restartUp  = `restartinator_device_up{device="cam"}`
		wantRepeat = 3 // notifications after the one that cycled
	)

	pw.hang()
	p.mark("device hung")
	var activeAt string
	resets := 0 // pending alerts that went away: scrapes missed under load
	p.until("Prometheus to fire RestartinatorDeviceDown{device=\"cam\"}", func() bool {
		a, ok := activeAlert(promURL, "cam")
		switch {
		case !ok:
		case a == nil && activeAt != "":
			resets++
			activeAt = ""
		case a != nil && a.State == "firing":
			activeAt = a.ActiveAt
			return true
		case a != nil:
			activeAt = a.ActiveAt
		}
		return false
	})
	p.mark(fmt.Sprintf("alert firing in Prometheus (pending restarted %d times)", resets))
	p.until("Alertmanager to list the alert as active", func() bool {
		a := amAlerts(amURL, "cam")
		return len(a) == 1 && a[0].Status.State == "active"
	})
	p.mark("alert active in Alertmanager")
	p.until("the webhook to cycle the plug (relay off, then on again)", func() bool {
		s, n := pw.snapshot(), metricValue(t, addr, cycles)
		if n > 1 || s.offs > 1 {
			t.Fatalf("%g webhook cycles and %d relay offs for one alert", n, s.offs)
		}
		return n == 1 && s.offs == 1 && s.onsAfterOff == 1
	})
	p.mark("plug cycled by the webhook")

	// The device is still booting (it finishes only when the test lets it),
	// so the alert keeps firing and Alertmanager repeats it every
	// repeat_interval. Each repeat is the same episode: no second cycle.
	episodes := map[string]bool{activeAt: true}
	p.until(fmt.Sprintf("Alertmanager to repeat the notification %d times", wantRepeat), func() bool {
		if a, _ := activeAlert(promURL, "cam"); a != nil {
			episodes[a.ActiveAt] = true
		}
		return metricValue(t, addr, requests) >= 1+wantRepeat
	})
	p.mark(fmt.Sprintf("%d repeats answered", wantRepeat))
	if len(episodes) > 1 {
		// Only a missed scrape ends an episode here (the device stayed
		// down): the machine is too slow for 1 s scrapes. The later
		// episodes' notifications came while the device was booting, which
		// must not cycle it either; the counts below still hold.
		t.Logf("the alert ended and fired again during the repeats (%d episodes): Prometheus missed scrapes", len(episodes))
		p.logPrometheusHealth(promURL)
	}
	if got, s := metricValue(t, addr, cycles), pw.snapshot(); got != 1 || s.offs != 1 {
		t.Fatalf("after %d repeats: %g webhook cycles and %d relay offs, want 1 and 1", wantRepeat, got, s.offs)
	}

	pw.finishBoot()
	p.until("restartinator to see the device up", func() bool { return metricValue(t, addr, restartUp) == 1 })
	p.mark("device recovered")
	p.until("Prometheus to resolve the alert (no longer in /api/v1/alerts)", func() bool {
		a, ok := activeAlert(promURL, "cam")
		return ok && a == nil
	})
	p.mark("alert resolved in Prometheus")
	p.until("Alertmanager to drop the resolved alert", func() bool {
		a := amAlerts(amURL, "cam")
		return a != nil && len(a) == 0
	})
	p.mark("alert resolved in Alertmanager")

	s := pw.snapshot()
	if got := metricValue(t, addr, cycles); got != 1 || s.offs != 1 || !s.on {
		t.Errorf("at the end: %g webhook cycles, %d relay offs, relay on %v; want 1, 1, true", got, s.offs, s.on)
	}
	if got := metricValue(t, addr, refused); got != 0 {
		t.Errorf("%g webhook requests refused (401): Alertmanager's bearer token does not work", got)
	}
	if s.unseenOffs > 0 {
		t.Logf("the machine was slow: %d relay off time(s) fell between polls, seen by on_time", s.unseenOffs)
	}
	p.logTimings()
	p.logPrometheusHealth(promURL)
}

// toolListenRE finds the address Prometheus and Alertmanager listen on.
var toolListenRE = regexp.MustCompile(`msg="Listening on" address=(127\.0\.0\.1:\d+)`)

// pipeline runs outside processes for one test, each bounded by ctx and
// killed at the end of the test, when ctx expires, or when the test binary
// dies (Pdeathsig).
type pipeline struct {
	t      *testing.T
	ctx    context.Context
	start0 time.Time

	mu    sync.Mutex
	procs []*proc
	marks []string
}

type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error // set before done closes
}

func newPipeline(t *testing.T) *pipeline {
	deadline := time.Now().Add(pipelineBound)
	if d, ok := t.Deadline(); ok && d.Add(-20*time.Second).Before(deadline) {
		deadline = d.Add(-20 * time.Second) // leave time to kill and report
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	p := &pipeline{t: t, ctx: ctx, start0: time.Now()}
	t.Cleanup(func() {
		if t.Failed() {
			p.logTimings()
			for _, pr := range p.procs {
				t.Logf("---- %s output ----\n%s", pr.name, pr.out.String())
			}
		}
	})
	return p
}

// start runs a process; the test's cleanup kills it.
func (p *pipeline) start(name, path string, args ...string) *proc {
	p.t.Helper()
	cmd := exec.CommandContext(p.ctx, path, args...)
	cmd.Dir = p.t.TempDir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	pr := &proc{name: name, cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = pr.out, pr.out
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		pr.err = cmd.Wait()
		close(pr.done)
	}()
	p.mu.Lock()
	p.procs = append(p.procs, pr)
	p.mu.Unlock()
	p.t.Cleanup(func() {
		cmd.Process.Kill()
		<-pr.done
	})
	return pr
}

// until polls cond until it holds; it fails the test when the pipeline's
// bound passes or a process exits on its own.
func (p *pipeline) until(what string, cond func() bool) {
	p.t.Helper()
	tick := time.NewTicker(250 * time.Millisecond) // the pipeline moves in seconds
	defer tick.Stop()
	for !cond() {
		for _, pr := range p.procs {
			select {
			case <-pr.done:
				p.t.Fatalf("waiting for %s: %s exited: %v", what, pr.name, pr.err)
			default:
			}
		}
		select {
		case <-p.ctx.Done():
			p.t.Fatalf("timed out after %s waiting for %s", time.Since(p.start0).Round(time.Millisecond), what)
		case <-tick.C:
		}
	}
}

// logPrometheusHealth logs how Prometheus scraped restartinator, to tell a
// slow machine (failed scrapes reset a pending alert) from a broken pipeline.
func (p *pipeline) logPrometheusHealth(promURL string) {
	var b bytes.Buffer
	for _, q := range []string{
		`count_over_time(up{job="restartinator"}[10m])`,
		`sum_over_time(up{job="restartinator"}[10m])`,
		`max_over_time(scrape_duration_seconds{job="restartinator"}[10m])`,
		`changes(restartinator_device_up{job="restartinator",device="cam"}[10m])`,
		`count_over_time(restartinator_device_up{job="restartinator",device="cam"}[10m])`,
		`ALERTS{alertname="RestartinatorDeviceDown"}`,
	} {
		v, ok := promQuery(promURL, q)
		fmt.Fprintf(&b, "  %s = %g (%v)\n", q, v, ok)
	}
	p.t.Logf("Prometheus on restartinator:\n%s", b.String())
}

// logMatch waits for re in pr's output and returns its first group.
func (p *pipeline) logMatch(pr *proc, re *regexp.Regexp) string {
	p.t.Helper()
	var m []string
	p.until(pr.name+" to log "+re.String(), func() bool {
		m = re.FindStringSubmatch(pr.out.String())
		return m != nil
	})
	return m[1]
}

func (p *pipeline) mark(what string) {
	p.mu.Lock()
	p.marks = append(p.marks, fmt.Sprintf("%8s  %s", time.Since(p.start0).Round(100*time.Millisecond), what))
	p.mu.Unlock()
}

func (p *pipeline) logTimings() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b bytes.Buffer
	for _, m := range p.marks {
		b.WriteString(m + "\n")
	}
	p.t.Logf("pipeline timings (since the first process started):\n%s", b.String())
}

// poweredDevice is a simulated device, an HTTP service, that follows its
// outlet on the plug as a real one would: no power, no answer; a hang lasts
// until the power goes off; after power comes back it boots until
// finishBoot (so the test, not a timer, decides how long the alert keeps
// firing). While down it drops each connection but keeps its port: a
// closed port on a busy machine can be taken by another process, and the
// hung device would seem to answer (simdevice closes its port when down).
type poweredDevice struct {
	plug   actuator.Plug
	booted chan struct{}

	mu sync.Mutex
	st powerState
}

type powerState struct {
	polls, offs, onsAfterOff int
	unseenOffs               int // cycles seen only by on_time starting again
	on, hung, up             bool
	onTime                   time.Duration
}

func (d *poweredDevice) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !d.snapshot().up {
		panic(http.ErrAbortHandler) // drops the connection, without a log line
	}
	io.WriteString(w, "ok\n")
}

func (d *poweredDevice) hang() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.hung, d.st.up = true, false
}

func (d *poweredDevice) finishBoot() { close(d.booted) }

func (d *poweredDevice) snapshot() powerState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st
}

// follow polls the relay often enough to see a 2 s off time. Should a
// stalled machine miss the whole off time, the outlet's on_time (seconds
// since it was switched on) starting again still shows the cycle.
func (d *poweredDevice) follow(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := d.plug.Status(pctx)
		cancel()
		if err != nil || len(st.Outlets) == 0 {
			continue // a missed poll; the off time spans many
		}
		on, onTime := st.Outlets[0].On, st.Outlets[0].OnTime
		d.mu.Lock()
		switch {
		case d.st.polls == 0:
		case d.st.on && !on:
			d.st.offs++
		case !d.st.on && on && d.st.offs > 0:
			d.st.onsAfterOff++
		case d.st.on && on && onTime < d.st.onTime:
			d.st.offs++
			d.st.onsAfterOff++
			d.st.unseenOffs++
			d.st.hung = false
		}
		d.st.polls++
		d.st.on, d.st.onTime = on, onTime
		if !on {
			d.st.hung = false // power off clears the hang
		}
		booting := d.st.offs > 0 && !closed(d.booted)
		d.st.up = on && !d.st.hung && !booting
		d.mu.Unlock()
	}
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func httpOK(u string) bool {
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func getJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// promQuery returns the value of an instant query with one result.
func promQuery(base, query string) (float64, bool) {
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if getJSON(base+"/api/v1/query?"+url.Values{"query": {query}}.Encode(), &r) != nil || len(r.Data.Result) != 1 {
		return 0, false
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	var v float64
	if _, err := fmt.Sscan(s, &v); err != nil {
		return 0, false
	}
	return v, true
}

type promAlert struct {
	Labels   map[string]string `json:"labels"`
	State    string            `json:"state"`
	ActiveAt string            `json:"activeAt"`
}

type promAlerts struct {
	Data struct {
		Alerts []promAlert `json:"alerts"`
	} `json:"data"`
}

type amAlert struct {
	Labels map[string]string `json:"labels"`
	Status struct {
		State string `json:"state"`
	} `json:"status"`
}

// amAlerts lists Alertmanager's current RestartinatorDeviceDown alerts for
// device (resolved ones are not current); nil when the poll failed.
func amAlerts(base, device string) []amAlert {
	alerts := []amAlert{}
	q := url.Values{"filter": {`alertname="RestartinatorDeviceDown"`, fmt.Sprintf("device=%q", device)}}
	if getJSON(base+"/api/v2/alerts?"+q.Encode(), &alerts) != nil {
		return nil
	}
	return alerts
}

// activeAlert is RestartinatorDeviceDown for device in Prometheus'
// /api/v1/alerts (pending or firing), or nil; ok is false when the poll
// failed.
func activeAlert(base, device string) (a *promAlert, ok bool) {
	var alerts promAlerts
	if getJSON(base+"/api/v1/alerts", &alerts) != nil {
		return nil, false
	}
	return alerts.find(device), true
}

func (a promAlerts) find(device string) *promAlert {
	for i, al := range a.Data.Alerts {
		if al.Labels["alertname"] == "RestartinatorDeviceDown" && al.Labels["device"] == device {
			return &a.Data.Alerts[i]
		}
	}
	return nil
}
