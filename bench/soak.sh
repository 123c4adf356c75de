#!/usr/bin/env bash
# soak.sh: a long run of a real Switchboard process under steady call load with media, to
# show that nothing leaks (issue 14). Not part of make test or make bench.
#
# For SOAK_SECONDS it runs, at the same time:
#   - SIPp UAC 1001 (digest) -> switchboard -> SIPp UAS 1002 at CALL_RATE calls/s, each call
#     held CALL_HOLD_MS (test/sipp/uac-call-auth.xml, uas-answer.xml);
#   - bench/cmd/rtpload in back-to-back rounds: MEDIA_CALLS calls 1003 -> 1004 with G.711
#     both ways for MEDIA_SECONDS each (packet loss per round).
# Before the load and SETTLE_SECONDS after it (transactions live 32 s, a digest nonce's
# replay entry 5 minutes, swept every 30 s), it samples from the
# server: goroutines and the live heap after forced collections (/metrics, pprof; the bytes of
# live objects: spans in use also count fragmentation and the runtime's goroutine descriptors,
# which it keeps for reuse, and are printed for context), open file descriptors (/proc/PID/fd) and
# RTP ports held (switchboard_rtp_ports_in_use). It prints failed calls and these figures,
# and exits 1 when a call failed or a figure did not come back near its baseline.
#
# Usage: ./bench/soak.sh   (30 minutes by default; SOAK_SECONDS=120 for a quick check)
# Environment: SOAK_SECONDS [1800] CALL_RATE [20] CALL_HOLD_MS [2000] MEDIA_CALLS [20]
#              MEDIA_SECONDS [30] SETTLE_SECONDS [360] KEEP=1 keeps the work dir.
# Everything binds 127.0.0.1; every process is started here and killed by PID at exit.
set -euo pipefail

SOAK_SECONDS=${SOAK_SECONDS:-1800}
CALL_RATE=${CALL_RATE:-20}
CALL_HOLD_MS=${CALL_HOLD_MS:-2000}
MEDIA_CALLS=${MEDIA_CALLS:-20}
MEDIA_SECONDS=${MEDIA_SECONDS:-30}
SETTLE_SECONDS=${SETTLE_SECONDS:-360}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v sipp >/dev/null || { echo "sipp not installed (make deps)" >&2; exit 1; }

source bench/lib.sh
bench_init soak

go build -o "$work/switchboard" ./cmd/switchboard
go build -o "$work/rtpload" ./bench/cmd/rtpload
write_config 0 10000
# The pprof listener lets sample force a collection (heap?gc=1): serve runs with GOGC=400,
# so without one the heap in use says little about what is still live.
pprof_addr="127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export SWITCHBOARD_PPROF=$pprof_addr
start_switchboard "$work/switchboard"
echo "== switchboard pid $spid, SIP udp $sip_addr, HTTP $http_addr, work dir $work"

# metric NAME: a value from /metrics (loopback needs no token).
metric() { curl -s "http://$http_addr/metrics" | awk -v n="$1" '$1 == n { print $2 + 0; exit }'; }
# Two collections: what sync.Pool caches survives the first (its victim cache), and a
# cache is not a leak.
sample() {
	curl -s -o /dev/null "http://$pprof_addr/debug/pprof/heap?gc=1" || true
	curl -s -o /dev/null "http://$pprof_addr/debug/pprof/heap?gc=1" || true
	printf '%s %s %s %s %s\n' "$(metric go_goroutines)" "$(ls "/proc/$spid/fd" | wc -l)" \
		"$(metric switchboard_rtp_ports_in_use)" "$(metric go_memstats_heap_alloc_bytes)" "$(metric go_memstats_heap_inuse_bytes)"
}
uas_port=$(free_port)
printf 'SEQUENTIAL\n1002;[authentication username=1002 password=pw-1002];3600;uas\n' >"$work/reg-uas.csv"
timeout 30 sipp "$sip_addr" -sf test/sipp/register-auth.xml -i 127.0.0.1 -p "$uas_port" -nostdin \
	-inf "$work/reg-uas.csv" -m 1 -timeout 10s -trace_stat -stf "$work/reg-uas.stat" >/dev/null 2>&1 || true
[[ $(stat_last 'SuccessfulCall(C)' "$work/reg-uas.stat") == 1 ]] || { echo "UAS registration failed" >&2; exit 1; }
sleep 2
read -r g0 f0 r0 h0 s0 < <(sample)
curl -s -o "$work/heap-baseline.pprof" "http://$pprof_addr/debug/pprof/heap" || true
echo "baseline: goroutines $g0  fds $f0  rtp ports $r0  live heap $((h0 / 1024)) KiB (spans in use $((s0 / 1024)) KiB)"

