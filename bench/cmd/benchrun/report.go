package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

type report struct {
	started, finished time.Time
	machine           machine
	bins              binaries
	quick             bool
	duration          time.Duration
	loadStart         string
	loadEnd           string
	engine            *engineResult
	webhook           *webhookResult
	idle              *idleResult
	detect            *detectResult
}

type aim struct {
	what, figure string
	met          *bool
}

func verdict(ok bool) *bool { return &ok }

func mbf(bytes float64) string {
	if bytes < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MB", bytes/(1<<20))
}

func mb(kb uint64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func mark(m *bool) string {
	switch {
	case m == nil:
		return "not measured"
	case *m:
		return "met"
	default:
		return "**missed**"
	}
}

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmarks\n\n")
	w("Written by `make bench` (`bench/cmd/benchrun`), %s. Every figure below comes from one run on one machine: "+
		"restartinator and its peers ran one after another in that run, so only the ratios between them mean much; "+
		"absolute figures move with the machine and with whatever else it was doing (see the load average).\n\n",
		r.started.UTC().Format("2006-01-02 15:04 UTC"))
	if r.quick {
		w("> **Quick run** (`BENCH_QUICK=1`): windows of %s, fewer rounds; for iterating, not for quoting.\n\n", r.duration)
	}
	w("## Machine and run\n\n| | |\n| --- | --- |\n")
	w("| CPU | %s, %d cores (GOMAXPROCS default) |\n", r.machine.cpu, r.machine.cores)
	w("| memory | %s |\n| OS, kernel | %s, Linux %s |\n", r.machine.mem, r.machine.os, r.machine.kernel)
	w("| Go | %s |\n| restartinator | commit %s, `go build` (the binary measured) |\n", r.bins.goVersion, r.bins.commit)
	bb := r.bins.blackboxVer
	if bb == "" {
		bb = "not installed"
	}
	w("| blackbox_exporter | %s (Debian package `prometheus-blackbox-exporter`) |\n", bb)
	am := r.bins.amExecutor
	if am == "" {
		am = r.bins.amExecutorNote
	}
	w("| prometheus-am-executor | %s |\n", am)
	w("| load average (1, 5, 15 min) | %s at the start, %s at the end |\n", r.loadStart, r.loadEnd)
	prio := fmt.Sprintf("process nice %s, scheduler %s", r.machine.nice, r.machine.autogroup)
	if opt.nice != 0 {
		prio += " (`BENCH_NICE`: benchrun and everything it started ran in an autogroup of their own at this nice value, ahead of the other sessions' work)"
	}
	w("| priority | %s |\n", prio)
	w("| run | %s, measured window %s per probe-engine run, %s per webhook run |\n\n",
		r.finished.Sub(r.started).Round(time.Second), r.duration, opt.webhookDur)

	w("## How to run\n\n```sh\nmake bench                        # the figures the issue asks for (60 s windows), then the Go benchmarks\n" +
		"BENCH_QUICK=1 make bench          # ~10 s windows, to iterate\nBENCH_DURATION=120s make bench    # longer windows\n" +
		"BENCH_NICE=-10 make bench-run     # on a shared machine: run ahead of other work (root)\n" +
		"make bench-run                    # benchrun alone, without the go test benchmarks\n" +
		"go run ./bench/cmd/benchrun -duration 60s -out docs/benchmarks.md   # what bench-run runs\n```\n\n" +
		"`make bench` installs Debian's `prometheus-blackbox-exporter` when it is missing (apt-get; sudo when not root). " +
		"Everything listens on 127.0.0.1; every process is started by benchrun and ended by it, also on failure or Ctrl-C " +
		"(and with `Pdeathsig` should benchrun itself die). CPU is utime+stime from `/proc/PID/stat` (10 ms ticks), RSS and " +
		"peak RSS are `VmRSS` and `VmHWM` from `/proc/PID/status`.\n\n")

	aims := r.aims()
	w("## The aims\n\n| # | aim | figure | verdict |\n| --- | --- | --- | --- |\n")
	for i, a := range aims {
		w("| %d | %s | %s | %s |\n", i+1, a.what, a.figure, mark(a.met))
	}
	w("\n")

	if e := r.engine; e != nil {
		r.engineSection(&b)
		r.scrapeSection(&b)
	}
	if r.webhook != nil {
		r.webhookSection(&b)
	}
	if r.idle != nil {
		r.idleSection(&b)
	}
	if r.detect != nil {
		r.detectSection(&b)
	}
	if notes, err := os.ReadFile(filepath.Join(opt.repo, "bench", "NOTES.md")); err == nil {
		w("%s", notes)
	}
	return b.String()
}

