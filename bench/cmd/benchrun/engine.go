package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// engineRow is one process probing n listeners at one rate for the window.
type engineRow struct {
	Case     engineCase
	Who      string
	CPU      float64 // CPU-seconds in the window
	Sched    schedule
	RSSKB    uint64 // at the end of the window
	HWMKB    uint64 // peak since start
	Threads  int
	Failures int64
	Counter  float64 // restartinator_probes_total{type="tcp"} at the end
	// restartinator_probe_failures_total{type="tcp"} at the end
	ProbeFailures float64
	// Listener accepts since start, read just before and after the scrape
	// that read Counter.
	AcceptsBefore, AcceptsAfter int
	// From the Go collector, after the window.
	StackInuse, HeapInuse, Goroutines float64
	Startup                           time.Duration
	Command                           string
	Available                         bool
	Load                              string // 1-minute load average at the start and end of the window
	Mode                              string // modeAlone or modeSide
	// From restartinator's restartinator_probe_start_delay_seconds over
	// the window: probes started, and those within 10 ms of due.
	Started, Within10ms float64
	Workers             float64 // restartinator_probe_workers
	// A reload in the middle of the window (N >= 10,000): how long POST
	// /-/reload took, and its error.
	Reload    time.Duration
	ReloadErr string
	Scrapes15 int // scrapes every 15 s during the window (alone)
}

func (r engineRow) cpuPer1000() float64 {
	if r.Sched.Achieved == 0 {
		return 0
	}
	return r.CPU / float64(r.Sched.Achieved) * 1000
}

type engineResult struct {
	rows    []engineRow
	scrapes []scrapeRow
	// The bare loop unpaced, one goroutine: the reference figure.
	bareMax engineRow
}

const (
	whoRestartinator = "restartinator"
	whoBare          = "bare connect loop"
	whoBlackbox      = "blackbox_exporter /probe"
)

// runEngine measures each case twice: restartinator alone (schedule, spread,
// memory), then restartinator, the bare loop and blackbox_exporter side by
// side, each probing its own listeners at the same rate in the same window,
// so the CPU ratios see the same machine whatever else it is doing.
func runEngine(b binaries) *engineResult {
	res := &engineResult{}
	if want("engine") {
		logf("probe engine: bare connect loop as fast as it goes")
		r := startBarePeer(b, engineCase{N: 1000, Interval: time.Second}, 0)
		time.Sleep(3 * time.Second)
		r.begin()
		time.Sleep(min(opt.duration, 20*time.Second))
		r.end(engineCase{N: 1000, Interval: time.Second})
		r.stop()
		res.bareMax = r.row
	}
	for _, c := range opt.engineCases {
		scrape := want("metrics") && c.N >= 10000
		if !want("engine") && !scrape {
			continue
		}
		logf("probe engine: N=%d every %s, restartinator alone", c.N, c.Interval)
		ri := startRestartinatorPeer(b, c)
		time.Sleep(warmup(c))
		d0 := readDelay(ri.addr)
		ri.begin()
		// Scraped every 15 s, as Prometheus would: the peak RSS includes
		// scrapes. With 10,000 devices or more, a reload mid-window.
		stopScrapes := scrapeEvery(ri.addr, 15*time.Second)
		var reload time.Duration
		var reloadErr error
		if c.N >= 10000 {
			time.Sleep(opt.duration / 2)
			reload, reloadErr = reloadOne(ri, c)
			time.Sleep(opt.duration - opt.duration/2)
		} else {
			time.Sleep(opt.duration)
		}
		scrapes := stopScrapes()
		ri.end(c)
		alone := ri.row
		alone.Mode = modeAlone
		alone.Reload, alone.Scrapes15 = reload, scrapes
		if reloadErr != nil {
			alone.ReloadErr = reloadErr.Error()
		}
		d1 := readDelay(ri.addr)
		alone.Started, alone.Within10ms = d1[0]-d0[0], d1[1]-d0[1]
		readCounters(&alone, ri)
		res.rows = append(res.rows, alone)
		if scrape {
			cpuRate := alone.CPU / alone.Sched.Window.Seconds()
			for _, gz := range []bool{true, false} {
				res.scrapes = append(res.scrapes, scrapeBench(ri.p, ri.addr, c.N, gz, cpuRate))
			}
		}
		if want("engine") {
			logf("probe engine: N=%d every %s, side by side", c.N, c.Interval)
			peers := []*peerRun{ri, startBarePeer(b, c, float64(c.N)/c.Interval.Seconds())}
			if b.blackbox != "" {
				peers = append(peers, startBlackboxPeer(b, c))
			} else {
				res.rows = append(res.rows, engineRow{Case: c, Who: whoBlackbox, Mode: modeSide})
			}
			time.Sleep(warmup(c))
			for _, r := range peers {
				r.begin()
			}
			time.Sleep(opt.duration)
			for _, r := range peers {
				r.end(c)
				r.row.Mode = modeSide
				res.rows = append(res.rows, r.row)
			}
			for _, r := range peers[1:] {
				r.stop()
			}
		}
		if ri.p.exited() {
			fatalf("restartinator exited during the run:\n%s", ri.p.tail())
		}
		ri.stop()
	}
	return res
}

