#!/usr/bin/env bash
# compare.sh: Switchboard beside Kamailio 5.6 (the reference) under the same SIPp
# load, on 127.0.0.1 (see bench/README.md, "Side by side with Kamailio").
#
# Both get the same users (USERS phones u30000.. with password "pw-USER", plus 1001 calling
# 1002) and the same scenarios:
#   - REGISTER with MD5 digest (REGISTER, 401, REGISTER, 200) at REG_RATE per second;
#   - an authenticated call (INVITE, 401, ACK, INVITE, 200, ACK, hold, BYE, 200) to a SIPp
#     UAS registered as 1002, at each of CALL_RATES, then at TOP_RATES upward while both
#     finish with 0 failures and 0 retransmissions (the top rate is the last such).
# Kamailio is a registrar (usrloc in memory) and a stateful proxy that challenges every
# INVITE and record-routes (bench/kamailio/kamailio.cfg); Switchboard is itself.
# The two run alternately, ROUNDS rounds each, so that both sample the same moments of the
# machine, after one uncounted warm-up run each at the same rate (WARMUP_SECONDS): the first
# run at a new rate cost either server up to three quarters more than the next ones (heap and
# table growth, the load generator's start), a start-up cost rather than a cost per
# operation. For each it reports the server's CPU time (utime+stime from /proc, summed over
# Kamailio's processes) per operation, and the ratio Switchboard / Kamailio.
#
# Usage: ./bench/compare.sh   (from the repository root; needs root to install kamailio)
# Environment (defaults in brackets): ROUNDS [3] RUN_SECONDS [8] WARMUP_SECONDS [4] USERS [1000]
#   REG_RATE [2000] CALL_RATES ["100 500"] TOP_RATES ["1000 1500 2000"] CALL_HOLD_MS [1000]
#   KEEP=1 keeps the temp dir (logs, SIPp stats, runs.log: each run's CPU ticks).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
RUN_SECONDS=${RUN_SECONDS:-8}
WARMUP_SECONDS=${WARMUP_SECONDS:-4}
USERS=${USERS:-1000}
REG_RATE=${REG_RATE:-2000}
CALL_RATES=${CALL_RATES:-"100 500"}
TOP_RATES=${TOP_RATES:-"1000 1500 2000"}
CALL_HOLD_MS=${CALL_HOLD_MS:-1000}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v sipp >/dev/null || { echo "sipp not installed (make deps)" >&2; exit 1; }
if ! command -v kamailio >/dev/null; then
	echo "== installing kamailio (Debian package)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kamailio >/dev/null
	# The package starts a system service on 5060; the comparison runs its own.
	systemctl disable --now kamailio >/dev/null 2>&1 || true
fi

source bench/lib.sh
bench_init compare
clk=$(getconf CLK_TCK)

echo "== building bin/switchboard"
go build -o bin/switchboard ./cmd/switchboard

# ---- the users, the same on both sides -------------------------------------------------
write_config "$USERS" 20000
printf 'SEQUENTIAL\n1002;[authentication username=1002 password=pw-1002];3600;uas\n' >"$work/reg-uas.csv"
printf 'SEQUENTIAL\n1001;[authentication username=1001 password=pw-1001];1002;bench.local\n' >"$work/call.csv"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# ---- Switchboard -----------------------------------------------------------------------
start_switchboard bin/switchboard
sb_addr=$sip_addr

# ---- Kamailio --------------------------------------------------------------------------
kport=$(free_port)
sed "s|^#!substdef \"!SB_LISTEN!.*|#!substdef \"!SB_LISTEN!udp:127.0.0.1:${kport}!\"|" \
	bench/kamailio/kamailio.cfg >"$work/kamailio.cfg"
kamailio -f "$work/kamailio.cfg" -DD -E -m 512 -M 32 -w "$work" -P "$work/kamailio.pid" \
	>"$work/kamailio.log" 2>&1 &
kpid=$!
pids+=("$kpid")
sleep 1
kill -0 "$kpid" 2>/dev/null || { echo "kamailio did not start:" >&2; cat "$work/kamailio.log" >&2; exit 1; }
k_addr="127.0.0.1:$kport"
echo "== switchboard pid $spid on $sb_addr, kamailio pid $kpid on $k_addr (work dir $work)"

# cpu_ticks SYSTEM: the server's CPU ticks so far; Kamailio's summed over its processes.
cpu_ticks() {
	if [[ $1 == sb ]]; then
		awk '{print $14 + $15}' "/proc/$spid/stat"
	else
		local t=0 p
		for p in $kpid $(pgrep -P "$kpid"); do
			t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
		done
		echo "$t"
	fi
}
addr_of() { if [[ $1 == sb ]]; then echo "$sb_addr"; else echo "$k_addr"; fi; }

# sipp_run SYSTEM NAME ARGS...: one bounded SIPp run against SYSTEM.
sipp_run() {
	local sys=$1 name=$2
	shift 2
	timeout -k 5 300 sipp "$(addr_of "$sys")" -i 127.0.0.1 -nostdin -buff_size 4194304 \
		-trace_stat -stf "$work/$name.stat" -fd 1 -trace_err -error_file "$work/$name.err" "$@" \
		>"$work/$name.out" 2>&1 || true
}

# A UAS registered as 1002 on each system answers the calls (200 at once, no 180).
for sys in sb kam; do
	uport=$(free_port)
	sipp_run "$sys" "reg-uas-$sys" -sf test/sipp/register-auth.xml -p "$uport" -inf "$work/reg-uas.csv" -m 1 -timeout 10s
	[[ $(stat_last 'SuccessfulCall(C)' "$work/reg-uas-$sys.stat") == 1 ]] ||
		{ echo "UAS registration on $sys failed" >&2; cat "$work/reg-uas-$sys.err" >&2; exit 1; }
	sipp "$(addr_of "$sys")" -sf test/sipp/uas-answer.xml -i 127.0.0.1 -p "$uport" -nostdin -buff_size 4194304 \
		-m 100000000 -trace_err -error_file "$work/uas-$sys.err" >"$work/uas-$sys.out" 2>&1 &
	pids+=("$!")
