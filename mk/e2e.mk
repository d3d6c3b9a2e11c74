# The end-to-end pipeline test (issue 7 item 7): the real binary, Debian's
# prometheus and prometheus-alertmanager, simulated plugs and devices, all on
# loopback. About a minute, so `go test ./...` skips it; it runs only with
# RESTARTINATOR_E2E=1, which this target sets. CI (CI=true) runs it as part
# of `make test`; there a missing prometheus or alertmanager fails the test.
# Works included from the main Makefile or alone:
#   make -f mk/e2e.mk e2e

GO ?= go

ifeq ($(CI),true)
TEST_TARGETS += e2e
endif

# Leave the including Makefile's default goal alone (restored at the end).
e2e_saved_default_goal := $(.DEFAULT_GOAL)

.PHONY: e2e

## e2e: the whole pipeline (restartinator, Prometheus with the mixin's rules,
## Alertmanager, the webhook) end to end; needs Debian's prometheus and
## prometheus-alertmanager
e2e:
	RESTARTINATOR_E2E=1 $(GO) test -race -count=1 -run 'TestPipeline|TestHA' -v -timeout 20m ./cmd/restartinator/

.DEFAULT_GOAL := $(e2e_saved_default_goal)