const (
	modeAlone = "alone"
	modeSide  = "side by side"
)

// peerRun is one process probing its own listeners at a case's rate.
type peerRun struct {
	row      engineRow
	p        *proc
	f        *farm
	addr     string
	dir      string // restartinator's config directory
	failures func() int64
	stop     func()

	// The listeners' own schedule: a peer may spread the case's rate over
	// fewer listeners (file descriptors are limited), each then probed more
	// often.
	schedN  int
	schedIv time.Duration

	from  time.Duration
	s0    procStat
	fail0 int64
	load0 string
}

func (r *peerRun) begin() {
	r.from, r.s0, r.fail0, r.load0 = r.f.now(), mustStat(r.p), r.failures(), load1()
}

func (r *peerRun) end(c engineCase) {
	s1, to := mustStat(r.p), r.f.now()
	r.row.CPU = s1.cpuSeconds() - r.s0.cpuSeconds()
	r.row.RSSKB, r.row.HWMKB, r.row.Threads = s1.rssKB, s1.hwmKB, s1.numThreads
	n, iv := c.N, c.Interval
	if r.schedN > 0 {
		n, iv = r.schedN, r.schedIv
	}
	r.row.Sched = r.f.schedule(n, iv, r.from, to)
	r.row.Failures = r.failures() - r.fail0
	r.row.Load = r.load0 + "-" + load1()
}

func noFailures() int64 { return 0 }

// peerPorts caps the listeners of the bare loop and blackbox_exporter: the
// three sets of the side-by-side run must fit the file descriptor limit
// (often 20,000 in containers) next to restartinator's 10,000. A connect
// costs the same whichever port it goes to.
const peerPorts = 2000

// restartinatorPorts caps restartinator's listeners: with more devices
// (100,000), devices share them round robin, and the listeners' own
// figures (gaps, drift) are then per port, not per device; the probe start
// delay comes from restartinator's histogram either way.
const restartinatorPorts = 10000

// schedPorts sets the per-listener schedule of a peer spreading rate over
// its listeners; rate 0 (unpaced) keeps the case's.
func (r *peerRun) schedPorts(c engineCase, rate float64) {
	if rate <= 0 || len(r.f.ports) == c.N {
		return
	}
	r.schedN = len(r.f.ports)
	r.schedIv = time.Duration(float64(r.schedN) / rate * float64(time.Second))
}

