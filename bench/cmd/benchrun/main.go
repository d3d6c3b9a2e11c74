// Command benchrun measures restartinator next to its peers on the same
// machine in the same run (issue 9, performance part) and writes a Markdown
// report, docs/benchmarks.md by default. `make bench` runs it.
//
// It starts every process itself on 127.0.0.1, reads CPU (utime+stime) from
// /proc/PID/stat and RSS and peak RSS (VmHWM) from /proc/PID/status, drives
// load with a Go client, and ends every process it started when it is done,
// interrupted or failing.
//
// Usage:
//
//	go run ./bench/cmd/benchrun [-duration 60s] [-quick] [-out docs/benchmarks.md] [-phases engine,metrics,webhook,idle,detect]
//
// BENCH_DURATION and BENCH_QUICK=1 in the environment set -duration and
// -quick.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	duration     time.Duration // measured window of each probe-engine run
	webhookDur   time.Duration // each webhook load run
	idleMin      time.Duration // shortest idle window
	quick        bool
	out          string
	work         string
	restartBin   string
	blackboxBin  string
	amExecBin    string
	phases       []string
	repo         string
	engineCases  []engineCase
	webhookConns int
	rounds       int
	nice         int
}

type engineCase struct {
	N        int
	Interval time.Duration
}

var opt options

// ownWork: benchrun made opt.work and removes it, also on a fatal error.
var ownWork bool

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "connectloop":
			connectLoop(os.Args[2:])
			return
		case "minimal-webhook":
			minimalWebhook(os.Args[2:])
			return
		}
	}
	envDur := os.Getenv("BENCH_DURATION")
	defDur := 60 * time.Second
	if envDur != "" {
		d, err := time.ParseDuration(envDur)
		if err != nil {
			fmt.Fprintf(os.Stderr, "BENCH_DURATION=%q: %v\n", envDur, err)
			os.Exit(2)
		}
		defDur = d
	}
	quickEnv := os.Getenv("BENCH_QUICK") != "" && os.Getenv("BENCH_QUICK") != "0"
	flag.DurationVar(&opt.duration, "duration", defDur, "measured window of each probe-engine run (BENCH_DURATION)")
	flag.BoolVar(&opt.quick, "quick", quickEnv, "short runs (~10 s each) to iterate (BENCH_QUICK=1)")
	flag.StringVar(&opt.out, "out", "docs/benchmarks.md", "the Markdown report; - for stdout")
	flag.StringVar(&opt.work, "work", "", "scratch directory (default: a new temporary one, removed at the end)")
	flag.StringVar(&opt.restartBin, "restartinator", "", "restartinator binary (default: built from this checkout)")
	flag.StringVar(&opt.blackboxBin, "blackbox", "/usr/bin/prometheus-blackbox-exporter", "blackbox_exporter binary")
	flag.StringVar(&opt.amExecBin, "am-executor", "", "prometheus-am-executor binary, when one could be built")
	phases := flag.String("phases", "engine,metrics,webhook,idle,detect", "what to measure")
	cases := flag.String("cases", "1000@10s,10000@10s,1000@1s", "probe-engine cases, N@interval")
	nice := flag.Int("nice", envInt("BENCH_NICE"), "on a shared machine: run in a scheduler autogroup of its own with this nice value, e.g. -10 (root; BENCH_NICE)")
	flag.IntVar(&opt.webhookConns, "webhook-conns", 8, "concurrent keep-alive connections of the webhook load")
	flag.Parse()
	opt.phases = strings.Split(*phases, ",")
	raiseFileLimit(100000)
	opt.nice = *nice
	if opt.nice != 0 {
		ownAutogroup(opt.nice)
	}
	if opt.quick && envDur == "" && !flagSet("duration") {
		opt.duration = 10 * time.Second
	}
	opt.webhookDur = 15 * time.Second
	opt.idleMin = 3 * time.Minute
	opt.rounds = 2
	if opt.quick {
		opt.webhookDur = 5 * time.Second
		opt.idleMin = 20 * time.Second
		opt.rounds = 1
	}
	for _, c := range strings.Split(*cases, ",") {
		n, iv, ok := strings.Cut(c, "@")
		N, err1 := strconv.Atoi(n)
		d, err2 := time.ParseDuration(iv)
		if !ok || err1 != nil || err2 != nil || N <= 0 || d <= 0 {
			fmt.Fprintf(os.Stderr, "-cases: %q is not N@interval\n", c)
			os.Exit(2)
		}
		opt.engineCases = append(opt.engineCases, engineCase{N, d})
	}

	repo, err := repoRoot()
	if err != nil {
		fatalf("%v", err)
	}
	opt.repo = repo
	if opt.work == "" {
		d, err := os.MkdirTemp("", "benchrun-")
		if err != nil {
			fatalf("%v", err)
		}
		opt.work, ownWork = d, true
		defer os.RemoveAll(d)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		logf("%s: stopping every process started", s)
		stopAll()
		if ownWork {
			os.RemoveAll(opt.work)
		}
		os.Exit(130)
	}()
	defer stopAll()

	rep := run()
	stopAll()
	md := rep.markdown()
	if opt.out == "-" {
		fmt.Print(md)
		return
	}
	out := opt.out
	if !filepath.IsAbs(out) {
		out = filepath.Join(repo, out)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		fatalf("%v", err)
	}
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		fatalf("%v", err)
	}
	logf("wrote %s", out)
}

