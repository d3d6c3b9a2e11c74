# Kasa plug driver: the npm simulator the tests compare against, and benchmarks.

# bench-kasa runs alone: make bench already runs these benchmarks through go test -bench.

.PHONY: npm-deps bench-kasa

# Install the third-party simulator only when it is missing.
npm-deps:
	@if [ ! -d test/npm/node_modules ]; then npm ci --prefix test/npm; fi

bench-kasa:
	go test -run '^$$' -bench . -benchmem ./actuator/kasa/...
