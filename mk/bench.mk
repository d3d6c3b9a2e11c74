# The performance benchmarks of issue 9: restartinator next to its peers
# (a bare connect loop, Debian's blackbox_exporter, a minimal webhook
# handler) on this machine in one run; writes docs/benchmarks.md.
#   make bench                     everything (60 s windows), then go test -bench
#   make bench-run                 only the comparison
#   BENCH_QUICK=1 make bench-run   ~10 s windows, to iterate
#   BENCH_DURATION=120s make bench-run
#   BENCH_PHASES=engine,metrics make bench-run   (engine, metrics, webhook, idle, detect)
#   BENCH_CASES=1000@1s make bench-run           probe-engine cases, N@interval
#   BENCH_NICE=-10 make bench-run  on a shared machine: run ahead of the other work (root)

GO ?= go
BENCH_TARGETS += bench-run

BENCH_DURATION ?=
BENCH_QUICK ?=
BENCH_PHASES ?= engine,metrics,webhook,idle,detect
BENCH_OUT ?= docs/benchmarks.md
BENCH_NICE ?=
BENCH_CASES ?= 1000@10s,10000@10s,1000@1s
BLACKBOX_EXPORTER ?= /usr/bin/prometheus-blackbox-exporter
BENCHRUN_BIN ?= $(or $(TMPDIR),/tmp)/restartinator-benchrun

.PHONY: bench-run bench-deps

## bench-deps: Debian's prometheus-blackbox-exporter, installed only when missing
bench-deps:
	@if [ ! -x $(BLACKBOX_EXPORTER) ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		echo "bench: installing Debian's prometheus-blackbox-exporter"; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus-blackbox-exporter >/dev/null 2>&1 || \
		{ $$SUDO apt-get update >/dev/null && \
		  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus-blackbox-exporter >/dev/null; } || \
		echo "bench: could not install prometheus-blackbox-exporter; its figures will be missing" >&2; \
	fi

## bench-run: measure and write $(BENCH_OUT)
bench-run: bench-deps
	$(GO) build -o $(BENCHRUN_BIN) ./bench/cmd/benchrun
	BENCH_DURATION=$(BENCH_DURATION) BENCH_QUICK=$(BENCH_QUICK) BENCH_NICE=$(BENCH_NICE) $(BENCHRUN_BIN) \
		-phases $(BENCH_PHASES) -cases $(BENCH_CASES) -blackbox $(BLACKBOX_EXPORTER) -out $(BENCH_OUT)
