#!/usr/bin/env bash
# sipp-load.sh: load test of a real Switchboard process on 127.0.0.1 (see bench/README.md).
#
# It builds bin/switchboard, writes a throwaway config (domain bench.local, agents 1001-1004 plus
# REG_USERS agents from 30000 up for the REGISTER load) and data dir under a temp dir, starts
# `switchboard serve`, and then runs:
#   a) REGISTER load: authenticated REGISTERs (401 + digest + 200) at REG_RATES per second,
#      REG_SECONDS each (test/sipp/register-auth.xml, injection CSV), spread over REG_USERS
#      users as phones would be; then the worst case, every REGISTER for one user (the
#      registrar serialises one user's REGISTERs and each one is a database commit);
#   b) call load without media: SIPp UAC (1001, digest) -> switchboard -> SIPp UAS registered as
#      1002 (test/sipp/uas-answer.xml, no 180), at CALL_RATES calls/s for CALL_SECONDS each,
#      every call held CALL_HOLD_MS;
#   c) media load: bench/cmd/rtpload holds MEDIA_CALLS calls between two test phones (1003 -> 1004)
#      with G.711 RTP both ways for MEDIA_SECONDS and measures packet loss.
# For each run it reports what SIPp achieved and what it cost the server: CPU time (utime+stime
# from /proc/PID/stat) divided by the operations, and the peak RSS (VmHWM, a high-water mark
# over the whole process lifetime, so it only grows from phase to phase).
#
# Everything binds 127.0.0.1 only. Every SIPp run is bounded by -m (calls), -timeout and
# timeout(1), and every process is started by this script and killed by PID at exit.
# Needs sipp, python3 (to pick free ports), go, awk.
#
# Usage: ./bench/sipp-load.sh            (from the repository root; `make bench` runs it)
# Environment (defaults in brackets):
#   REG_RATES ["500 1000 2000"]  REG_SECONDS [10]  REG_USERS [2000]  REG_ONE_USER_RATE [100]
#   CALL_RATES ["100 200 400 800 1500"]  CALL_SECONDS [10]  CALL_HOLD_MS [1000]
#   MEDIA_CALLS ["50 200"]  MEDIA_SECONDS [10]
#   KEEP=1 keeps the temp dir (server log, SIPp stats and error logs) for inspection.
set -euo pipefail

REG_RATES=${REG_RATES:-"500 1000 2000"}
REG_SECONDS=${REG_SECONDS:-10}
REG_USERS=${REG_USERS:-2000}
REG_ONE_USER_RATE=${REG_ONE_USER_RATE:-100}
CALL_RATES=${CALL_RATES:-"100 200 400 800 1500"}
CALL_SECONDS=${CALL_SECONDS:-10}
CALL_HOLD_MS=${CALL_HOLD_MS:-1000}
MEDIA_CALLS=${MEDIA_CALLS:-"50 200"}
MEDIA_SECONDS=${MEDIA_SECONDS:-10}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v sipp >/dev/null || { echo "sipp not installed (make deps)" >&2; exit 1; }

source bench/lib.sh
bench_init bench

echo "== building bin/switchboard"
go build -o bin/switchboard ./cmd/switchboard
go build -o "$work/rtpload" ./bench/cmd/rtpload

write_config "$REG_USERS" 20000
printf 'SEQUENTIAL\n1001;[authentication username=1001 password=pw-1001];3600;load\n' >"$work/reg-one.csv"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
start_switchboard bin/switchboard
echo "== switchboard pid $spid on udp $sip_addr (work dir $work)"

clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$spid/stat"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$spid/status"; }
# sipp_run NAME ARGS...: one bounded SIPp run with stats and errors under $work/NAME.*
sipp_run() {
	local name=$1
	shift
	# timeout(1) backs up -timeout, which SIPp 3.6.1 was seen to miss with calls stuck.
	timeout -k 5 300 sipp "$sip_addr" -i 127.0.0.1 -nostdin -buff_size 4194304 \
		-trace_stat -stf "$work/$name.stat" -fd 1 -trace_err -error_file "$work/$name.err" "$@" \
		>"$work/$name.out" 2>&1 || true
}

summary=()

# Idle cost (timers, housekeeping): the per-operation figures below include it, which
# matters only at low rates.
c0=$(cpu_ticks)
sleep 3
line=$(awk -v c="$(($(cpu_ticks) - c0))" -v clk="$clk" 'BEGIN { printf "idle server CPU %.1f%% of a core", c / clk / 3 * 100 }')
echo "$line"
summary+=("$line")

# ---- a) REGISTER load ------------------------------------------------------------------
echo "== a) authenticated REGISTER load"
# reg_load NAME RATE CSV LABEL: one REGISTER run and its summary line.
reg_load() {
	local name=$1 rate=$2 csv=$3 label=$4 n c0 c1 t0 t1 ok fail retr line
	n=$((rate * REG_SECONDS))
	c0=$(cpu_ticks)
	t0=$(now)
	sipp_run "$name" -sf test/sipp/register-auth.xml -p "$(free_port)" -inf "$csv" \
		-r "$rate" -l 20000 -m "$n" -timeout "$((REG_SECONDS * 3 + 20))s"
	t1=$(now)
	c1=$(cpu_ticks)
	ok=$(stat_last 'SuccessfulCall(C)' "$work/$name.stat")
	fail=$(stat_last 'FailedCall(C)' "$work/$name.stat")
	retr=$(stat_last 'Retransmissions(C)' "$work/$name.stat")
	line=$(awk -v r="$rate" -v n="$n" -v ok="$ok" -v f="$fail" -v re="$retr" -v t0="$t0" -v t1="$t1" \
		-v c="$((c1 - c0))" -v clk="$clk" -v hwm="$(hwm_kib)" -v label="$label" 'BEGIN {
		d = t1 - t0; ops = (ok + f > 0) ? ok + f : 1
		printf "REGISTER %5d/s %-10s sent %6d  ok %6d  failed %5d  retrans %5d  achieved %6.0f/s  CPU %6.1f us/REGISTER  peak RSS %4.0f MiB",
			r, label, n, ok, f, re, ok / d, c * 1e6 / clk / ops, hwm / 1024 }')
	echo "$line"
	summary+=("$line")
}
for rate in $REG_RATES; do
	reg_load "reg-$rate" "$rate" "$work/reg.csv" "$REG_USERS users"
