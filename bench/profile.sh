#!/usr/bin/env bash
# profile.sh: a CPU profile of a real `switchboard serve` under one SIPp or media load,
# for the before/after tables in bench/README.md. Not part of make test or make bench.
#
#   ./bench/profile.sh register 2000     REGISTER with digest at 2000/s, USERS users
#   ./bench/profile.sh call 500          authenticated calls at 500/s to a SIPp UAS (hold 1 s)
#   ./bench/profile.sh rtp 200           200 G.711 calls with media both ways (bench/cmd/rtpload)
#
# The load runs for RUN_SECONDS (20); the profile covers PROFILE_SECONDS (10) in its middle,
# taken from the server's pprof listener (SWITCHBOARD_PPROF). It prints the server's CPU
# per operation over the profiled window and pprof's top 10 by flat CPU, and keeps the
# profile as bench/out/KIND-RATE.pprof (`go tool pprof -http=: bin/switchboard FILE`), and
# the allocations since start as bench/out/KIND-RATE.allocs.pprof (-sample_index=alloc_space).
# PROFILE_SECONDS=0 runs the load without the profiler, for its own figures (rtpload's
# loss over RUN_SECONDS: ./bench/profile.sh rtp 1000 with GOMAXPROCS=1 RUN_SECONDS=60).
# PPROF=0 measures the same window without the profiler: the CPU per operation of A/B runs
# that alternate builds (BIN=...), with nothing else running in the server.
# Environment: RUN_SECONDS [20] PROFILE_SECONDS [10] PPROF [1] USERS [1000] BIN [bin/switchboard, built
# here] TAG (added to the profile's file name) GOMAXPROCS (passed to the server when set, not to
# the load generator) SERVER_CPUS, LOAD_CPUS (taskset core lists for each) KEEP=1 keeps the work dir.
set -euo pipefail
kind=${1:?usage: profile.sh register|call|rtp RATE}
rate=${2:?usage: profile.sh register|call|rtp RATE}
SECONDS_RUN=${RUN_SECONDS:-20}
PROFILE_SECONDS=${PROFILE_SECONDS:-10}
PPROF=${PPROF:-1}
USERS=${USERS:-1000}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v sipp >/dev/null || { echo "sipp not installed (make deps)" >&2; exit 1; }
source bench/lib.sh
bench_init profile
clk=$(getconf CLK_TCK)
mkdir -p bench/out

# BIN profiles another build (say, of an earlier commit, for a before/after pair).
BIN=${BIN:-bin/switchboard}
[[ $BIN == bin/switchboard ]] && go build -o bin/switchboard ./cmd/switchboard
write_config "$USERS" 20000
export SWITCHBOARD_PPROF="127.0.0.1:$(free_port)"
start_switchboard "$BIN"
ulimit -n 65536 2>/dev/null || true
# SERVER_CPUS and LOAD_CPUS (taskset lists, say 0 and 1) keep the server and the load
# generator on cores of their own, so that "one core" is one core.
[[ -n ${SERVER_CPUS:-} ]] && taskset -a -p -c "$SERVER_CPUS" "$spid" >/dev/null
pin=()
[[ -n ${LOAD_CPUS:-} ]] && pin=(taskset -c "$LOAD_CPUS")

sipp_bg() { # sipp_bg NAME ARGS...: SIPp against the server in the background
	local name=$1
	shift
	"${pin[@]}" sipp "$sip_addr" -i 127.0.0.1 -nostdin -buff_size 4194304 -trace_stat -stf "$work/$name.stat" -fd 1 \
		-trace_err -error_file "$work/$name.err" "$@" >"$work/$name.out" 2>&1 &
	pids+=("$!")
	last=$!
}

case $kind in
register)
	sipp_bg load -sf test/sipp/register-auth.xml -p "$(free_port)" -inf "$work/reg.csv" -r "$rate" -l 20000 \
		-m $((rate * SECONDS_RUN)) -timeout "$((SECONDS_RUN * 3))s"
	;;