// raiseFileLimit lifts RLIMIT_NOFILE to n where allowed: the side-by-side
// runs hold three sets of 10,000 listeners at once. Children inherit it.
func raiseFileLimit(n uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur >= n {
		return
	}
	want := syscall.Rlimit{Cur: n, Max: max(n, rl.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Not root: as far as the hard limit goes.
		want = syscall.Rlimit{Cur: rl.Max, Max: rl.Max}
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want)
	}
}

func envInt(name string) int {
	n, _ := strconv.Atoi(os.Getenv(name))
	return n
}

// ownAutogroup moves benchrun and everything it starts into a scheduler
// autogroup of its own (a new session) with the given nice value. With
// autogroups on, CPU is shared between sessions first, so a nice value
// within one session does not put it ahead of another; the autogroup's
// does. Leaving the session also leaves the terminal's process group: the
// parent's death (make, Ctrl-C) is delivered as SIGTERM instead.
func ownAutogroup(nice int) {
	if _, err := syscall.Setsid(); err != nil {
		logf("nice: setsid: %v (staying in the current autogroup)", err)
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0); errno != 0 {
		logf("nice: prctl(PR_SET_PDEATHSIG): %v", errno)
	}
	if err := os.WriteFile("/proc/self/autogroup", []byte(strconv.Itoa(nice)), 0o644); err != nil {
		logf("nice: %v (running at the usual priority)", err)
	}
}