func (r *report) rowsFor(c engineCase, mode string) map[string]engineRow {
	m := map[string]engineRow{}
	if r.engine == nil {
		return m
	}
	for _, row := range r.engine.rows {
		if row.Case == c && row.Mode == mode {
			m[row.Who] = row
		}
	}
	return m
}

func caseName(c engineCase) string { return fmt.Sprintf("N=%d every %s", c.N, c.Interval) }

func (r *report) aims() []aim {
	var out []aim
	for _, c := range opt.engineCases {
		side := r.rowsFor(c, modeSide)
		if ri, ok := side[whoRestartinator]; ok && ri.cpuPer1000() > 0 {
			unpaced := ""
			if m := r.engine.bareMax; m.cpuPer1000() > 0 {
				unpaced = fmt.Sprintf("; %.2fx the unpaced loop's %.3f", ri.cpuPer1000()/m.cpuPer1000(), m.cpuPer1000())
			}
			if bare, ok := side[whoBare]; ok && bare.cpuPer1000() > 0 {
				x := ri.cpuPer1000() / bare.cpuPer1000()
				out = append(out, aim{"probe CPU within 1.2x of a bare connect loop at the same rate, " + caseName(c),
					fmt.Sprintf("%.3f vs %.3f CPU-s per 1,000 probes, side by side: %.2fx%s", ri.cpuPer1000(), bare.cpuPer1000(), x, unpaced), verdict(x <= 1.2)})
			}
			if bb, ok := side[whoBlackbox]; ok && bb.Available && bb.cpuPer1000() > 0 {
				x := bb.cpuPer1000() / ri.cpuPer1000()
				out = append(out, aim{"at least 5x less CPU per probe than blackbox_exporter, " + caseName(c),
					fmt.Sprintf("%.3f vs %.3f CPU-s per 1,000 probes, side by side: %.1fx less", ri.cpuPer1000(), bb.cpuPer1000(), x), verdict(x >= 5)})
			}
		}
		ri, ok := r.rowsFor(c, modeAlone)[whoRestartinator]
		if !ok {
			continue
		}
		s := ri.Sched
		perDevice := ""
		if c.N > restartinatorPorts {
			perDevice = " (listeners shared by several devices: per port, not per device)"
		}
		if ri.Started > 0 {
			share := ri.Within10ms / ri.Started
			out = append(out, aim{"at least 99.9% of probes start within 10 ms of their due time, " + caseName(c),
				fmt.Sprintf("%.3f%% of %.0f probes started in the window (restartinator_probe_start_delay_seconds); the listeners counted %d of %.0f scheduled%s",
					100*share, ri.Started, s.Achieved, s.Scheduled, perDevice), verdict(share >= 0.999)})
		} else {
			onTime := s.Achieved >= int(s.Scheduled*0.995) && s.DevicesWithoutAnyProbe == 0 && s.LateP99 <= 100*time.Millisecond
			out = append(out, aim{"every scheduled probe on time, " + caseName(c),
				fmt.Sprintf("%d of %.0f scheduled (%.2f%%); gap to the next probe of a device: p99 %+.1f ms, max %+.1f ms",
					s.Achieved, s.Scheduled, 100*float64(s.Achieved)/s.Scheduled, msf(s.LateP99), msf(s.LateMax)), verdict(onTime)})
		}
		if c.N <= restartinatorPorts {
			out = append(out, aim{"drift 0: a device's schedule does not slide, " + caseName(c),
				fmt.Sprintf("%+.3f ms per period over %s (gap to the next probe of a device: p50 %+.1f ms, p99 %+.1f ms)",
					msf(s.DriftPerPeriod), r.duration, msf(s.LateP50), msf(s.LateP99)), verdict(math.Abs(msf(s.DriftPerPeriod)) <= 0.05)})
		}
		scraped := ""
		if sr, ok := r.rowsFor(c, modeSide)[whoRestartinator]; ok {
			scraped = "; " + mb(sr.HWMKB) + " peak after /metrics had been scraped back to back"
		}
		memFig := fmt.Sprintf("%s peak, %d scrapes every 15 s in the window (%s at its end)%s; Go heap in use %.0f bytes per device",
			mb(ri.HWMKB), ri.Scrapes15, mb(ri.RSSKB), scraped, ri.HeapInuse/float64(c.N))
		switch c.N {
		case 10000:
			out = append(out, aim{"peak RSS under 64 MB at 10,000 devices, scraped every 15 s", memFig, verdict(ri.HWMKB < 64*1024)})
		case 100000:
			out = append(out, aim{"peak RSS under 400 MB at 100,000 devices, scraped every 15 s", memFig, verdict(ri.HWMKB < 400*1024)})
		}
		if ri.Reload > 0 || ri.ReloadErr != "" {
			ok := ri.ReloadErr == "" && ri.Reload < time.Second && (c.N > restartinatorPorts || s.LateMax < c.Interval)
			fig := fmt.Sprintf("POST /-/reload with one device changed took %s", ms(ri.Reload))
			if ri.ReloadErr != "" {
				fig = "reload failed: " + ri.ReloadErr
			}
			if c.N <= restartinatorPorts {
				fig += fmt.Sprintf("; the longest gap between two probes of a device in that window was the interval %+.1f ms", msf(s.LateMax))
			}
			out = append(out, aim{fmt.Sprintf("reload of a %d-device config under 1 s, no probe gap longer than one interval", c.N), fig, verdict(ok)})
		}
	}
	if r.engine != nil {
		for _, s := range r.engine.scrapes {
			if !s.Gzip {
				continue
			}
			if s.N == 10000 {
				out = append(out, aim{fmt.Sprintf("/metrics with %d devices: p99 under 50 ms, under 25 CPU-ms per scrape", s.N),
					fmt.Sprintf("p99 %s, p50 %s, %.1f CPU-ms per scrape (as Prometheus asks: gzip); %d bytes on the wire, %d uncompressed",
						ms(s.P99), ms(s.P50), s.CPUPerScrapeMs, s.Bytes, s.Uncompessed),
					verdict(s.P99 < 50*time.Millisecond && s.CPUPerScrapeMs < 25)})
				per := float64(s.DeviceSeries) / float64(s.N)
				out = append(out, aim{"at most 5 series per device",
					fmt.Sprintf("%.2f series per device (%d of %d series carry a device label)", per, s.DeviceSeries, s.Series), verdict(per <= 5)})
			} else {
				out = append(out, aim{fmt.Sprintf("/metrics served with %d devices", s.N),
					fmt.Sprintf("%d scrapes, p99 %s, p50 %s, %.1f CPU-ms per scrape; %d series", s.Scrapes, ms(s.P99), ms(s.P50), s.CPUPerScrapeMs, s.Series),
					verdict(s.Scrapes > 0)})
			}
		}
	}
	if r.webhook != nil {
		for _, n := range []int{1, 100} {
			ri, mi := r.webhookMedian(whoRestartinator, n), r.webhookMedian(whoMinimal, n)
			if mi == 0 {
				continue
			}
			x := ri / mi
			out = append(out, aim{fmt.Sprintf("webhook at least 0.8x the minimal handler, %d-alert body", n),
				fmt.Sprintf("%.0f vs %.0f req/s: %.2fx", ri, mi, x), verdict(x >= 0.8)})
			if ai := r.webhookMedian(whoAMExecutor, n); ai > 0 {
				out = append(out, aim{fmt.Sprintf("webhook ahead of prometheus-am-executor, %d-alert body", n),
					fmt.Sprintf("%.0f vs %.0f req/s", ri, ai), verdict(ri > ai)})
			} else {
				out = append(out, aim{fmt.Sprintf("webhook ahead of prometheus-am-executor, %d-alert body", n), "am-executor not available (see Machine)", nil})
			}
		}
	}
	if r.idle != nil && len(r.idle.rows) > 0 {
		ir := r.idle.rows[0]
		out = append(out, aim{"idle RSS under 25 MB with 10 devices",
			fmt.Sprintf("%s (peak %s); %.2f CPU-s per hour; binary %.1f MB (%s with -trimpath -ldflags='-s -w')",
				mb(ir.RSSKB), mb(ir.HWMKB), ir.CPUPerHour, float64(r.bins.sizeDefault)/1e6, strippedSize(r.bins)),
			verdict(ir.RSSKB < 25*1024)})
	}
	if r.detect != nil {
		for _, k := range detectKinds {
			var worst time.Duration
			var lat []string
			ok := true
			n := 0
			for _, t := range r.detect.trials {
				if t.Kind.Name != k.Name {
					continue
				}
				n++
				if t.TimedOut {
					ok = false
					lat = append(lat, "none in 30 s")
					continue
				}
				worst = max(worst, t.Overshoot)
				lat = append(lat, fmt.Sprintf("%.3f s", t.Latency.Seconds()))
			}
			if n == 0 {
				continue
			}
			out = append(out, aim{fmt.Sprintf("detection within 100 ms of %s = %s (%s)", k.Formula, k.Expected, k.Name),
				fmt.Sprintf("%s; worst %+.0f ms over", strings.Join(lat, ", "), msf(worst)), verdict(ok && worst <= 100*time.Millisecond)})
		}
	}
	return out
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *report) engineSection(bp *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(bp, format, args...) }
	w("## 1. Probe engine\n\n")
	w("Each device is an accept-and-close TCP listener on 127.0.0.1, one port per device, in the benchrun process. restartinator probes them in `mode: monitor` "+
		"(TCP connect, closed with a reset); the bare loop (a separate process) dials its own listeners round robin at the same rate with `net.DialTimeout`, "+
		"`SetLinger(0)`, `Close` from 4 goroutines, paced evenly; blackbox_exporter is driven through `/probe?module=tcp_connect` at the same rate. "+
		"Each case runs twice. **Alone**: restartinator by itself, for the schedule, the spread and memory. **Side by side**: restartinator goes on "+
		"while the bare loop and blackbox_exporter run at the same rate on their own listeners, all three measured in the same window, "+
		"so the CPU ratios see the same machine. Windows are %s, after a warm-up of min(interval, 10 s) + 2 s "+
		"(restartinator spreads its first probes over that).\n\n"+
		"\"Probes\" are the accepts the listeners counted in the window; \"gap\" is the time between two consecutive probes of one device, minus the interval; "+
		"\"per second\" is accepts per 1 s bucket against N/interval; \"load\" is the 1-minute load average at the start and end of the window "+
		"(2 cores: above ~2 the machine was busy with other work, and a starved listener shows as empty and bursting 1 s buckets).\n\n", r.duration)
	w("### Alone\n\n| case | probes / scheduled | CPU-s / 1,000 probes | RSS end / peak | gap p50 / p99 / max | drift / period | per second: expected, min-max, stddev | load |\n")
	w("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, c := range opt.engineCases {
		row, ok := r.rowsFor(c, modeAlone)[whoRestartinator]
		if !ok {
			continue
		}
		s := row.Sched
		w("| %s | %d / %.0f (%.1f%%) | %.3f | %s / %s | %+.1f / %+.1f / %+.1f ms | %+.2f ms | %.0f, %d-%d, %.1f | %s |\n",
			caseName(c), s.Achieved, s.Scheduled, 100*float64(s.Achieved)/s.Scheduled, row.cpuPer1000(),
			mb(row.RSSKB), mb(row.HWMKB), msf(s.LateP50), msf(s.LateP99), msf(s.LateMax), msf(s.DriftPerPeriod),
			s.PerSecExpected, s.PerSecMin, s.PerSecMax, s.PerSecStddev, row.Load)
	}
	w("\n")
	for _, row := range r.engine.rows {
		if row.Mode == modeAlone && row.Counter >= 0 {
			w("- %s: restartinator was ready (config loaded, `/-/ready`) %s after its start; after the window `restartinator_probes_total{type=\"tcp\"}` read %.0f (%.0f failed) "+
				"while the listeners counted %d to %d accepts (before and after that scrape); %.0f goroutines, %d OS threads; "+
				"Go heap in use %s (%.0f bytes per device), goroutine stacks in use %s, RSS %.0f bytes per device; %.0f probe workers; "+
				"%.0f probes started in the window, %.0f of them within 10 ms of due.\n",
				caseName(row.Case), row.Startup.Round(time.Millisecond), row.Counter, row.ProbeFailures, row.AcceptsBefore, row.AcceptsAfter,
				row.Goroutines, row.Threads, mbf(row.HeapInuse), row.HeapInuse/float64(row.Case.N), mbf(row.StackInuse),
				float64(row.RSSKB)*1024/float64(row.Case.N), row.Workers, row.Started, row.Within10ms)
		}
	}
	w("\n### Side by side\n\n| case | who | probes / scheduled | CPU-s / 1,000 probes | x bare | RSS end / peak | gap p99 | per second: min-max | load |\n")
	w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, c := range opt.engineCases {
		rows := r.rowsFor(c, modeSide)
		bare := rows[whoBare]
		for _, who := range []string{whoRestartinator, whoBare, whoBlackbox} {
			row, ok := rows[who]
			if !ok {
				continue
			}
			if !row.Available {
				w("| %s | %s | not installed | | | | | | |\n", caseName(c), who)
				continue
			}
			s := row.Sched
			x := "-"
			if bare.cpuPer1000() > 0 {
				x = fmt.Sprintf("%.2fx", row.cpuPer1000()/bare.cpuPer1000())
			}
			fails := ""
			if row.Failures > 0 {
				fails = fmt.Sprintf(" (%d failed)", row.Failures)
			}
			w("| %s | %s | %d / %.0f (%.1f%%)%s | %.3f | %s | %s / %s | %+.1f ms | %d-%d | %s |\n",
				caseName(c), who, s.Achieved, s.Scheduled, 100*float64(s.Achieved)/s.Scheduled, fails, row.cpuPer1000(), x,
				mb(row.RSSKB), mb(row.HWMKB), msf(s.LateP99), s.PerSecMin, s.PerSecMax, row.Load)
		}
	}
	if m := r.engine.bareMax; m.Sched.Achieved > 0 {
		w("\nFor reference, the bare loop unpaced (one goroutine, one connect after the other, alone) made %.0f connects/s at %.3f CPU-ms each "+
			"(the issue's reference: 15-21k/s at 0.06-0.09 CPU-ms). Paced evenly at a few hundred or thousand a second, a connect costs more: "+
			"each one is a wake-up from idle.\n", float64(m.Sched.Achieved)/m.Sched.Window.Seconds(), m.cpuPer1000())
	}
	w("\nCommands (ports vary per run):\n\n")
	seen := map[string]bool{}
	for _, row := range r.engine.rows {
		if row.Command != "" && !seen[row.Who] {
			seen[row.Who] = true
			w("- %s: `%s`\n", row.Who, row.Command)
		}
	}
	if len(opt.engineCases) > 0 {
		c := opt.engineCases[0]
		ex := engineConfig("DIR", c, []int{40001, 40002}, 2)
		w("\nrestartinator's config (%s; one line per device):\n\n```yaml\n%s  # ...\n```\n\nblackbox_exporter's config:\n\n```yaml\n%s```\n\n",
			caseName(c), ex, blackboxConfig())
	}
}

