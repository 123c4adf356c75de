#!/usr/bin/env bash
# fuzz-nightly.sh: every fuzz target of the module for FUZZTIME each, as a nightly job.
# Not part of make test; `make fuzz` calls it (30 s per target there by default).
#
# Targets are listed with `go test -list '^Fuzz'` in every package and run FUZZJOBS at a
# time (default: one per CPU), each with one fuzzing worker, so a 2-core machine runs the
# 10-minute nightly in half the time of one after another. Each target's output goes to
# $LOGDIR/<pkg>.<target>.log (LOGDIR: fuzz-YYYYMMDD-HHMMSS); the summary line per target gives the executions and the
# corpus growth. On a crash it lists the inputs Go saved under testdata/fuzz/ (commit them
# as regression seeds once fixed). Exit status: 0 when no target failed.
#
# Usage: ./bench/fuzz-nightly.sh                 FUZZTIME=10m by default
#        FUZZTIME=30s ./bench/fuzz-nightly.sh    a quick pass
#        FUZZJOBS=1 ./bench/fuzz-nightly.sh      one target at a time
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
FUZZTIME=${FUZZTIME:-10m}
FUZZJOBS=${FUZZJOBS:-$(nproc)}
GO=${GO:-go}
LOGDIR=${LOGDIR:-fuzz-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$LOGDIR"

list="$LOGDIR/targets"
: >"$list"
for pkg in $($GO list ./...); do
	# A package whose tests do not build has targets nobody would run: that fails
	# the run rather than passing it quietly.
	if ! found=$($GO test -list '^Fuzz' "$pkg" 2>&1); then
		echo "FAIL $pkg: cannot list its fuzz targets:" >&2
		echo "$found" >&2
		exit 1
	fi
	for f in $(grep '^Fuzz' <<<"$found" || true); do
		echo "$pkg $f" >>"$list"
	done
done
targets=$(wc -l <"$list")
if ((targets == 0)); then
	echo "no fuzz targets found" >&2
	exit 1
fi
echo "== $(date -u +%FT%TZ): $targets fuzz targets, $FUZZTIME each, $FUZZJOBS at a time; logs in $LOGDIR/"
start=$(date +%s)

# one PKG TARGET: fuzz one target; its log ends with PASS/ok or the failure.
one() {
	local pkg=$1 f=$2 log
	log="$LOGDIR/$(echo "$pkg" | tr / _).$f.log"
	if $GO test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" -parallel 1 "$pkg" >"$log" 2>&1; then
		echo "ok   $pkg $f: $(grep -o 'elapsed: .*' "$log" | tail -1)"
	else
		echo "FAIL $pkg $f: see $log"
		return 1
	fi
}
export -f one
export GO FUZZTIME LOGDIR
status=0
xargs -r -P "$FUZZJOBS" -L 1 bash -c 'one "$0" "$1"' <"$list" || status=1
if [[ $status == 0 ]]; then
	echo "== no crash: $targets targets in $(($(date +%s) - start)) s"
	exit 0
fi
echo "== a target failed after $(($(date +%s) - start)) s; new crashers:"
git status --porcelain -- '*testdata/fuzz/*' || true
exit 1