// autogroup is the scheduler autogroup and its nice value, as
// /proc/self/autogroup says.
func autogroup() string {
	b, err := os.ReadFile("/proc/self/autogroup")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func want(phase string) bool { return slices.Contains(opt.phases, phase) }

// run measures every phase asked for, in an order that keeps the long idle
// window running under everything else.
func run() *report {
	rep := &report{started: time.Now()}
	rep.machine = machineInfo()
	rep.quick = opt.quick
	rep.duration = opt.duration
	rep.loadStart = loadAvg()

	bins := buildBinaries()
	rep.bins = bins

	var idle *idleRun
	if want("idle") {
		idle = startIdle(bins)
	}
	if want("engine") || want("metrics") {
		rep.engine = runEngine(bins)
	}
	if want("webhook") {
		rep.webhook = runWebhook(bins)
	}
	if want("detect") {
		rep.detect = runDetect(bins)
	}
	if idle != nil {
		rep.idle = idle.finish()
	}
	rep.loadEnd = loadAvg()
	rep.finished = time.Now()
	return rep
}

type binaries struct {
	restartinator  string
	sizeDefault    int64
	sizeStripped   int64
	blackbox       string
	blackboxVer    string
	amExecutor     string
	amExecutorNote string
	self           string
	goVersion      string
	commit         string
}

func buildBinaries() binaries {
	var b binaries
	b.goVersion = runtime.Version()
	if out, err := exec.Command("go", "version").Output(); err == nil {
		b.goVersion = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "-C", opt.repo, "rev-parse", "--short", "HEAD").Output(); err == nil {
		b.commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "-C", opt.repo, "status", "--porcelain", "--untracked-files=no", "--", "cmd", "collector", "actuator", "config", "internal", "notify").Output(); err == nil && len(st) > 0 {
			b.commit += " (with uncommitted changes)"
		}
	}
	self, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}
	b.self = self
	b.restartinator = opt.restartBin
	if b.restartinator == "" {
		b.restartinator = filepath.Join(opt.work, "restartinator")
		logf("building restartinator")
		cmd := exec.Command("go", "build", "-o", b.restartinator, "./cmd/restartinator")
		cmd.Dir, cmd.Stdout, cmd.Stderr = opt.repo, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fatalf("go build ./cmd/restartinator: %v", err)
		}
		stripped := filepath.Join(opt.work, "restartinator-stripped")
		cmd = exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", stripped, "./cmd/restartinator")
		cmd.Dir, cmd.Stdout, cmd.Stderr = opt.repo, os.Stderr, os.Stderr
		if err := cmd.Run(); err == nil {
			if fi, err := os.Stat(stripped); err == nil {
				b.sizeStripped = fi.Size()
			}
		}
	}
	fi, err := os.Stat(b.restartinator)
	if err != nil {
		fatalf("%v", err)
	}
	b.sizeDefault = fi.Size()
	if _, err := os.Stat(opt.blackboxBin); err == nil {
		b.blackbox = opt.blackboxBin
		if out, err := exec.Command(b.blackbox, "--version").CombinedOutput(); err == nil {
			b.blackboxVer = strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
		}
	} else {
		logf("no blackbox_exporter at %s: its columns stay empty (make bench installs Debian's package)", opt.blackboxBin)
	}
	b.amExecutor = opt.amExecBin
	if b.amExecutor == "" {
		b.amExecutorNote = "not measured: the Go module proxy does not offer github.com/imgix/prometheus-am-executor " +
			"(`go list -m -versions github.com/imgix/prometheus-am-executor` answers 403 \"This module version is not available\"), " +
			"Debian has no package of it, and it is not built from any other source"
	}
	return b
}

func repoRoot() (string, error) {
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		wd, _ := os.Getwd()
		return wd, nil
	}
	return strings.TrimSpace(string(out)), nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchrun %s: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func fatalf(format string, args ...any) {
	logf("FATAL: "+format, args...)
	stopAll()
	if ownWork {
		os.RemoveAll(opt.work)
	}
	os.Exit(1)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// load1 is the 1-minute load average.
func load1() string {
	l := strings.Fields(loadAvg())
	if len(l) == 0 {
		return "?"
	}
	return l[0]
}

type machine struct {
	cpu, kernel, mem, os string
	cores                int
	nice, autogroup      string
}

// niceness is benchrun's own nice value (field 19 of /proc/self/stat); its
// children inherit it.
func niceness() string {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return "?"
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 17 {
		return "?"
	}
	return f[16]
}

func machineInfo() machine {
	m := machine{cores: runtime.NumCPU(), nice: niceness(), autogroup: autogroup()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				m.mem = strings.TrimSpace(strings.TrimPrefix(l, "MemTotal:"))
			}
		}
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				m.os = strings.Trim(v, `"`)
			}
		}
	}
	return m
}