call)
	uport=$(free_port)
	printf 'SEQUENTIAL\n1002;[authentication username=1002 password=pw-1002];3600;uas\n' >"$work/reg-uas.csv"
	timeout 30 sipp "$sip_addr" -sf test/sipp/register-auth.xml -i 127.0.0.1 -p "$uport" -nostdin \
		-inf "$work/reg-uas.csv" -m 1 -timeout 10s >/dev/null 2>&1 || true
	sipp_bg uas -sf test/sipp/uas-answer.xml -p "$uport" -m 100000000
	printf 'SEQUENTIAL\n1001;[authentication username=1001 password=pw-1001];1002;bench.local\n' >"$work/call.csv"
	sleep 0.5
	sipp_bg load -sf test/sipp/uac-call-auth.xml -p "$(free_port)" -inf "$work/call.csv" -r "$rate" \
		-l $((rate * 3 + 100)) -m $((rate * SECONDS_RUN)) -d 1000 -timeout "$((SECONDS_RUN * 3 + 40))s" -max_socket 65000
	;;
rtp)
	go build -o "$work/rtpload" ./bench/cmd/rtpload
	env -u GOMAXPROCS "${pin[@]}" "$work/rtpload" -server "$sip_addr" -domain bench.local -caller 1003 -caller-pw pw-1003 \
		-callee 1004 -callee-pw pw-1004 -calls "$rate" -seconds "$SECONDS_RUN" -pid "$spid" >"$work/load.out" 2>"$work/load.err" &
	pids+=("$!")
	last=$!
	sleep 5 # calls set up
	;;
*) echo "unknown kind $kind" >&2; exit 2 ;;
esac
load=$last
skip=$(((SECONDS_RUN - PROFILE_SECONDS) / 2))
((skip < 0)) && skip=0
sleep "$skip"
ops0=$(curl -s "http://$http_addr/metrics" | awk '$1 ~ /^switchboard_sip_requests_total/ && /REGISTER|INVITE/ { s += $2 } END { print s + 0 }')
c0=$(awk '{print $14 + $15}' "/proc/$spid/stat")
out="bench/out/$kind-$rate${TAG:+-$TAG}.pprof"
if ((PROFILE_SECONDS > 0)) && [[ $PPROF != 0 ]]; then
	curl -s -o "$out" "http://$SWITCHBOARD_PPROF/debug/pprof/profile?seconds=$PROFILE_SECONDS"
elif ((PROFILE_SECONDS > 0)); then
	out="" # the window's CPU per operation, no profiler running
	sleep "$PROFILE_SECONDS"
else
	out="" # only the load's own figures (rtpload's loss), no profiler running
	sleep 1
fi
c1=$(awk '{print $14 + $15}' "/proc/$spid/stat")
[[ $PPROF != 0 ]] && curl -s -o "bench/out/$kind-$rate${TAG:+-$TAG}.allocs.pprof" "http://$SWITCHBOARD_PPROF/debug/pprof/allocs"
ops1=$(curl -s "http://$http_addr/metrics" | awk '$1 ~ /^switchboard_sip_requests_total/ && /REGISTER|INVITE/ { s += $2 } END { print s + 0 }')
wait "$load" || true
[[ -f "$work/load.out" ]] && cat "$work/load.out"
[[ -f "$work/load.stat" ]] && echo "sipp: ok $(stat_last 'SuccessfulCall(C)' "$work/load.stat") failed $(stat_last 'FailedCall(C)' "$work/load.stat") retrans $(stat_last 'Retransmissions(C)' "$work/load.stat")"
# A REGISTER or a call is two requests of its kind (the challenged one and the retry).
((PROFILE_SECONDS > 0)) && awk -v c=$((c1 - c0)) -v clk="$clk" -v n=$(((ops1 - ops0) / 2)) -v s="$PROFILE_SECONDS" -v k="$kind" 'BEGIN {
	printf "server CPU over %ds: %.1f%% of a core", s, c / clk / s * 100
	if (k != "rtp" && n > 0) printf ", %d %ss, %.1f us per %s", n, k, c * 1e6 / clk / n, k
	printf "\n" }'
if [[ -n $out ]]; then
	go tool pprof -top -nodecount=10 "$BIN" "$out" 2>/dev/null | sed -n '/^Showing\|flat%/,$p'
	echo "profile: $out"
fi
