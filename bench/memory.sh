#!/usr/bin/env bash
# Resident memory and CPU share of `vigie run` on its embedded default
# configuration, after DURATION seconds (default 300).
#
#   bench/memory.sh [DURATION]
#
# Prints RSS (VmRSS and its anonymous part), the peak (VmHWM), and the CPU
# time used per second of wall time during the run (its share of one core).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-300}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/vigie" ./cmd/vigie
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cd "$work"
./vigie run --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.1; done
clk=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$pid/stat"; }
c0=$(cpu); t0=$(date +%s.%N)
sleep "$duration"
c1=$(cpu); t1=$(date +%s.%N)
rss=$(awk '/^VmRSS/{print $2}' "/proc/$pid/status")
anon=$(awk '/^RssAnon/{print $2}' "/proc/$pid/status")
hwm=$(awk '/^VmHWM/{print $2}' "/proc/$pid/status")
series=$(curl -s "http://127.0.0.1:$port/api/v1/query?query=prometheus_tsdb_head_series" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])')
python3 - "$rss" "$anon" "$hwm" "$c0" "$c1" "$t0" "$t1" "$clk" "$duration" "$series" <<'PY'
import sys
rss, anon, hwm, c0, c1, t0, t1, clk, dur, series = sys.argv[1:]
cpu = (float(c1) - float(c0)) / float(clk)
wall = float(t1) - float(t0)
print(f"after {dur}s on the default configuration ({series} series in the head):")
print(f"  RSS        {int(rss)/1024:.1f} MiB (anonymous {int(anon)/1024:.1f} MiB, peak {int(hwm)/1024:.1f} MiB)   target <= 40 MiB")
print(f"  CPU share  {100*cpu/wall:.2f}% of one core ({cpu:.2f}s CPU in {wall:.0f}s)")
PY