func (r *report) scrapeSection(bp *strings.Builder) {
	if len(r.engine.scrapes) == 0 {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(bp, format, args...) }
	w("## 2. `/metrics`\n\n")
	w("Scraped back to back, one at a time, right after a case's probe window while the probes go on. " +
		"Latency is until the last byte is read. CPU per scrape is restartinator's CPU during the scrapes minus its probing rate from the window. " +
		"\"Per device\" counts the series with a `device` label.\n\n")
	w("| devices | request | scrapes | p50 | p99 | max | bytes on the wire | uncompressed | series | per device | CPU-ms / scrape |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, s := range r.engine.scrapes {
		kind := "plain text, no compression (curl)"
		if s.Gzip {
			kind = "Prometheus' Accept header, gzip"
		}
		w("| %d | %s | %d | %s | %s | %s | %d | %d | %d | %.2f | %.1f |\n", s.N, kind, s.Scrapes, ms(s.P50), ms(s.P99), ms(s.Max), s.Bytes, s.Uncompessed, s.Series,
			float64(s.DeviceSeries)/float64(s.N), s.CPUPerScrapeMs)
	}
	w("\n")
}

// webhookMedian is the median requests/s of who's rounds for n alerts.
func (r *report) webhookMedian(who string, n int) float64 {
	var v []float64
	for _, row := range r.webhook.rows {
		if row.Who == who && row.Alerts == n {
			v = append(v, row.rps())
		}
	}
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func (r *report) webhookSection(bp *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(bp, format, args...) }
	wh := r.webhook
	w("## 3. Webhook\n\n")
	w("`POST` of Alertmanager's version 4 payload whose firing alerts match no route (%d bytes for 1 alert, %d for 100), "+
		"from %d keep-alive connections in benchrun (Go `net/http` client), each sending its next request when the last is answered; "+
		"1 s warm-up, then %s measured, receivers in turn, %d round(s). The client shares the 2 cores with the receiver, "+
		"so requests/s is the machine's, not the receiver's alone: CPU per request is the receiver's own.\n\n",
		wh.bodySize[1], wh.bodySize[100], wh.conns, opt.webhookDur, opt.rounds)
	w("| alerts | receiver | round | req/s | x minimal | p50 | p99 | CPU-ms / req | errors | RSS | load |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, row := range wh.rows {
		x := "-"
		for _, m := range wh.rows {
			if m.Who == whoMinimal && m.Alerts == row.Alerts && m.Round == row.Round && m.rps() > 0 {
				x = fmt.Sprintf("%.2fx", row.rps()/m.rps())
			}
		}
		w("| %d | %s | %d | %.0f | %s | %s | %s | %.3f | %d | %s | %s |\n", row.Alerts, row.Who, row.Round, row.rps(), x, ms(row.P50), ms(row.P99), row.cpuPerReqMs(), row.Errors, mb(row.RSSKB), row.Load)
	}
	w("\nCommands:\n\n")
	for _, c := range wh.commands {
		w("- %s\n", c)
	}
	if r.bins.amExecutor == "" {
		w("- prometheus-am-executor: %s.\n", r.bins.amExecutorNote)
	}
	w("\n")
}

