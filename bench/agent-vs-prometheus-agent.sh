#!/usr/bin/env bash
# One vigie agent against `prometheus --enable-feature=agent` and vmagent
# (Debian's packages), in one run, sending the same data to the same
# receiver (Debian's victoria-metrics). Each sender scrapes the same targets
# at the same interval and remote-writes what it scrapes, with
# sender=<name> as an external label, so the receiver counts each one's
# samples. The vigie agent's own collectors are off (node, docker); it also
# sends its own process and queue metrics (~180 series, at the same
# interval), as the others do not, and those are counted in its samples.
#
#   bench/agent-vs-prometheus-agent.sh [load|light] [DURATION] [INTERVAL] [TARGETS]
#
# load (the default): a throughput load. One node_exporter exposition
#   (Debian's prometheus-node-exporter, captured once at the start, ~550
#   series) is served as TARGETS targets (default 40) on loopback ports by
#   bench/exposition; every sender scrapes all of them every INTERVAL
#   seconds (default 1): ~22,000 samples/s each. Each sender runs on its
#   defaults: vigie scrapes loopback targets uncompressed, the peers ask
#   for gzip.
# light: all three scrape the /metrics of one source vigie (its node and
#   container collectors, ~560 series) every INTERVAL seconds (default 5):
#   ~100 samples/s each, where fixed idle costs dominate.
#
# The window is DURATION seconds (default 120) after a warm-up of WARMUP
# seconds (environment, default 45: past start-up and the agent's
# post-start-up trim at 30 s). Prints, per sender: samples/s received, CPU
# (utime+stime from /proc over the window) as a share of one core and per
# sample, RSS and its anonymous part at the end; then vigie's ratios to
# each peer, and how busy the whole machine was. With VIGIE_PPROF=FILE
# (environment), a CPU profile of the vigie agent over the window's first
# 60 s is written to FILE; VIGIE_ENV="GOGC=100 ..." runs the agent with
# that environment.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-load}
case $mode in
  load) def_interval=1 ;;
  light) def_interval=5 ;;
  *) echo "usage: $0 [load|light] [DURATION] [INTERVAL] [TARGETS]"; exit 2 ;;
esac
duration=${2:-120}
interval=${3:-$def_interval}
ntargets=${4:-40}
warmup=${WARMUP:-45}
for b in prometheus vmagent victoria-metrics prometheus-node-exporter; do
  command -v "$b" >/dev/null || { echo "needs $b (apt-get install prometheus victoria-metrics prometheus-node-exporter)"; exit 1; }