// readCounters scrapes restartinator once, after a window so the scrape's
// own cost stays out of it.
func readCounters(row *engineRow, r *peerRun) {
	row.AcceptsBefore = r.f.total()
	body, _, err := scrapeOnce(r.addr, false)
	row.AcceptsAfter = r.f.total()
	row.Counter = -1
	if err == nil {
		row.Counter = metricValue(body, `restartinator_probes_total{type="tcp"}`)
		row.ProbeFailures = metricValue(body, `restartinator_probe_failures_total{type="tcp"}`)
		row.StackInuse = metricValue(body, "go_memstats_stack_inuse_bytes")
		row.HeapInuse = metricValue(body, "go_memstats_heap_inuse_bytes")
		row.Goroutines = metricValue(body, "go_goroutines")
		row.Workers = metricValue(body, "restartinator_probe_workers")
	}
}

// readDelay reads restartinator's probe start delay histogram: probes
// started, and those within 10 ms of due.
func readDelay(addr string) [2]float64 {
	body, _, err := scrapeOnce(addr, false)
	if err != nil {
		return [2]float64{-1, -1}
	}
	return [2]float64{metricValue(body, "restartinator_probe_start_delay_seconds_count"),
		metricValue(body, `restartinator_probe_start_delay_seconds_bucket{le="0.01"}`)}
}

// scrapeEvery scrapes addr every iv until the returned func is called; it
// returns how many scrapes were made.
func scrapeEvery(addr string, iv time.Duration) func() int {
	done, n := make(chan struct{}), make(chan int)
	go func() {
		t := time.NewTicker(iv)
		defer t.Stop()
		count := 0
		for {
			select {
			case <-done:
				n <- count
				return
			case <-t.C:
				if _, _, err := scrapeOnce(addr, true); err == nil {
					count++
				}
			}
		}
	}()
	return func() int { close(done); return <-n }
}

// reloadOne rewrites restartinator's config with one device changed (its
// timeout) and times POST /-/reload: the other devices keep their state and
// schedule.
func reloadOne(r *peerRun, c engineCase) (time.Duration, error) {
	path := filepath.Join(r.dir, "restartinator.yml")
	cfg, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	changed := strings.Replace(string(cfg), "mode: monitor}", "mode: monitor, timeout: 1s}", 1)
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		return 0, err
	}
	t := time.Now()
	resp, err := http.Post("http://"+r.addr+"/-/reload", "text/plain", nil)
	if err != nil {
		return 0, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(t)
	if resp.StatusCode != 200 {
		return took, fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return took, nil
}

// warmup is how long a run goes before its window opens: restartinator
// spreads its first probes over min(check_interval, 10s).
func warmup(c engineCase) time.Duration {
	return min(c.Interval, 10*time.Second) + 2*time.Second
}

// engineConfig is restartinator's config for n devices, round robin over
// ports (more devices than listeners share them: a process has only so
// many file descriptors).
func engineConfig(dir string, c engineCase, ports []int, n int) string {
	var b strings.Builder
	timeout := min(c.Interval/2, 2*time.Second)
	fmt.Fprintf(&b, "global:\n  state_file: %s\n  guard: {max_failing_ratio: 1}\n", filepath.Join(dir, "state.json"))
	fmt.Fprintf(&b, "defaults:\n  check_interval: %s\n  retry_interval: %s\n  timeout: %s\n", c.Interval, c.Interval, timeout)
	b.WriteString("devices:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: d%06d, host: 127.0.0.1, port: %d, mode: monitor}\n", i+1, ports[i%len(ports)])
	}
	return b.String()
}

// startRestartinator writes cfg and runs the binary on a free port until
// /-/ready answers.
func startRestartinator(b binaries, name, cfg string) (*proc, string, time.Duration) {
	dir := filepath.Join(opt.work, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fatalf("%v", err)
	}
	cfgPath := filepath.Join(dir, "restartinator.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		fatalf("%v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort())
	t0 := time.Now()
	p, err := startProc(name, dir, filepath.Join(dir, "log"), nil, b.restartinator,
		"--config.file="+cfgPath, "--web.listen-address="+addr, "--log.level=warn")
	if err != nil {
		fatalf("%v", err)
	}
	waitHTTP(p, "http://"+addr+"/-/ready", 2*time.Minute)
	return p, addr, time.Since(t0)
}

