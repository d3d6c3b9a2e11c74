package reliability

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
	"github.com/restartinator/restartinator/internal/simdevice"
)

// TestWebhookFlood is issue 9 item 11: the real binary's webhook under 200
// requests a second for 60 s of duplicates, HA-peer repeats, resolved
// alerts, malformed, oversize and unauthenticated requests. Every alert
// episode (fingerprint + startsAt) must cycle its device exactly once, the
// process must not crash, and its memory must stay flat.
func TestWebhookFlood(t *testing.T) {
	enabled(t)
	const (
		rate     = 200 // requests a second
		devices  = 8
		episode  = 6 * time.Second // a device's alert fires anew this often
		maxBody  = 64 << 10
		token    = "flood-token-0123456789"
		workers  = 48
		warmup   = 3 * time.Second
		sampleIv = 5 * time.Second
	)
	duration := time.Duration(scaled(60)) * time.Second
	dir := t.TempDir()
	statePath := filepath.Join(dir, "state.json")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global: {state_file: %s, max_concurrent_cycles: %d}\nplugs:\n", statePath, devices)
	var devs []string
	for i := range devices {
		plug, err := kasasim.Start(kasasim.Options{Model: "HS100"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { plug.Close() })
		fmt.Fprintf(&cfg, "  - {name: p%d, host: 127.0.0.1, port: %d, protocol: xor}\n", i, plug.Port())
		devs = append(devs, fmt.Sprintf("d%d", i))
	}
	cfg.WriteString("devices:\n")
	for i := range devices {
		sd, err := simdevice.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sd.Close() })
		fmt.Fprintf(&cfg, "  - {name: d%d, host: 127.0.0.1, port: %d, plug: p%d, mode: alert, check_interval: 5s, cycle_time: 1s, boot_time: 30s}\n", i, sd.Port(), i)
	}
	fmt.Fprintf(&cfg, `webhook:
  bearer_token: %s
  max_body_bytes: %d
  routes: [{matchers: ['alertname="DeviceDown"'], action: cycle, device_label: device}]
`, token, maxBody)
	cfgPath := filepath.Join(dir, "restartinator.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, "--config.file", cfgPath, "--log.level=info")
	rssStart := p.rssKiB()

	// The episodes: device k's n-th episode starts at k*episode/devices +
	// n*episode after t0 (staggered so the devices' cycles interleave).
	t0 := time.Now()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fingerprint := func(k int) string { return fmt.Sprintf("%016x", 0xdead0000+k) }
	current := func(k int, at time.Time) (int, bool) {
		off := at.Sub(t0) - time.Duration(k)*episode/devices
		if off < 0 {
			return 0, false
		}
		return int(off / episode), true
	}
	startsAt := func(k, n int) time.Time { return base.Add(time.Duration(k)*time.Minute + time.Duration(n)*time.Hour) }
	alertJSON := func(k, n int, status string, peer bool) string {
		s := startsAt(k, n).Format(time.RFC3339Nano)
		if peer { // an HA peer in another time zone writes the same instant differently
			s = startsAt(k, n).In(time.FixedZone("CEST", 2*3600)).Format(time.RFC3339Nano)
		}
		ends := "0001-01-01T00:00:00Z"
		if status == "resolved" {
			ends = startsAt(k, n).Add(time.Minute).Format(time.RFC3339)
		}
		return fmt.Sprintf(`{"status":%q,"labels":{"alertname":"DeviceDown","device":"d%d"},"annotations":{"summary":"d%d down"},"startsAt":%q,"endsAt":%q,"fingerprint":%q}`,
			status, k, k, s, ends, fingerprint(k))
	}
	message := func(alerts ...string) string {
		return `{"receiver":"restartinator","status":"firing","alerts":[` + strings.Join(alerts, ",") +
			`],"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am","version":"4","groupKey":"{}:{}","truncatedAlerts":0}`
	}
	oversize := message(alertJSON(0, 0, "firing", false)) + strings.Repeat(" ", 3*maxBody)
	malformed := []string{
		`{"version":"4","alerts":[{"status":"firing"`, // truncated
		`{"version":"3","alerts":[]}`,                 // wrong version
		`not json at all`,                             // garbage
		``,                                            // empty
		`{"version":"4","alerts":"nope"}`,             // wrong type
		`{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"DeviceDown","device":"d1"},"startsAt":"yesterday"}]}`,
		"\xff\xfe\x00\x01",
	}

	type result struct {
		kind string
		code int
		body string
	}
	var (
		mu        sync.Mutex
		tally     = map[string]map[int]int{} // kind -> status -> count
		delivered = map[string]bool{}        // episodes sent with the token
		problems  []string
	)
	record := func(r result) {
		mu.Lock()
		defer mu.Unlock()
		if tally[r.kind] == nil {
			tally[r.kind] = map[int]int{}
		}
		tally[r.kind][r.code]++
		want := map[string][]int{
			"firing": {200}, "group": {200}, "peer": {200}, "resolved": {200},
			"malformed": {400}, "oversize": {413}, "oversize-chunked": {413},
			"no-token": {401}, "wrong-token": {401},
		}[r.kind]
		if !slices.Contains(want, r.code) && len(problems) < 20 {
			problems = append(problems, fmt.Sprintf("%s: %d %s", r.kind, r.code, strings.TrimSpace(r.body)))
		}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Timeout: 30 * time.Second, Transport: tr}
	send := func(kind, body string, auth string, chunked bool) {
		var rd io.Reader = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(strings.NewReader(body)) // no length known: chunked
		}
		req, _ := http.NewRequest(http.MethodPost, p.url("/webhook"), rd)
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			record(result{kind, 0, err.Error()})
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		record(result{kind, resp.StatusCode, string(b)})
	}

	// One request of the mix, chosen by r at time at.
	request := func(r *rand.Rand, at time.Time) func() {
		k := r.IntN(devices)
		n, ok := current(k, at)
		x := r.IntN(100)
		switch {
		case x < 30 && ok:
			mu.Lock()
			delivered[fmt.Sprintf("d%d#%d", k, n)] = true
			mu.Unlock()
			return func() { send("firing", message(alertJSON(k, n, "firing", false)), token, false) }
		case x < 38 && ok:
			mu.Lock()
			delivered[fmt.Sprintf("d%d#%d", k, n)] = true
			mu.Unlock()
			return func() { send("peer", message(alertJSON(k, n, "firing", true)), token, false) }
		case x < 48:
			// A group: every device's current episode, some resolved ones.
			var alerts []string
			for j := range devices {
				if m, ok := current(j, at); ok {
					alerts = append(alerts, alertJSON(j, m, "firing", false))
					mu.Lock()
					delivered[fmt.Sprintf("d%d#%d", j, m)] = true
					mu.Unlock()
					if m > 0 {
						alerts = append(alerts, alertJSON(j, m-1, "resolved", false))
					}
				}
			}
			if len(alerts) == 0 {
				return func() { send("malformed", malformed[0], token, false) }
			}
			return func() { send("group", message(alerts...), token, false) }
		case x < 55:
			return func() { send("resolved", message(alertJSON(k, n+1000, "resolved", false)), token, false) }
		case x < 70:
			body := malformed[r.IntN(len(malformed))]
			return func() { send("malformed", body, token, false) }
		case x < 76:
			return func() { send("oversize", oversize, token, false) }
		case x < 80:
			return func() { send("oversize-chunked", oversize, token, true) }
		case x < 90:
			// A fresh episode nobody authenticated: acting on it would be
			// a cycle too many.
			body := message(alertJSON(k, n+5000, "firing", false))
			return func() { send("no-token", body, "", false) }
		default:
			body := message(alertJSON(k, n+6000, "firing", false))
			return func() { send("wrong-token", body, "not-"+token, false) }
		}
	}

	jobs := make(chan func(), 4*rate)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				j()
			}
		}()
	}
	type sample struct {
		at  time.Duration
		rss int
	}
	samples := []sample{{0, rssStart}}
	var warmHeap, warmGoroutines float64
	rng := rand.New(rand.NewPCG(9, 11))
	total := int(duration / (time.Second / rate))
	late := 0
	nextSample := t0.Add(warmup)
	for i := range total {
		due := t0.Add(time.Duration(i) * time.Second / rate)
		if d := time.Until(due); d > 0 {
			time.Sleep(d) // pacing the load, not waiting for a result
		}
		if now := time.Now(); now.After(nextSample) {
			if len(samples) == 1 {
				warmHeap, warmGoroutines = goStats(p)
			}
			samples = append(samples, sample{now.Sub(t0), p.rssKiB()})
			nextSample = nextSample.Add(sampleIv)
			if !p.alive() {
				t.Fatalf("restartinator died under the flood (%v):\n%s", p.err, p.logs.tail(50))
			}
		}
		select {
		case jobs <- request(rng, due):
		default:
			late++
			jobs <- request(rng, due)
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(t0)
	samples = append(samples, sample{elapsed, p.rssKiB()})

	if !p.alive() {
		t.Fatalf("restartinator died under the flood (%v):\n%s", p.err, p.logs.tail(50))
	}
	if n := p.logs.count("panic"); n > 0 {
		t.Errorf("%d log lines mention a panic:\n%s", n, p.logs.tail(50))
	}

	// Exactly one cycle per episode: the counters count a cycle when it
	// starts; the last ones may still be starting.
	want := map[string]int{}
	for key := range delivered {
		want[strings.SplitN(key, "#", 2)[0]]++
	}
	episodes := len(delivered)
	cyclesOf := func(body, d string) int {
		return int(metricIn(body, fmt.Sprintf(`restartinator_power_cycles_total{device=%q,trigger="webhook"}`, d)))
	}
	var metrics string
	poll(t, "every delivered episode's cycle to start", bound, 100*time.Millisecond, func() bool {
		_, metrics = do(http.MethodGet, p.url("/metrics"), "")
		for _, d := range devs {
			if cyclesOf(metrics, d) < want[d] {
				return false
			}
		}
		return true
	})
	// Let the last cycles finish so the history holds them: every outlet
	// is on and no device is cycling.
	poll(t, "the last cycles to finish", bound, 100*time.Millisecond, func() bool {
		for _, d := range getDevices(t, p).Devices {
			if d.State == "cycling" {
				return false
			}
		}
		return true
	})
	_, metrics = do(http.MethodGet, p.url("/metrics"), "")
	st := readState(t, statePath)
	cycles := 0
	for _, d := range devs {
		got, hist := cyclesOf(metrics, d), countHistory(st, d)
		cycles += got
		if got != want[d] || hist != want[d] {
			t.Errorf("%s: %d cycles counted, %d in the history, for %d alert episodes: want exactly one per episode", d, got, hist, want[d])
		}
	}
	rssEnd := p.rssKiB()
	// Goroutines are the leak to fear: one per request left behind. The
	// client's idle keep-alive connections (up to one per worker) each hold
	// a server goroutine too, however many were open at the warm-up's
	// sample: closed, their goroutines go; a leaked one stays.
	tr.CloseIdleConnections()
	endHeap, endGoroutines := goStats(p)
	for deadline := time.Now().Add(10 * time.Second); endGoroutines > warmGoroutines+20 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		endHeap, endGoroutines = goStats(p)
	}
	if endGoroutines > warmGoroutines+20 {
		t.Errorf("goroutines grew from %v after warm-up to %v at the end", warmGoroutines, endGoroutines)
	}
	samples = append(samples, sample{time.Since(t0), rssEnd})

	// Flat memory: after warm-up, the resident set may wobble but must not
	// keep growing with the requests served.
	warm := samples[1].rss
	peak := 0
	for _, s := range samples[1:] {
		peak = max(peak, s.rss)
	}
	if rssEnd > warm*3/2+32<<10 {
		t.Errorf("resident memory grew from %d KiB after warm-up to %d KiB at the end", warm, rssEnd)
	}

	mu.Lock()
	defer mu.Unlock()
	sent := 0
	var kinds []string
	for k, m := range tally {
		kinds = append(kinds, k)
		for _, n := range m {
			sent += n
		}
	}
	slices.Sort(kinds)
	for _, p := range problems {
		t.Errorf("unexpected answer: %s", p)
	}
	report(t, "%d requests in %s (%.0f/s, %d handed to a busy pool late), %d workers", sent, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds(), late, workers)
	var mix []string
	for _, k := range kinds {
		var codes []string
		for c, n := range tally[k] {
			codes = append(codes, fmt.Sprintf("%d×%d", n, c))
		}
		slices.Sort(codes)
		mix = append(mix, fmt.Sprintf("%s %s", k, strings.Join(codes, ",")))
	}
	report(t, "answers: %s", strings.Join(mix, "; "))
	report(t, "alert episodes delivered %d, power cycles %d (exactly one each: %v), crashes 0, panics in the log %d",
		episodes, cycles, cycles == episodes && !t.Failed(), p.logs.count("panic"))
	var rs []string
	for _, s := range samples {
		rs = append(rs, fmt.Sprintf("%s:%dMiB", s.at.Round(time.Second), s.rss>>10))
	}
	report(t, "Go heap in use %.1f MiB after warm-up, %.1f MiB at the end; goroutines %v after warm-up, %v at the end",
		warmHeap/(1<<20), endHeap/(1<<20), warmGoroutines, endGoroutines)
	report(t, "RSS at start %d KiB, after warm-up %d KiB, peak %d KiB, at end %d KiB (race-detector build); samples %s",
		rssStart, warm, peak, rssEnd, strings.Join(rs, " "))
}

// goStats reads the process's heap in use and goroutine count from /metrics.
func goStats(p *proc) (heap, goroutines float64) {
	_, body := do(http.MethodGet, p.url("/metrics"), "")
	return metricIn(body, "go_memstats_heap_inuse_bytes"), metricIn(body, "go_goroutines")
}