done
sleep 0.5

# run SYSTEM KIND RATE ROUND [SECONDS]: one run (RUN_SECONDS long by default); prints
# "ok failed retrans cpu_ticks".
run() {
	local sys=$1 kind=$2 rate=$3 round=$4 secs=${5:-$RUN_SECONDS} n name c0 c1
	n=$((rate * secs))
	name="$kind-$rate-$sys-$round"
	c0=$(cpu_ticks "$sys")
	if [[ $kind == register ]]; then
		sipp_run "$sys" "$name" -sf test/sipp/register-auth.xml -p "$(free_port)" -inf "$work/reg.csv" \
			-r "$rate" -l 20000 -m "$n" -timeout "$((secs * 3 + 20))s"
	else
		sipp_run "$sys" "$name" -sf test/sipp/uac-call-auth.xml -p "$(free_port)" -inf "$work/call.csv" \
			-r "$rate" -l "$((rate * (CALL_HOLD_MS / 1000 + 2) + 100))" -m "$n" -d "$CALL_HOLD_MS" \
			-timeout "$((secs * 3 + 40))s" -max_socket 65000
		sleep 2 # transactions and the call log drain before the next run
	fi
	c1=$(cpu_ticks "$sys")
	# Each run's own figures, for a look at the spread behind the sums.
	printf '%s %s %s round %s: %s ticks, %s ok\n' "$sys" "$kind" "$rate" "$round" "$((c1 - c0))" "$(stat_last 'SuccessfulCall(C)' "$work/$name.stat")" >>"$work/runs.log"
	echo "$(stat_last 'SuccessfulCall(C)' "$work/$name.stat") $(stat_last 'FailedCall(C)' "$work/$name.stat") $(stat_last 'Retransmissions(C)' "$work/$name.stat") $((c1 - c0))"
}

summary=()
# measure KIND RATE: ROUNDS alternating rounds; prints the line and returns 1 when either
# system failed an operation or retransmitted.
measure() {
	local kind=$1 rate=$2 r sys order
	local -A ok=() fail=() retr=() ticks=()
	for sys in sb kam; do ok[$sys]=0 fail[$sys]=0 retr[$sys]=0 ticks[$sys]=0; done
	if ((WARMUP_SECONDS > 0)); then
		for sys in sb kam; do run "$sys" "$kind" "$rate" warm-up "$WARMUP_SECONDS" >/dev/null; done
	fi
	for ((r = 1; r <= ROUNDS; r++)); do
		order="sb kam"
		((r % 2 == 0)) && order="kam sb"
		for sys in $order; do
			read -r o f re t < <(run "$sys" "$kind" "$rate" "$r")
			ok[$sys]=$((ok[$sys] + o)) fail[$sys]=$((fail[$sys] + f)) retr[$sys]=$((retr[$sys] + re)) ticks[$sys]=$((ticks[$sys] + t))
		done
	done
	local line
	line=$(awk -v kind="$kind" -v rate="$rate" -v clk="$clk" \
		-v so="${ok[sb]}" -v sf="${fail[sb]}" -v sr="${retr[sb]}" -v st="${ticks[sb]}" \
		-v ko="${ok[kam]}" -v kf="${fail[kam]}" -v kr="${retr[kam]}" -v kt="${ticks[kam]}" 'BEGIN {
		su = st * 1e6 / clk / ((so + sf) > 0 ? so + sf : 1)
		ku = kt * 1e6 / clk / ((ko + kf) > 0 ? ko + kf : 1)
		printf "%-8s %5d/s  switchboard %7.1f us/op (ok %6d failed %4d retrans %4d)  kamailio %7.1f us/op (ok %6d failed %4d retrans %4d)  ratio %5.2f",
			kind, rate, su, so, sf, sr, ku, ko, kf, kr, (ku > 0 ? su / ku : 0) }')
	echo "$line"
	summary+=("$line")
	[[ ${fail[sb]} == 0 && ${fail[kam]} == 0 && ${retr[sb]} == 0 && ${retr[kam]} == 0 ]]
}

# Idle cost of each, which the per-operation figures at low rates include.
for sys in sb kam; do
	c0=$(cpu_ticks "$sys")
	sleep 3
	line=$(awk -v c="$(($(cpu_ticks "$sys") - c0))" -v clk="$clk" -v s="$sys" 'BEGIN { printf "idle %s CPU %.2f%% of a core", s, c / clk / 3 * 100 }')
	echo "$line"
	summary+=("$line")
done

echo "== REGISTER with digest, $USERS users, $ROUNDS rounds of ${RUN_SECONDS}s each"
measure register "$REG_RATE" || true
echo "== calls with an INVITE challenge, hold ${CALL_HOLD_MS} ms"
for rate in $CALL_RATES; do
	measure call "$rate" || true
done
top=""
for rate in $TOP_RATES; do
	if measure call "$rate"; then top=$rate; else break; fi
done

echo
echo "== summary ($(date -u +%F), $(nproc) CPUs, $(sipp -v 2>&1 | grep -o 'SIPp v[0-9.]*' | head -1), $(kamailio -v 2>&1 | head -1))"
printf '%s\n' "${summary[@]}"
echo "top rate with 0 failures and 0 retransmissions on both: ${top:-none of $TOP_RATES}"