func startRestartinatorPeer(b binaries, c engineCase) *peerRun {
	f, err := newFarm(min(c.N, restartinatorPorts))
	if err != nil {
		fatalf("%v", err)
	}
	name := fmt.Sprintf("engine-%d-%s", c.N, c.Interval)
	p, addr, startup := startRestartinator(b, name, engineConfig(filepath.Join(opt.work, name), c, f.ports, c.N))
	r := &peerRun{p: p, f: f, addr: addr, failures: noFailures, dir: filepath.Join(opt.work, name)}
	r.schedPorts(c, float64(c.N)/c.Interval.Seconds())
	r.row = engineRow{Case: c, Who: whoRestartinator, Startup: startup, Available: true,
		Command: fmt.Sprintf("restartinator --config.file=restartinator.yml --web.listen-address=%s --log.level=warn", addr)}
	r.stop = func() { p.stop(); f.close() }
	return r
}

// startBarePeer runs the bare loop at rate connects/s, or unpaced with one
// goroutine when rate is 0.
func startBarePeer(b binaries, c engineCase, rate float64) *peerRun {
	f, err := newFarm(min(c.N, peerPorts))
	if err != nil {
		fatalf("%v", err)
	}
	dir := filepath.Join(opt.work, fmt.Sprintf("bare-%d-%s-%g", c.N, c.Interval, rate))
	_ = os.MkdirAll(dir, 0o755)
	var ports strings.Builder
	for _, p := range f.ports {
		fmt.Fprintln(&ports, p)
	}
	portsFile := filepath.Join(dir, "ports")
	_ = os.WriteFile(portsFile, []byte(ports.String()), 0o644)
	args := []string{b.self, "connectloop", "-ports-file", portsFile, "-rate", strconv.FormatFloat(rate, 'f', -1, 64),
		"-workers", "4", "-max-duration", (warmup(c) + opt.duration + time.Minute).String()}
	p, err := startProc("connectloop", dir, filepath.Join(dir, "log"), nil, args...)
	if err != nil {
		fatalf("%v", err)
	}
	r := &peerRun{p: p, f: f, failures: noFailures}
	r.schedPorts(c, rate)
	r.row = engineRow{Case: c, Who: whoBare, Available: true,
		Command: fmt.Sprintf("benchrun connectloop -rate %g -workers 4 (net.DialTimeout, SetLinger(0), Close; round robin over %d listeners)", rate, len(f.ports))}
	if rate == 0 {
		r.row.Command = fmt.Sprintf("benchrun connectloop -rate 0 (one goroutine, one connect after the other, over %d listeners)", c.N)
	}
	r.stop = func() { p.stop(); f.close() }
	return r
}

func blackboxConfig() string {
	return `modules:
  tcp_connect:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
`
}

// startBlackbox runs Debian's blackbox_exporter with one tcp_connect module.
func startBlackbox(b binaries, name string) (*proc, string) {
	dir := filepath.Join(opt.work, name)
	_ = os.MkdirAll(dir, 0o755)
	cfg := filepath.Join(dir, "blackbox.yml")
	_ = os.WriteFile(cfg, []byte(blackboxConfig()), 0o644)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort())
	p, err := startProc(name, dir, filepath.Join(dir, "log"), nil, b.blackbox,
		"--config.file="+cfg, "--web.listen-address="+addr, "--log.level=warn")
	if err != nil {
		fatalf("%v", err)
	}
	waitHTTP(p, "http://"+addr+"/-/healthy", time.Minute)
	return p, addr
}

