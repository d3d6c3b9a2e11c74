# Reliability (issue 9): the fault-injection suite in reliability/ and every
# fuzz target. CI runs `make reliability`; plain `go test ./...` skips the
# suite (it needs RESTARTINATOR_RELIABILITY=1).
#
#   make reliability                 the suite, then fuzz-ci
#   make reliability-suite           the suite only
#   make fuzz-ci FUZZTIME=10s        every fuzz target, briefly
#
# The suite prints a summary (counts, times, RSS) at the end, between
# "=== reliability summary" and "=== end of reliability summary".

GO ?= go
FUZZTIME ?= 60s
RELIABILITY_TIMEOUT ?= 25m
# e.g. RELIABILITY_RUN=TestKill to run one test
RELIABILITY_RUN ?= .

.PHONY: reliability reliability-suite fuzz-ci

reliability_saved_default_goal := $(.DEFAULT_GOAL)

## reliability: the fault-injection suite, then every fuzz target for FUZZTIME
reliability: reliability-suite fuzz-ci

reliability-suite:
	RESTARTINATOR_RELIABILITY=1 $(GO) test -race -count=1 -v -timeout $(RELIABILITY_TIMEOUT) \
		-run '$(RELIABILITY_RUN)' ./reliability/

## fuzz-ci: every fuzz target (go test -list '^Fuzz' ./...) for FUZZTIME each
fuzz-ci:
	@set -e; tmp=$$(mktemp); trap 'rm -f "$$tmp" "$$tmp.list" "$$tmp.out"' EXIT; \
	if ! $(GO) test -list '^Fuzz' ./... >"$$tmp" 2>&1; then \
		cat "$$tmp" >&2; echo "fuzz-ci: listing the fuzz targets failed" >&2; exit 1; fi; \
	awk '/^Fuzz/ { f = f " " $$1; next } /^ok/ { if (f != "") print $$2 f; f = "" }' "$$tmp" >"$$tmp.list"; \
	if [ ! -s "$$tmp.list" ]; then echo "fuzz-ci: no fuzz targets found" >&2; exit 1; fi; \
	while read -r pkg targets; do \
		for f in $$targets; do \
			echo "fuzz-ci: $$pkg $$f for $(FUZZTIME)"; start=$$(date +%s); \
			for try in 1 2; do \
				if $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >"$$tmp.out" 2>&1; then \
					cat "$$tmp.out"; break; fi; \
				cat "$$tmp.out"; \
				if [ $$try = 1 ] && grep -q 'context deadline exceeded' "$$tmp.out" && ! grep -q 'Failing input written to' "$$tmp.out"; then \
					echo "fuzz-ci: $$pkg $$f: the fuzzing engine timed out stopping its workers, with no failing input; running it again"; continue; fi; \
				echo "fuzz-ci: $$pkg $$f FAILED; the crasher is in that package's testdata/fuzz/$$f/" >&2; exit 1; \
			done; \
			echo "fuzz-ci: $$pkg $$f passed in $$(( $$(date +%s) - start ))s"; \
		done; \
	done <"$$tmp.list"

.DEFAULT_GOAL := $(reliability_saved_default_goal)
