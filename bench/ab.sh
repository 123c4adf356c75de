#!/usr/bin/env bash
# ab.sh: two builds under the same load at the same time, for before/after figures on a
# machine whose speed drifts from one minute to the next. Not part of make test or make bench.
#
#   ./bench/ab.sh call 100 /tmp/sb-before /tmp/sb-after
#
# Each round starts bench/profile.sh (PPROF=0) for both builds at once: two servers, each
# with its own load, measured over the same window. Runs one after the other spread by
# ±25 % on the virtual machine of bench/README.md, more than most changes are worth; side
# by side, two copies of one build stay within 3 % of each other. Both loads share the
# machine, so the CPU per operation of each is higher than alone: read the ratio B/A, not
# the figures. The summary is the median of the rounds' ratios. The two servers' RTP port
# ranges overlap (bench/lib.sh): the pool skips a port the other holds, at a small cost to both.
# Environment: ROUNDS [4] RUN_SECONDS [24] PROFILE_SECONDS [12] USERS (profile.sh's).
set -euo pipefail
kind=${1:?usage: ab.sh register|call RATE BIN_A BIN_B}
rate=${2:?usage: ab.sh register|call RATE BIN_A BIN_B}
a=${3:?usage: ab.sh register|call RATE BIN_A BIN_B}
b=${4:?usage: ab.sh register|call RATE BIN_A BIN_B}
[[ $kind == register || $kind == call ]] || { echo "ab.sh: kind is register or call" >&2; exit 2; }
for bin in "$a" "$b"; do [[ -f $bin && -x $bin ]] || { echo "ab.sh: $bin is not an executable" >&2; exit 2; }; done
tmp=$(mktemp -d /tmp/switchboard-ab.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait; rm -rf "$tmp"' EXIT
# Copies under names of their own: a relative path still works from the repository's root,
# and profile.sh never rebuilds one (as it does bin/switchboard) in the middle of a round.
cp "$a" "$tmp/switchboard-a"
cp "$b" "$tmp/switchboard-b"
a=$tmp/switchboard-a
b=$tmp/switchboard-b
cd "$(dirname "$0")/.."

run() { # run BIN OUT: one profile.sh run in the background
	BIN=$1 PPROF=0 RUN_SECONDS=${RUN_SECONDS:-24} PROFILE_SECONDS=${PROFILE_SECONDS:-12} \
		./bench/profile.sh "$kind" "$rate" >"$2" 2>&1 &
}
perop() { sed -n "s/.*, \([0-9.]*\) us per $kind\$/\1/p" "$1"; }

ratios=()
for i in $(seq "${ROUNDS:-4}"); do
	run "$a" "$tmp/a.out"
	pa=$!
	run "$b" "$tmp/b.out"
	pb=$!
	wait "$pa" || true
	wait "$pb" || true
	x=$(perop "$tmp/a.out")
	y=$(perop "$tmp/b.out")
	if [[ -z $x || -z $y || $x == 0.0 ]]; then
		echo "round $i: no figure; the last lines of each run:"
		tail -n 5 "$tmp/a.out" "$tmp/b.out"
		continue
	fi
	r=$(awk -v x="$x" -v y="$y" 'BEGIN { printf "%.3f", y / x }')
	ratios+=("$r")
	printf 'round %d: A %s  B %s us per %s  B/A %s  (sipp A: %s; B: %s)\n' "$i" "$x" "$y" "$kind" "$r" \
		"$(sed -n 's/^sipp: //p' "$tmp/a.out")" "$(sed -n 's/^sipp: //p' "$tmp/b.out")"
done
((${#ratios[@]} > 0)) || { echo "no round gave figures" >&2; exit 1; }
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END {
	m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "B/A over %d rounds: median %.3f (%.3f to %.3f)\n", NR, m, v[1], v[NR] }'
