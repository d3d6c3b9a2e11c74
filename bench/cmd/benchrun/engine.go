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

func runEngine(b binaries) *engineResult {
	res := &engineResult{}
	if want("engine") {
		logf("probe engine: bare connect loop as fast as it goes")
		res.bareMax = engineBareRate(b, engineCase{N: 1000, Interval: time.Second}, 0)
	}
	for _, c := range opt.engineCases {
		scrape := want("metrics") && c.N == 10000
		if !want("engine") {
			if !scrape {
				continue
			}
		}
		logf("probe engine: N=%d every %s", c.N, c.Interval)
		row, scrapes := engineRestartinator(b, c, scrape)
		res.rows = append(res.rows, row)
		res.scrapes = append(res.scrapes, scrapes...)
		if !want("engine") {
			continue
		}
		res.rows = append(res.rows, engineBare(b, c))
		res.rows = append(res.rows, engineBlackbox(b, c))
	}
	return res
}

// warmup is how long a run goes before its window opens: restartinator
// spreads its first probes over min(check_interval, 10s).
func warmup(c engineCase) time.Duration {
	return min(c.Interval, 10*time.Second) + 2*time.Second
}

func engineConfig(dir string, c engineCase, ports []int) string {
	var b strings.Builder
	timeout := min(c.Interval/2, 2*time.Second)
	fmt.Fprintf(&b, "global:\n  state_file: %s\n  guard: {max_failing_ratio: 1}\n", filepath.Join(dir, "state.json"))
	fmt.Fprintf(&b, "defaults:\n  check_interval: %s\n  retry_interval: %s\n  timeout: %s\n", c.Interval, c.Interval, timeout)
	b.WriteString("devices:\n")
	for i, p := range ports {
		fmt.Fprintf(&b, "  - {name: d%05d, host: 127.0.0.1, port: %d, mode: monitor}\n", i+1, p)
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

func engineRestartinator(b binaries, c engineCase, scrape bool) (engineRow, []scrapeRow) {
	f, err := newFarm(c.N)
	if err != nil {
		fatalf("%v", err)
	}
	defer f.close()
	name := fmt.Sprintf("engine-%d-%s", c.N, c.Interval)
	p, addr, startup := startRestartinator(b, name, engineConfig(filepath.Join(opt.work, name), c, f.ports))
	defer p.stop()
	row := engineRow{Case: c, Who: whoRestartinator, Startup: startup, Available: true,
		Command: fmt.Sprintf("restartinator --config.file=restartinator.yml --web.listen-address=%s --log.level=warn", addr)}
	time.Sleep(warmup(c))
	from, s0, l0 := f.now(), mustStat(p), load1()
	time.Sleep(opt.duration)
	s1, to := mustStat(p), f.now()
	row.Load = l0 + "-" + load1()
	row.CPU = s1.cpuSeconds() - s0.cpuSeconds()
	row.RSSKB, row.HWMKB, row.Threads = s1.rssKB, s1.hwmKB, s1.numThreads
	row.Sched = f.schedule(c.N, c.Interval, from, to)
	// After the window, so the scrape's own cost stays out of it.
	row.AcceptsBefore = f.total()
	body, _, err := scrapeOnce(addr, false)
	row.AcceptsAfter = f.total()
	row.Counter = -1
	if err == nil {
		row.Counter = metricValue(body, `restartinator_probes_total{type="tcp"}`)
		row.ProbeFailures = metricValue(body, `restartinator_probe_failures_total{type="tcp"}`)
		row.StackInuse = metricValue(body, "go_memstats_stack_inuse_bytes")
		row.HeapInuse = metricValue(body, "go_memstats_heap_inuse_bytes")
		row.Goroutines = metricValue(body, "go_goroutines")
	}
	var scrapes []scrapeRow
	if scrape {
		cpuRate := row.CPU / (to - from).Seconds()
		for _, gz := range []bool{true, false} {
			scrapes = append(scrapes, scrapeBench(p, addr, c.N, gz, cpuRate))
		}
	}
	if p.exited() {
		fatalf("restartinator exited during the run:\n%s", p.tail())
	}
	return row, scrapes
}

func engineBare(b binaries, c engineCase) engineRow {
	return engineBareRate(b, c, float64(c.N)/c.Interval.Seconds())
}

// engineBareRate runs the bare loop at rate connects/s, or unpaced with one
// goroutine when rate is 0.
func engineBareRate(b binaries, c engineCase, rate float64) engineRow {
	f, err := newFarm(c.N)
	if err != nil {
		fatalf("%v", err)
	}
	defer f.close()
	dir := filepath.Join(opt.work, fmt.Sprintf("bare-%d-%s", c.N, c.Interval))
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
	defer p.stop()
	row := engineRow{Case: c, Who: whoBare, Available: true,
		Command: fmt.Sprintf("benchrun connectloop -rate %g -workers 4 (net.DialTimeout, SetLinger(0), Close; round robin over the %d listeners)", rate, c.N)}
	if rate == 0 {
		row.Command = fmt.Sprintf("benchrun connectloop -rate 0 (one goroutine, one connect after the other, over %d listeners)", c.N)
	}
	// Every port has had its first connect after one interval.
	time.Sleep(warmup(c))
	from, s0, l0 := f.now(), mustStat(p), load1()
	time.Sleep(opt.duration)
	s1, to := mustStat(p), f.now()
	row.Load = l0 + "-" + load1()
	row.CPU = s1.cpuSeconds() - s0.cpuSeconds()
	row.RSSKB, row.HWMKB, row.Threads = s1.rssKB, s1.hwmKB, s1.numThreads
	row.Sched = f.schedule(c.N, c.Interval, from, to)
	return row
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

func engineBlackbox(b binaries, c engineCase) engineRow {
	row := engineRow{Case: c, Who: whoBlackbox}
	if b.blackbox == "" {
		return row
	}
	row.Available = true
	f, err := newFarm(c.N)
	if err != nil {
		fatalf("%v", err)
	}
	defer f.close()
	p, addr := startBlackbox(b, fmt.Sprintf("blackbox-%d-%s", c.N, c.Interval))
	defer p.stop()
	rate := float64(c.N) / c.Interval.Seconds()
	workers := 32
	row.Command = fmt.Sprintf("prometheus-blackbox-exporter --config.file=blackbox.yml --web.listen-address=%s --log.level=warn; "+
		"GET /probe?module=tcp_connect&target=127.0.0.1:PORT at %g/s from %d keep-alive connections, round robin over the %d listeners", addr, rate, workers, c.N)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers * 2, MaxIdleConns: workers * 2}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var failures atomic.Int64
	go func() {
		defer close(done)
		pace(ctx, rate, workers, func(i int64) {
			url := fmt.Sprintf("http://%s/probe?module=tcp_connect&target=127.0.0.1:%d", addr, f.ports[i%int64(c.N)])
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
	time.Sleep(warmup(c))
	from, s0, f0, l0 := f.now(), mustStat(p), failures.Load(), load1()
	time.Sleep(opt.duration)
	s1, to, f1 := mustStat(p), f.now(), failures.Load()
	row.Load = l0 + "-" + load1()
	cancel()
	<-done
	row.CPU = s1.cpuSeconds() - s0.cpuSeconds()
	row.RSSKB, row.HWMKB, row.Threads = s1.rssKB, s1.hwmKB, s1.numThreads
	row.Sched = f.schedule(c.N, c.Interval, from, to)
	row.Failures = f1 - f0
	return row
}

// scrapeRow is /metrics scraped back to back while the probes run.
type scrapeRow struct {
	N                  int
	Gzip               bool
	Scrapes            int
	P50, P99, Max      time.Duration
	Bytes, Uncompessed int
	Series             int
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

func metricValue(body []byte, series string) float64 {
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return f
		}
	}
	return -1
}
