package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// idleRun is restartinator watching 10 devices at the default intervals,
// with the peers idle beside it, for the whole benchmark run (at least
// opt.idleMin): their own CPU and memory do not depend on the load the
// other phases put on the machine.
type idleRun struct {
	f     *farm
	procs []idleProc
	cfg   string
}

type idleProc struct {
	who string
	p   *proc
	s0  procStat
	ns0 uint64
}

type idleRow struct {
	Who        string
	Window     time.Duration
	RSSKB      uint64
	HWMKB      uint64
	CPU        float64
	CPUPerHour float64
	Probes     int
}

type idleResult struct {
	rows []idleRow
	cfg  string
}

func startIdle(b binaries) *idleRun {
	f, err := newFarm(10)
	if err != nil {
		fatalf("%v", err)
	}
	ir := &idleRun{f: f}
	dir := filepath.Join(opt.work, "idle-restartinator")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  state_file: %s\ndevices:\n", filepath.Join(dir, "state.json"))
	for i, p := range f.ports {
		fmt.Fprintf(&cfg, "  - {name: d%02d, host: 127.0.0.1, port: %d, mode: monitor}\n", i+1, p)
	}
	ir.cfg = cfg.String()
	rp, _, _ := startRestartinator(b, "idle-restartinator", ir.cfg)
	ir.procs = append(ir.procs, idleProc{who: whoRestartinator + " (10 devices)", p: rp})
	if b.blackbox != "" {
		bp, _ := startBlackbox(b, "idle-blackbox")
		ir.procs = append(ir.procs, idleProc{who: "blackbox_exporter (no probes asked)", p: bp})
	}
	mdir := filepath.Join(opt.work, "idle-minimal")
	_ = os.MkdirAll(mdir, 0o755)
	maddr := fmt.Sprintf("127.0.0.1:%d", freePort())
	mp, err := startProc("idle-minimal-webhook", mdir, filepath.Join(mdir, "log"), nil, b.self, "minimal-webhook", "-listen", maddr)
	if err != nil {
		fatalf("%v", err)
	}
	waitHTTP(mp, "http://"+maddr+"/-/ready", 30*time.Second)
	ir.procs = append(ir.procs, idleProc{who: "minimal net/http webhook handler", p: mp})
	// Leave start-up out of the window.
	time.Sleep(3 * time.Second)
	for i := range ir.procs {
		ir.procs[i].s0 = mustStat(ir.procs[i].p)
		ir.procs[i].ns0 = schedNs(ir.procs[i].p.pid)
	}
	return ir
}

func (ir *idleRun) finish() *idleResult {
	if left := opt.idleMin - time.Since(ir.procs[0].s0.at); left > 0 {
		logf("idle: waiting %s more for the idle window", left.Round(time.Second))
		time.Sleep(left)
	}
	res := &idleResult{cfg: ir.cfg}
	for _, ip := range ir.procs {
		s1, ns1 := mustStat(ip.p), schedNs(ip.p.pid)
		w := s1.at.Sub(ip.s0.at)
		cpu := s1.cpuSeconds() - ip.s0.cpuSeconds()
		// The ticks are 10 ms: an idle process may show none in minutes.
		if ns1 > ip.ns0 {
			cpu = max(cpu, float64(ns1-ip.ns0)/1e9)
		}
		res.rows = append(res.rows, idleRow{Who: ip.who, Window: w, RSSKB: s1.rssKB, HWMKB: s1.hwmKB,
			CPU: cpu, CPUPerHour: cpu / w.Hours()})
		ip.p.stop()
	}
	res.rows[0].Probes = ir.f.total()
	ir.f.close()
	return res
}
