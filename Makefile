# The test command of the README. It installs what the tests need when it is missing
# (SIPp from Debian's sip-tester package, baresip from baresip-core), then runs every
# test with the race detector.
GO ?= go
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: test deps build bench fuzz vet web

test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 9m ./...

deps:
	@{ command -v sipp && command -v baresip; } >/dev/null 2>&1 || { \
		echo "installing sip-tester (SIPp) and baresip-core (baresip) from Debian's packages"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq sip-tester baresip-core; }

build:
	$(GO) build -o bin/switchboard ./cmd/switchboard

# The agent app's script: JsSIP and web/src bundled by esbuild into the committed
# api/console/app.js (go build embeds it and needs no Node). Run after changing web/.
web:
	cd web && npm ci --no-audit --no-fund && npm run build

# Benchmarks are not part of the default test run: see bench/README.md.
bench: deps build
	$(GO) test -run '^$$' -bench . -benchmem ./bench/ ./rtp/ ./store/
	./bench/sipp-load.sh

# A short coverage-guided run of every fuzz target (FUZZTIME=30s by default).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done