done
reg_load "reg-one-$REG_ONE_USER_RATE" "$REG_ONE_USER_RATE" "$work/reg-one.csv" "1 user"

# ---- b) call load without media -------------------------------------------------------
echo "== b) call load, no media (UAC 1001 -> switchboard -> UAS 1002, hold ${CALL_HOLD_MS} ms)"
uas_port=$(free_port)
printf 'SEQUENTIAL\n1002;[authentication username=1002 password=pw-1002];3600;uas\n' >"$work/reg-uas.csv"
sipp_run reg-uas -sf test/sipp/register-auth.xml -p "$uas_port" -inf "$work/reg-uas.csv" -m 1 -timeout 10s
[[ $(stat_last 'SuccessfulCall(C)' "$work/reg-uas.stat") == 1 ]] || { echo "UAS registration failed" >&2; cat "$work/reg-uas.err" >&2; exit 1; }
total_calls=0
for rate in $CALL_RATES; do total_calls=$((total_calls + rate * CALL_SECONDS)); done
uas_timeout=$(( $(wc -w <<<"$CALL_RATES") * (CALL_SECONDS * 3 + 60) ))
sipp "$sip_addr" -sf test/sipp/uas-answer.xml -i 127.0.0.1 -p "$uas_port" -nostdin -buff_size 4194304 \
	-m "$total_calls" -timeout "${uas_timeout}s" -trace_err -error_file "$work/uas.err" \
	-trace_stat -stf "$work/uas.stat" -fd 1 >"$work/uas.out" 2>&1 &
uas_pid=$!
pids+=("$uas_pid")
sleep 0.5
printf 'SEQUENTIAL\n1001;[authentication username=1001 password=pw-1001];1002;bench.local\n' >"$work/call.csv"
for rate in $CALL_RATES; do
	n=$((rate * CALL_SECONDS))
	limit=$((rate * (CALL_HOLD_MS / 1000 + 2) + 100))
	c0=$(cpu_ticks)
	t0=$(now)
	sipp_run "call-$rate" -sf test/sipp/uac-call-auth.xml -p "$(free_port)" -inf "$work/call.csv" \
		-r "$rate" -l "$limit" -m "$n" -d "$CALL_HOLD_MS" -timeout "$((CALL_SECONDS * 3 + 40))s" \
		-max_socket 65000
	t1=$(now)
	c1=$(cpu_ticks)
	ok=$(stat_last 'SuccessfulCall(C)' "$work/call-$rate.stat")
	fail=$(stat_last 'FailedCall(C)' "$work/call-$rate.stat")
	retr=$(stat_last 'Retransmissions(C)' "$work/call-$rate.stat")
	peak=$(stat_max 'CurrentCall' "$work/call-$rate.stat")
	# Achieved rate over the time calls were being started: the run lasts n/rate s plus one hold.
	line=$(awk -v r="$rate" -v n="$n" -v ok="$ok" -v f="$fail" -v re="$retr" -v t0="$t0" -v t1="$t1" \
		-v hold="$CALL_HOLD_MS" -v c="$((c1 - c0))" -v clk="$clk" -v hwm="$(hwm_kib)" -v peak="$peak" 'BEGIN {
		d = t1 - t0 - hold / 1000; ops = (ok + f > 0) ? ok + f : 1
		printf "calls %5d/s  placed %6d  ok %6d  failed %5d  retrans %5d  achieved %6.0f/s  CPU %6.1f us/call  peak RSS %4.0f MiB  concurrent %5d",
			r, n, ok, f, re, ok / d, c * 1e6 / clk / ops, hwm / 1024, peak }')
	echo "$line"
	summary+=("$line")
	# Let transactions and the call log drain before the next rate.
	sleep 2
done
kill "$uas_pid" 2>/dev/null || true

# ---- c) media --------------------------------------------------------------------------
echo "== c) media: G.711 both ways through the RTP relay (1003 -> 1004)"
for k in $MEDIA_CALLS; do
	line=$(timeout $((MEDIA_SECONDS + 120)) "$work/rtpload" -server "$sip_addr" -domain bench.local \
		-caller 1003 -caller-pw pw-1003 -callee 1004 -callee-pw pw-1004 \
		-calls "$k" -seconds "$MEDIA_SECONDS" -pid "$spid" 2>"$work/rtpload-$k.err") ||
		{ echo "rtpload failed:" >&2; tail -20 "$work/rtpload-$k.err" >&2; exit 1; }
	line="$line  peak RSS $(awk -v h="$(hwm_kib)" 'BEGIN { printf "%.0f", h / 1024 }') MiB"
	echo "$line"
	summary+=("$line")
done

echo
echo "== summary ($(date -u +%F), $(nproc) CPUs, $(sipp -v 2>&1 | grep -o 'SIPp v[0-9.]*' | head -1))"
printf '%s\n' "${summary[@]}"