func (r *report) idleSection(bp *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(bp, format, args...) }
	w("## 4. Idle footprint\n\n")
	w("Started at the beginning of the run and measured at its end, so the window is long: CPU per hour is extrapolated from it. " +
		"restartinator watches 10 devices (TCP, `mode: monitor`, the default intervals: a probe every 30 s each); the peers beside it get no requests.\n\n")
	w("| process | window | RSS | peak RSS | CPU-s in window | CPU-s per hour |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, row := range r.idle.rows {
		w("| %s | %s | %s | %s | %.2f | %.2f |\n", row.Who, row.Window.Round(time.Second), mb(row.RSSKB), mb(row.HWMKB), row.CPU, row.CPUPerHour)
	}
	w("\nCPU is the larger of the /proc/PID/stat ticks and the sum of the live threads' `schedstat` (ns). restartinator made %d probes in the idle run. "+
		"Binary: %d bytes as `go build` makes it (`make build`), %s with `-trimpath -ldflags='-s -w'`.\n\n",
		r.idle.rows[0].Probes, r.bins.sizeDefault, strippedSize(r.bins))
	w("Config:\n\n```yaml\n%s```\n\n", strings.ReplaceAll(r.idle.cfg, opt.work, "DIR"))
}

func (r *report) detectSection(bp *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(bp, format, args...) }
	w("## 5. Detection latency\n\n")
	w("A device in `mode: auto` on its own simulated Kasa HS100 (kasasim, XOR protocol, in the benchrun process, its relay read every millisecond). "+
		"Settings: check_interval %s, retry_interval %s, retries %d, timeout %s, so the issue's bound timeout + (retries-1)*retry_interval is %s. "+
		"The device is armed and goes down at the next probe; **latency is from that moment to the plug's relay going off** "+
		"(which includes arming the plug's flip-back timer and writing the state file before the off command). "+
		"What each failure mode should take by the design (DESIGN.md: \"detection takes about timeout + (retries-1) * retry_interval\"):\n\n",
		detCheckInterval, detRetryInterval, detRetries, detTimeout, detTimeout+(detRetries-1)*detRetryInterval)
	for _, k := range detectKinds {
		w("- **%s**: %s. Expected: %s = %s.\n", k.Name, k.What, k.Formula, k.Expected)
	}
	w("\n| trial | latency | expected | over | failing probes seen by the device (s after it went down) |\n| --- | --- | --- | --- | --- |\n")
	for _, t := range r.detect.trials {
		if t.TimedOut {
			w("| %s | no relay off in 30 s | %s | | |\n", t.Device, t.Kind.Expected)
			continue
		}
		var f []string
		for _, d := range t.Failing {
			if d <= t.Latency {
				f = append(f, fmt.Sprintf("%.3f", d.Seconds()))
			}
		}
		seen := strings.Join(f, ", ")
		if seen == "" {
			seen = "(not visible: refused)"
		}
		w("| %s | %.3f s | %s | %+.0f ms | %s |\n", t.Device, t.Latency.Seconds(), t.Kind.Expected, msf(t.Overshoot), seen)
	}
	w("\nConfig:\n\n```yaml\n%s```\n\n", strings.ReplaceAll(r.detect.cfg, opt.work, "DIR"))
}

func strippedSize(b binaries) string {
	if b.sizeStripped == 0 {
		return "not built (-restartinator given)"
	}
	return fmt.Sprintf("%.1f MB", float64(b.sizeStripped)/1e6)
}