n=$((CALL_RATE * SOAK_SECONDS))
sipp "$sip_addr" -sf test/sipp/uas-answer.xml -i 127.0.0.1 -p "$uas_port" -nostdin -buff_size 4194304 \
	-m "$n" -timeout "$((SOAK_SECONDS + 120))s" -trace_stat -stf "$work/uas.stat" -fd 5 >"$work/uas.out" 2>&1 &
pids+=($!)
sleep 0.5
printf 'SEQUENTIAL\n1001;[authentication username=1001 password=pw-1001];1002;bench.local\n' >"$work/call.csv"
sipp "$sip_addr" -sf test/sipp/uac-call-auth.xml -i 127.0.0.1 -p "$(free_port)" -nostdin -buff_size 4194304 \
	-inf "$work/call.csv" -r "$CALL_RATE" -l $((CALL_RATE * (CALL_HOLD_MS / 1000 + 3) + 50)) -m "$n" -d "$CALL_HOLD_MS" \
	-timeout "$((SOAK_SECONDS + 120))s" -trace_stat -stf "$work/uac.stat" -fd 5 >"$work/uac.out" 2>&1 &
uac=$!
pids+=("$uac")

end=$(($(date +%s) + SOAK_SECONDS))
round=0 media_fail=0
while (($(date +%s) + MEDIA_SECONDS + 10 < end)); do
	round=$((round + 1))
	if line=$(timeout $((MEDIA_SECONDS + 120)) "$work/rtpload" -server "$sip_addr" -domain bench.local \
		-caller 1003 -caller-pw pw-1003 -callee 1004 -callee-pw pw-1004 \
		-calls "$MEDIA_CALLS" -seconds "$MEDIA_SECONDS" 2>>"$work/rtpload.err"); then
		echo "media round $round: $line"
	else
		media_fail=$((media_fail + 1))
		echo "media round $round FAILED (see $work/rtpload.err)"
		sleep 5 # a round that fails at once must not spin
	fi
	read -r g f r h _ < <(sample)
	echo "  during: goroutines $g  fds $f  rtp ports $r  live heap $((h / 1024)) KiB  calls ok $(stat_last 'SuccessfulCall(C)' "$work/uac.stat") failed $(stat_last 'FailedCall(C)' "$work/uac.stat")"
done
wait "$uac" || true
echo "== load over; settling ${SETTLE_SECONDS}s (transactions live 32 s, nonce replay entries 5 min)"
sleep "$SETTLE_SECONDS"
read -r g1 f1 r1 h1 s1 < <(sample)
curl -s -o "$work/heap-end.pprof" "http://$pprof_addr/debug/pprof/heap" || true
ok=$(stat_last 'SuccessfulCall(C)' "$work/uac.stat")
failed=$(stat_last 'FailedCall(C)' "$work/uac.stat")
echo
echo "== soak summary: ${SOAK_SECONDS}s at ${CALL_RATE} calls/s (hold ${CALL_HOLD_MS} ms) plus $round media rounds of $MEDIA_CALLS calls"
echo "calls: placed $n  ok $ok  failed $failed  media rounds failed $media_fail"
echo "goroutines $g0 -> $g1   fds $f0 -> $f1   rtp ports $r0 -> $r1   live heap $((h0 / 1024)) -> $((h1 / 1024)) KiB (spans in use $((s0 / 1024)) -> $((s1 / 1024)) KiB)"
status=0
((failed == 0 && media_fail == 0 && ok == n)) || { echo "FAIL: calls failed or missing"; status=1; }
# Back to baseline: a few goroutines and fds of slack (idle RTP sockets rest 30 s, timers),
# live heap within 2x or 4 MiB.
((g1 <= g0 + 10)) || { echo "FAIL: goroutines did not come back"; status=1; }
((f1 <= f0 + 10)) || { echo "FAIL: file descriptors did not come back"; status=1; }
((r1 <= r0)) || { echo "FAIL: RTP ports still held"; status=1; }
echo "heap held beyond the baseline, by allocation site (pprof inuse_space, end minus baseline):"
go tool pprof -sample_index=inuse_space -top -nodecount=12 -base "$work/heap-baseline.pprof" \
	"$work/switchboard" "$work/heap-end.pprof" 2>/dev/null | sed -n '/flat%/,$p' || true
awk -v a="$h0" -v b="$h1" 'BEGIN { exit !(b <= 2 * a || b <= a + 4 * 1048576) }' || { echo "FAIL: heap did not come back"; status=1; }
exit "$status"
