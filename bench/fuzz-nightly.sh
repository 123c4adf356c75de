#!/usr/bin/env bash
# fuzz-nightly.sh: every fuzz target of the module for FUZZTIME each (10 minutes by
# default), one after another, as a nightly job. Not part of make test.
#
# It runs `make fuzz FUZZTIME=...` (which lists the targets with `go test -list '^Fuzz'`
# in every package), keeps the whole output in $LOG (default fuzz-YYYYMMDD.log), and on
# a crash lists the inputs Go saved under testdata/fuzz/ (commit them as regression seeds
# once fixed). Exit status: 0 when no target crashed.
#
# Usage: ./bench/fuzz-nightly.sh            FUZZTIME=10m by default
#        FUZZTIME=30s ./bench/fuzz-nightly.sh   a quick pass
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
FUZZTIME=${FUZZTIME:-10m}
LOG=${LOG:-fuzz-$(date -u +%Y%m%d).log}
targets=0
for pkg in $(go list ./...); do
	targets=$((targets + $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep -c '^Fuzz' || true)))
done
echo "== $(date -u +%FT%TZ): $targets fuzz targets, $FUZZTIME each; log in $LOG"
start=$(date +%s)
if make fuzz FUZZTIME="$FUZZTIME" 2>&1 | tee "$LOG"; then
	echo "== no crash: $targets targets in $(( $(date +%s) - start ))s"
	exit 0
fi
echo "== a target failed after $(( $(date +%s) - start ))s; new crashers:"
git status --porcelain -- '*testdata/fuzz/*' || true
exit 1
