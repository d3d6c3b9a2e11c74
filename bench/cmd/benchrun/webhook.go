package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
)

// webhookRow is one closed-loop load run against one receiver.
type webhookRow struct {
	Who      string
	Alerts   int
	Round    int
	Requests int
	Errors   int64
	Window   time.Duration
	P50, P99 time.Duration
	CPU      float64
	RSSKB    uint64
	Load     string
}

func (r webhookRow) rps() float64 { return float64(r.Requests) / r.Window.Seconds() }
func (r webhookRow) cpuPerReqMs() float64 {
	if r.Requests == 0 {
		return 0
	}
	return r.CPU / float64(r.Requests) * 1000
}

type webhookResult struct {
	rows     []webhookRow
	bodySize map[int]int
	commands []string
	conns    int
}

const (
	whoMinimal    = "minimal net/http handler"
	whoAMExecutor = "prometheus-am-executor"
)

// webhookPayload is Alertmanager's version 4 body with n firing alerts that
// match no route: the same alerts as actuator/webhook's benchmarks.
func webhookPayload(n int) []byte {
	startsAt := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	alerts := make([]template.Alert, n)
	for i := range alerts {
		ls := template.KV{"alertname": "DiskFull", "device": fmt.Sprintf("dev%03d", i),
			"instance": fmt.Sprintf("site-a:%d", 9100+i), "job": "node", "severity": "warning"}
		mls := model.LabelSet{}
		for k, v := range ls {
			mls[model.LabelName(k)] = model.LabelValue(v)
		}
		alerts[i] = template.Alert{Status: "firing", Labels: ls,
			Annotations: template.KV{"summary": "Device " + ls["device"] + " is down"}, StartsAt: startsAt,
			GeneratorURL: "http://prometheus.example/graph", Fingerprint: mls.Fingerprint().String()}
	}
	msg := struct {
		template.Data
		Version         string `json:"version"`
		GroupKey        string `json:"groupKey"`
		TruncatedAlerts uint64 `json:"truncatedAlerts"`
	}{
		Data: template.Data{Receiver: "restartinator", Status: "firing", Alerts: alerts,
			GroupLabels: template.KV{"alertname": "DiskFull"}, CommonLabels: template.KV{}, CommonAnnotations: template.KV{},
			ExternalURL: "http://alertmanager.example"},
		Version: "4", GroupKey: `{}:{alertname="DiskFull"}`,
	}
	b, err := json.Marshal(msg)
	if err != nil {
		fatalf("%v", err)
	}
	return b
}

type receiver struct {
	who string
	p   *proc
	url string
}

func runWebhook(b binaries) *webhookResult {
	res := &webhookResult{bodySize: map[int]int{}, conns: opt.webhookConns}
	f, err := newFarm(1)
	if err != nil {
		fatalf("%v", err)
	}
	defer f.close()
	dir := filepath.Join(opt.work, "webhook-restartinator")
	cfg := fmt.Sprintf("global:\n  state_file: %s\n  guard: {max_failing_ratio: 1}\nwebhook: {}\ndevices:\n  - {name: d1, host: 127.0.0.1, port: %d, mode: monitor}\n",
		filepath.Join(dir, "state.json"), f.ports[0])
	rp, raddr, _ := startRestartinator(b, "webhook-restartinator", cfg)
	defer rp.stop()
	mdir := filepath.Join(opt.work, "webhook-minimal")
	_ = os.MkdirAll(mdir, 0o755)
	maddr := fmt.Sprintf("127.0.0.1:%d", freePort())
	mp, err := startProc("minimal-webhook", mdir, filepath.Join(mdir, "log"), nil, b.self, "minimal-webhook", "-listen", maddr)
	if err != nil {
		fatalf("%v", err)
	}
	defer mp.stop()
	waitHTTP(mp, "http://"+maddr+"/-/ready", 30*time.Second)
	recv := []receiver{{whoRestartinator, rp, "http://" + raddr + "/webhook"}, {whoMinimal, mp, "http://" + maddr + "/webhook"}}
	res.commands = append(res.commands,
		fmt.Sprintf("`restartinator --config.file=restartinator.yml --web.listen-address=%s --log.level=warn` (config: `webhook: {}`, no routes, one monitor device)", raddr),
		fmt.Sprintf("`benchrun minimal-webhook -listen %s` (`json.NewDecoder(r.Body).Decode(&template.Data{})`, then 200)", maddr))
	if b.amExecutor != "" {
		adir := filepath.Join(opt.work, "webhook-am-executor")
		_ = os.MkdirAll(adir, 0o755)
		aaddr := fmt.Sprintf("127.0.0.1:%d", freePort())
		acfg := filepath.Join(adir, "am-executor.yml")
		_ = os.WriteFile(acfg, []byte(fmt.Sprintf("listen_address: %q\nverbose: false\ncommands:\n  - cmd: /bin/true\n    match_labels:\n      alertname: NeverMatches\n", aaddr)), 0o644)
		ap, err := startProc("am-executor", adir, filepath.Join(adir, "log"), nil, b.amExecutor, "-f", acfg)
		if err != nil {
			fatalf("%v", err)
		}
		defer ap.stop()
		waitTCP(ap, aaddr, 30*time.Second)
		recv = append(recv, receiver{whoAMExecutor, ap, "http://" + aaddr + "/"})
		res.commands = append(res.commands, fmt.Sprintf("`prometheus-am-executor -f am-executor.yml` (listen %s; one command that matches no alert)", aaddr))
	}
	for _, n := range []int{1, 100} {
		body := webhookPayload(n)
		res.bodySize[n] = len(body)
		for round := 1; round <= opt.rounds; round++ {
			for _, r := range recv {
				logf("webhook: %s, %d alerts, round %d", r.who, n, round)
				res.rows = append(res.rows, webhookLoad(r, n, round, body))
			}
		}
	}
	return res
}

// webhookLoad posts body from opt.webhookConns keep-alive connections, each
// sending the next request when the last is answered, for one second of
// warm-up and then the measured window.
func webhookLoad(r receiver, n, round int, body []byte) webhookRow {
	row := webhookRow{Who: r.who, Alerts: n, Round: round}
	tr := &http.Transport{MaxIdleConnsPerHost: opt.webhookConns, MaxIdleConns: opt.webhookConns}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var measuring, stop atomic.Bool
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < opt.webhookConns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<16)
			defer func() { mu.Lock(); lat = append(lat, local...); mu.Unlock() }()
			for !stop.Load() {
				t := time.Now()
				m := measuring.Load()
				resp, err := client.Post(r.url, "application/json", bytes.NewReader(body))
				if err != nil {
					errs.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(t)
				if resp.StatusCode != 200 {
					errs.Add(1)
					continue
				}
				if m && measuring.Load() {
					local = append(local, d)
				}
			}
		}()
	}
	time.Sleep(time.Second)
	s0, t0, l0 := mustStat(r.p), time.Now(), load1()
	measuring.Store(true)
	time.Sleep(opt.webhookDur)
	measuring.Store(false)
	s1, t1 := mustStat(r.p), time.Now()
	row.Load = l0 + "-" + load1()
	stop.Store(true)
	wg.Wait()
	row.Window = t1.Sub(t0)
	row.CPU = s1.cpuSeconds() - s0.cpuSeconds()
	row.RSSKB = s1.rssKB
	row.Errors = errs.Load()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	row.Requests = len(lat)
	row.P50, row.P99 = pct(lat, 50), pct(lat, 99)
	return row
}
