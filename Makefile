# The test command of the README. It installs what the tests need when it is missing
# (SIPp from Debian's sip-tester package, baresip from baresip-core, Chromium for the
# browser test from chromium, dpkg-deb from dpkg and systemd-analyze from systemd for
# the package test), then runs every test with the race detector.
GO ?= go
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The version stamped into the binary and the package: the nearest vX.Y.Z tag
# (1.2.0, or 1.2.0+3.gabc1234 three commits later), else 0.0.0~git<commit time>.<commit>,
# which sorts before any release. Override with make deb VERSION=1.2.3.
VERSION ?= $(shell { git describe --tags --match 'v[0-9]*' 2>/dev/null | sed 's/^v//; s/-\([0-9]*\)-g/+\1.g/'; } | grep . || \
	echo "0.0.0~git$$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S 2>/dev/null || echo 0).$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)")
# The full commit hash, with -dirty for a work tree with changes (stamped rather than
# left to Go's VCS stamping, which GOFLAGS=-buildvcs=false or a tarball turns off).
COMMIT ?= $(shell git describe --always --dirty --abbrev=40 --match=none-such 2>/dev/null)
GOARCH ?= $(shell $(GO) env GOARCH)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Where make deb leaves the binary it packages and switchboard_VERSION_ARCH.deb.
DEB_DIR ?= dist

.PHONY: test deps build deb bench fuzz vet web

test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 9m ./...

deps:
	@{ command -v sipp && command -v baresip && [ -x /usr/bin/chromium ] && command -v dpkg-deb && command -v systemd-analyze; } >/dev/null 2>&1 || { \
		echo "installing sip-tester (SIPp), baresip-core (baresip), chromium (test/browser), dpkg (dpkg-deb) and systemd (systemd-analyze, packaging test) from Debian's packages"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq sip-tester baresip-core chromium dpkg systemd; }

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/switchboard ./cmd/switchboard

# The Debian package, built by nfpm (a Go tool pinned in go.mod: no Docker, no
# dpkg-buildpackage): a static binary with the version stamped, the systemd unit,
# the default config and the maintainer scripts from packaging/.
deb:
	@mkdir -p $(DEB_DIR)
	CGO_ENABLED=0 GOARCH=$(GOARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DEB_DIR)/switchboard ./cmd/switchboard
	BINARY=$(DEB_DIR)/switchboard VERSION='$(VERSION)' ARCH=$(GOARCH) $(GO) tool nfpm package \
		--config packaging/nfpm.yaml --packager deb --target $(DEB_DIR)/

# The agent app's script: JsSIP and web/src bundled by esbuild into the committed
# api/console/app.js (go build embeds it and needs no Node). Run after changing web/.
web:
	cd web && npm ci --no-audit --no-fund && npm run build

# Benchmarks are not part of the default test run: see bench/README.md.
bench: deps build
	$(GO) test -run '^$$' -bench . -benchmem ./bench/ ./rtp/ ./store/
	./bench/sipp-load.sh

# A short coverage-guided run of every fuzz target (FUZZTIME=30s by default; the nightly
# run is make fuzz FUZZTIME=10m, see bench/fuzz-nightly.sh).
FUZZTIME ?= 30s
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./bench/fuzz-nightly.sh