done
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/vigie" ./cmd/vigie
# The agent runs from its own copy, as on a node where it runs alone: the
# source vigie's use of the same file would keep its pages in the page
# cache, and faults map cached neighbours too.
cp "$work/vigie" "$work/vigie-agent"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ok() { for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not ready: $1"; exit 1; }

vm=$(port) va=$(port) pa=$(port) vma=$(port)
# No query-side latency offset or result cache: the window is counted once
# every sender has flushed it.
victoria-metrics -httpListenAddr=127.0.0.1:$vm -storageDataPath="$work/vm" -loggerLevel=WARN \
  -search.latencyOffset=1s -search.disableCache >"$work/vm.log" 2>&1 & pids+=($!)
if [ "$mode" = light ]; then
  src=$(port)
  "$work/vigie" run --listen 127.0.0.1:$src --data-dir "$work/src" >"$work/src.log" 2>&1 & pids+=($!)
  wait_ok "http://127.0.0.1:$src/-/ready"
  targets="\"127.0.0.1:$src\""
  what="the /metrics of one source vigie"
else
  ne=$(port)
  prometheus-node-exporter --web.listen-address=127.0.0.1:$ne >"$work/ne.log" 2>&1 & nepid=$!
  wait_ok "http://127.0.0.1:$ne/metrics"
  curl -sf "http://127.0.0.1:$ne/metrics" >"$work/node.prom"
  kill $nepid; wait $nepid 2>/dev/null || true
  go build -o "$work/exposition" ./bench/exposition
  mkfifo "$work/ports"
  "$work/exposition" -file "$work/node.prom" -targets "$ntargets" >"$work/ports" 2>"$work/exposition.log" & pids+=($!)
  targets=$(head -n "$ntargets" "$work/ports" | sed 's/.*/"127.0.0.1:&"/' | paste -sd,)
  what="$ntargets node_exporter expositions ($(grep -vc '^#' "$work/node.prom") series each)"
fi
wait_ok "http://127.0.0.1:$vm/health"

scrape() { # $1: sender name
  printf 'global:\n  scrape_interval: %ss\n  scrape_timeout: %ss\n  external_labels: {sender: %s}\nscrape_configs:\n  - job_name: source\n    static_configs: [{targets: [%s]}]\n' \
    "$interval" "$interval" "$1" "$targets"
}
printf '  - url: http://127.0.0.1:%s/api/v1/write\n' "$vm" | cat <(scrape prometheus-agent) <(echo 'remote_write:') - >"$work/prom.yml"
scrape vmagent >"$work/vmagent.yml"
cat >"$work/agent.yml" <<YAML
mode: agent
global: {hostname: bench, external_labels: {sender: vigie-agent}}
collect:
  interval: ${interval}s
  node: {enabled: false}
  docker: {enabled: false}
  scrape:
    - job_name: source
      targets: [$targets]
remote_write:
  - url: http://127.0.0.1:$vm/api/v1/write
YAML

env ${VIGIE_ENV:-} "$work/vigie-agent" agent --config "$work/agent.yml" --listen 127.0.0.1:$va --data-dir "$work/agent" >"$work/agent.log" 2>&1 & agent=$!; pids+=($agent)
prometheus --enable-feature=agent --config.file="$work/prom.yml" --storage.agent.path="$work/prom" \
  --web.listen-address=127.0.0.1:$pa --log.level=warn >"$work/prom.log" 2>&1 & prom=$!; pids+=($prom)
vmagent -promscrape.config="$work/vmagent.yml" -remoteWrite.url="http://127.0.0.1:$vm/api/v1/write" \
  -remoteWrite.tmpDataPath="$work/vmagent" -httpListenAddr=127.0.0.1:$vma -loggerLevel=WARN >"$work/vmagent.log" 2>&1 & vmagent=$!; pids+=($vmagent)
wait_ok "http://127.0.0.1:$va/-/ready"; wait_ok "http://127.0.0.1:$pa/-/ready"; wait_ok "http://127.0.0.1:$vma/health"
echo "warming up ${warmup}s, then measuring ${duration}s ($mode: $what every ${interval}s)"
sleep "$warmup"

cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
machine() { awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6}' /proc/stat; } # busy idle
declare -A c0 c1
for p in $agent $prom $vmagent; do c0[$p]=$(cpu $p); done
m0=$(machine)
t0=$(date +%s)
prof=
if [ -n "${VIGIE_PPROF:-}" ]; then
  curl -sf -o "$VIGIE_PPROF" "http://127.0.0.1:$va/debug/pprof/profile?seconds=$((duration < 60 ? duration : 60))" & prof=$!
fi
sleep "$duration"
t1=$(date +%s)
for p in $agent $prom $vmagent; do c1[$p]=$(cpu $p); done
m1=$(machine)
mem() { awk '/^VmRSS/{r=$2} /^RssAnon/{a=$2} END{print r, a}' "/proc/$1/status"; }
declare -A m
for p in $agent $prom $vmagent; do m[$p]=$(mem $p); done
[ -z "$prof" ] || wait "$prof"
# Let every queue flush the window's last samples (5 s send deadline).
sleep $((interval + 10))
count() {
  curl -s "http://127.0.0.1:$vm/api/v1/query" --data-urlencode "query=sum(count_over_time({sender=\"$1\"}[$((t1 - t0))s]))" --data-urlencode "time=$t1" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'
}
rows=()
for s in "vigie-agent $agent" "prometheus-agent $prom" "vmagent $vmagent"; do
  set -- $s
  rows+=("$1 $(count "$1") ${c0[$2]} ${c1[$2]} ${m[$2]}")
done
python3 - "$(getconf CLK_TCK)" "$((t1 - t0))" "$m0" "$m1" "$(nproc)" "${rows[@]}" <<'PY'
import sys
clk, wall = float(sys.argv[1]), float(sys.argv[2])
b0, i0 = map(float, sys.argv[3].split()); b1, i1 = map(float, sys.argv[4].split())
ncpu = int(sys.argv[5])
res = {}
print(f"{'sender':17s} {'samples/s':>9s}  {'CPU':>15s}  {'per sample':>13s}  RSS (anonymous) at the end")
for row in sys.argv[6:]:
    name, n, c0, c1, rss, anon = row.split()
    n, cpu = float(n), (float(c1) - float(c0)) / clk
    per = 1e6 * cpu / n if n else float("nan")
    res[name] = (per, int(rss) / 1024, int(anon) / 1024)
    print(f"{name:17s} {n/wall:9.0f}  {100*cpu/wall:5.2f}% of a core  {per:7.2f} µs/sample  {int(rss)/1024:6.1f} MiB ({int(anon)/1024:5.1f} MiB)")
v = res["vigie-agent"]
for peer in ("prometheus-agent", "vmagent"):
    p = res[peer]
    print(f"vigie/{peer:16s} CPU per sample {v[0]/p[0]:5.2f}  RSS {v[1]/p[1]:5.2f}  anonymous {v[2]/p[2]:5.2f}")
print(f"machine: {100*(b1-b0)/((b1-b0)+(i1-i0)):.0f}% busy over the window ({ncpu} cores)")
PY
