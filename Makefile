# restartinator: the few targets we use.
GO       ?= go
BIN      ?= restartinator
PKGS     ?= ./...
GOFLAGS_TEST ?= -race -count=1

# Fragments in mk/ add to TEST_TARGETS and BENCH_TARGETS.
TEST_TARGETS  :=
BENCH_TARGETS :=
include $(wildcard mk/*.mk)
.DEFAULT_GOAL := all

.PHONY: all build run demo test test-deps fmt-check lint vet unit bench fuzz clean

all: build

## build: the binary, ./restartinator
build:
	$(GO) build -ldflags '$(VERSION_LDFLAGS)' -o $(BIN) ./cmd/restartinator

## run: the demo, on loopback, with simulated plugs and devices
run demo: build
	./$(BIN) --demo --web.listen-address=127.0.0.1:9788

## test: everything CI runs; installs missing test tools first
test: test-deps lint unit $(TEST_TARGETS)

test-deps:
	@./scripts/test-deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

## lint: gofmt, go vet and golangci-lint (staticcheck, errcheck, unused …;
## pinned in tools/golangci-lint.mod, settings in .golangci.yml)
GOLANGCI_LINT ?= $(GO) tool -modfile=tools/golangci-lint.mod golangci-lint
lint: fmt-check vet
	$(GOLANGCI_LINT) run --allow-parallel-runners ./...

unit:
	$(GO) test $(GOFLAGS_TEST) $(PKGS)

## bench: benchmarks with the figures the issues ask for
bench: $(BENCH_TARGETS)
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## fuzz: each fuzz target for FUZZTIME (default 60s)
FUZZTIME ?= 60s
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -f $(BIN)