// startBlackboxPeer runs blackbox_exporter and drives /probe at the case's
// rate, round robin over its own listeners.
func startBlackboxPeer(b binaries, c engineCase) *peerRun {
	f, err := newFarm(min(c.N, peerPorts))
	if err != nil {
		fatalf("%v", err)
	}
	p, addr := startBlackbox(b, fmt.Sprintf("blackbox-%d-%s", c.N, c.Interval))
	rate := float64(c.N) / c.Interval.Seconds()
	workers := 32
	var failures atomic.Int64
	r := &peerRun{p: p, f: f, addr: addr, failures: failures.Load}
	r.schedPorts(c, rate)
	r.row = engineRow{Case: c, Who: whoBlackbox, Available: true,
		Command: fmt.Sprintf("prometheus-blackbox-exporter --config.file=blackbox.yml --web.listen-address=%s --log.level=warn; "+
			"GET /probe?module=tcp_connect&target=127.0.0.1:PORT at %g/s from %d keep-alive connections, round robin over %d listeners", addr, rate, workers, len(f.ports))}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers * 2, MaxIdleConns: workers * 2}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		pace(ctx, rate, workers, func(i int64) {
			url := fmt.Sprintf("http://%s/probe?module=tcp_connect&target=127.0.0.1:%d", addr, f.ports[i%int64(len(f.ports))])
			resp, err := client.Get(url)
			if err != nil {
				failures.Add(1)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Contains(body, []byte("\nprobe_success 1")) {
				failures.Add(1)
			}
		})
	}()
	r.stop = func() { cancel(); <-done; p.stop(); f.close() }
	return r
}

// scrapeRow is /metrics scraped back to back while the probes run.
type scrapeRow struct {
	N                  int
	Gzip               bool
	Scrapes            int
	P50, P99, Max      time.Duration
	Bytes, Uncompessed int
	Series             int
	DeviceSeries       int // series with a device label
	CPUPerScrapeMs     float64
}

// promAccept is what Prometheus 3 asks for by default (text formats).
const promAccept = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

func scrapeOnce(addr string, gz bool) ([]byte, int, error) {
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	if gz {
		req.Header.Set("Accept", promAccept)
		req.Header.Set("Accept-Encoding", "gzip")
	} else {
		req.Header.Set("Accept-Encoding", "identity")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != 200 {
		return nil, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, 0, err
		}
		body, err := io.ReadAll(zr)
		return body, len(raw), err
	}
	return raw, len(raw), nil
}

func scrapeBench(p *proc, addr string, n int, gz bool, probeCPURate float64) scrapeRow {
	row := scrapeRow{N: n, Gzip: gz}
	limit := 20 * time.Second
	if opt.quick {
		limit = 5 * time.Second
	}
	var lat []time.Duration
	start, s0 := time.Now(), mustStat(p)
	for time.Since(start) < limit && len(lat) < 300 {
		t := time.Now()
		body, wire, err := scrapeOnce(addr, gz)
		if err != nil {
			fatalf("scraping %s: %v", addr, err)
		}
		lat = append(lat, time.Since(t))
		row.Bytes, row.Uncompessed = wire, len(body)
		if row.Series == 0 {
			row.Series = countSeries(body)
			row.DeviceSeries = countDeviceSeries(body)
		}
	}
	elapsed, s1 := time.Since(start), mustStat(p)
	row.Scrapes = len(lat)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	row.P50, row.P99, row.Max = pct(lat, 50), pct(lat, 99), lat[len(lat)-1]
	cpu := s1.cpuSeconds() - s0.cpuSeconds() - probeCPURate*elapsed.Seconds()
	row.CPUPerScrapeMs = max(cpu, 0) / float64(len(lat)) * 1000
	return row
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	i = min(max(i-1, 0), len(sorted)-1)
	return sorted[i]
}

func countSeries(body []byte) int {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Bytes()
		if len(l) > 0 && l[0] != '#' {
			n++
		}
	}
	return n
}

func countDeviceSeries(body []byte) int {
	n := 0
	for l := range bytes.Lines(body) {
		if len(l) > 0 && l[0] != '#' && bytes.Contains(l, []byte(`{device="`)) {
			n++
		}
	}
	return n
}

func metricValue(body []byte, series string) float64 {
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return f
		}
	}
	return -1
}
