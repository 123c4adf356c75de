# lib.sh: what the bench scripts (sipp-load.sh, compare.sh, soak.sh) share; sourced,
# not run. Everything binds 127.0.0.1.

# bench_init NAME: a temp work dir ($work) and the list of started processes ($pids),
# killed and waited for at exit; KEEP=1 keeps the work dir.
bench_init() {
	work=$(mktemp -d "/tmp/switchboard-$1.XXXXXX")
	pids=()
	trap bench_cleanup EXIT
}

bench_cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [[ "${KEEP:-}" == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}

# free_port: a port on 127.0.0.1 the OS reported free a moment ago.
free_port() {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

now() { date +%s.%N; }

# stat_last COLUMN FILE: the value of COLUMN in the last line of a SIPp -trace_stat file.
stat_last() {
	awk -F';' -v col="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
		{ v = $c } END { print v + 0 }' "$2"
}

# stat_max COLUMN FILE: the largest value of COLUMN over the file.
stat_max() {
	awk -F';' -v col="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
		{ if ($c + 0 > m) m = $c + 0 } END { print m + 0 }' "$2"
}

# write_config USERS PORTS: $work/switchboard.yaml (domain bench.local, agents 1001-1004,
# password pw-EXT, and USERS agents from 30000 up) with PORTS RTP ports, and
# $work/reg.csv, the SIPp injection file that registers those USERS.
write_config() {
	local users=$1 ports=$2 rtp_first u
	rtp_first=$((20000 + ($$ % 100) * 200))
	cat >"$work/switchboard.yaml" <<EOC
domain: bench.local
listen:
  sip: [udp://127.0.0.1:0]
  http: 127.0.0.1:0
  rtp_ports: ${rtp_first}-$((rtp_first + ports - 1))
agents:
  - {id: a1001, extension: "1001", password: pw-1001}
  - {id: a1002, extension: "1002", password: pw-1002, ring_timeout: 30s}
  - {id: a1003, extension: "1003", password: pw-1003}
  - {id: a1004, extension: "1004", password: pw-1004, ring_timeout: 30s}
EOC
	printf 'SEQUENTIAL\n' >"$work/reg.csv"
	for ((u = 30000; u < 30000 + users; u++)); do
		printf '  - {id: u%d, extension: "%d", password: pw-%d}\n' "$u" "$u" "$u" >>"$work/switchboard.yaml"
		printf '%d;[authentication username=%d password=pw-%d];3600;load\n' "$u" "$u" "$u" >>"$work/reg.csv"
	done
}

# start_switchboard BINARY: serves $work/switchboard.yaml (stdout in $work/server.out,
# the log in $work/server.log) and sets $spid, $sip_addr (UDP) and $http_addr.
start_switchboard() {
	"$1" serve -config "$work/switchboard.yaml" -data "$work/data" >"$work/server.out" 2>"$work/server.log" &
	spid=$!
	pids+=("$spid")
	sip_addr="" http_addr=""
	for _ in $(seq 100); do
		sip_addr=$(sed -n 's|^SIP  *udp://\(127\.0\.0\.1:[0-9]*\).*|\1|p' "$work/server.out" | head -1)
		http_addr=$(sed -n 's|^HTTP http://\([0-9.:]*\).*|\1|p' "$work/server.out" | head -1)
		[[ -n "$sip_addr" && -n "$http_addr" ]] && return 0
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	echo "switchboard did not start:" >&2
	cat "$work/server.out" "$work/server.log" >&2
	exit 1
}
