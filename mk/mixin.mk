# The monitoring mixin (mixin/): regenerate the rules and dashboards from
# jsonnet, and check that what is committed matches, is formatted and passes
# promtool. Works included from the main Makefile or alone:
#   make -f mk/mixin.mk mixin-check

GO ?= go
MIXIN_DIR ?= mixin
MIXIN_JSONNET ?= $(GO) tool jsonnet
MIXIN_JSONNETFMT ?= $(GO) tool jsonnetfmt
PROMTOOL ?= promtool

MIXIN_SOURCES = $(sort $(shell find $(MIXIN_DIR) -name '*.jsonnet' -o -name '*.libsonnet'))
MIXIN_TESTS = $(sort $(wildcard $(MIXIN_DIR)/tests/*.yaml))

# Shell commands that write alerts.yaml, rules.yaml and dashboards_out/*.json
# under the directory in the shell variable $out.
MIXIN_GENERATE = mkdir -p "$$out/dashboards_out" && \
	rm -f "$$out"/dashboards_out/*.json && \
	$(MIXIN_JSONNET) -S $(MIXIN_DIR)/alerts.jsonnet -o "$$out/alerts.yaml" && \
	$(MIXIN_JSONNET) -S $(MIXIN_DIR)/rules.jsonnet -o "$$out/rules.yaml" && \
	$(MIXIN_JSONNET) -m "$$out/dashboards_out" $(MIXIN_DIR)/dashboards.jsonnet >/dev/null

TEST_TARGETS += mixin-check

# Leave the including Makefile's default goal alone (restored at the end).
mixin_saved_default_goal := $(.DEFAULT_GOAL)

.PHONY: mixin mixin-fmt mixin-check

## mixin: regenerate mixin/alerts.yaml, mixin/rules.yaml and mixin/dashboards_out/
mixin:
	@out=$(MIXIN_DIR) && $(MIXIN_GENERATE)

## mixin-fmt: format the jsonnet sources in place
mixin-fmt:
	$(MIXIN_JSONNETFMT) -i $(MIXIN_SOURCES)

## mixin-check: fail when the jsonnet is unformatted, the generated files are
## stale, or promtool rejects the rules or their tests
mixin-check:
	@$(MIXIN_JSONNETFMT) --test $(MIXIN_SOURCES) || { \
		echo "mixin: jsonnet sources are not formatted; run 'make mixin-fmt'" >&2; exit 1; }
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
	{ $(MIXIN_GENERATE) || { echo "mixin: jsonnet could not build the mixin (see above)" >&2; exit 1; }; } && \
	diff -ru $(MIXIN_DIR)/dashboards_out "$$out/dashboards_out" >&2 && \
	diff -u $(MIXIN_DIR)/alerts.yaml "$$out/alerts.yaml" >&2 && \
	diff -u $(MIXIN_DIR)/rules.yaml "$$out/rules.yaml" >&2 || { \
		echo "mixin: generated files are stale; run 'make mixin' and commit the result" >&2; exit 1; }
	@if command -v $(PROMTOOL) >/dev/null 2>&1; then \
		q=$$(mktemp -d) && trap 'rm -rf "$$q"' EXIT && \
		$(MIXIN_JSONNET) -S $(MIXIN_DIR)/tests/dashboard_queries.jsonnet -o "$$q/dashboard_queries.yaml" && \
		for f in alerts rules; do \
			$(MIXIN_JSONNET) -S $(MIXIN_DIR)/$$f.jsonnet -o "$$q/short-$$f.yaml" \
				--tla-code-file config=$(MIXIN_DIR)/tests/short-durations.libsonnet || exit 1; \
		done && \
		$(PROMTOOL) check rules $(MIXIN_DIR)/alerts.yaml $(MIXIN_DIR)/rules.yaml && \
		echo "Checking the dashboards' queries and the short-duration rules" && \
		$(PROMTOOL) check rules "$$q"/*.yaml && \
		$(PROMTOOL) test rules $(MIXIN_TESTS); \
	elif [ "$$CI" = "true" ]; then \
		echo "mixin: $(PROMTOOL) not found and CI=true: install it (Debian: apt-get install prometheus)" >&2; exit 1; \
	else \
		echo "mixin: $(PROMTOOL) not found; skipping promtool check rules and promtool test rules" >&2; \
	fi

.DEFAULT_GOAL := $(mixin_saved_default_goal)
