#!/usr/bin/env bash
# One vigie agent against `prometheus --enable-feature=agent` and vmagent
# (Debian's packages), in one run, sending the same data to the same
# receiver (Debian's victoria-metrics): all three scrape the /metrics of one
# source vigie (its node and container collectors, ~600 series) every
# INTERVAL seconds and remote-write what they scrape. Each sender adds
# sender=<name> as an external label, so the receiver counts each one's
# samples. The vigie agent's own collectors are off (node, docker): it
# also sends its own process metrics, as the others do not, and those are
# counted in its samples.
#
#   bench/agent-vs-prometheus-agent.sh [DURATION] [INTERVAL]
#
# Prints, per sender: samples/s received, CPU share of one core, CPU
# microseconds per sample, RSS (and its anonymous part) at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-120}
interval=${2:-5}
for b in prometheus vmagent victoria-metrics; do
  command -v "$b" >/dev/null || { echo "needs $b (apt-get install prometheus vmagent victoria-metrics)"; exit 1; }
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

src=$(port) vm=$(port) va=$(port) pa=$(port) vma=$(port)
victoria-metrics -httpListenAddr=127.0.0.1:$vm -storageDataPath="$work/vm" -loggerLevel=WARN >"$work/vm.log" 2>&1 & pids+=($!)
"$work/vigie" run --listen 127.0.0.1:$src --data-dir "$work/src" >"$work/src.log" 2>&1 & pids+=($!)
wait_ok "http://127.0.0.1:$vm/health"; wait_ok "http://127.0.0.1:$src/-/ready"

scrape() { # $1: sender name
  printf 'global:\n  scrape_interval: %ss\n  external_labels: {sender: %s}\nscrape_configs:\n  - job_name: source\n    static_configs: [{targets: ["127.0.0.1:%s"]}]\n' "$interval" "$1" "$src"
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
      targets: ["127.0.0.1:$src"]
remote_write:
  - url: http://127.0.0.1:$vm/api/v1/write
YAML

"$work/vigie-agent" agent --config "$work/agent.yml" --listen 127.0.0.1:$va --data-dir "$work/agent" >"$work/agent.log" 2>&1 & agent=$!; pids+=($agent)
prometheus --enable-feature=agent --config.file="$work/prom.yml" --storage.agent.path="$work/prom" \
  --web.listen-address=127.0.0.1:$pa --log.level=warn >"$work/prom.log" 2>&1 & prom=$!; pids+=($prom)
vmagent -promscrape.config="$work/vmagent.yml" -remoteWrite.url="http://127.0.0.1:$vm/api/v1/write" \
  -remoteWrite.tmpDataPath="$work/vmagent" -httpListenAddr=127.0.0.1:$vma -loggerLevel=WARN >"$work/vmagent.log" 2>&1 & vmagent=$!; pids+=($vmagent)
wait_ok "http://127.0.0.1:$va/-/ready"; wait_ok "http://127.0.0.1:$pa/-/ready"; wait_ok "http://127.0.0.1:$vma/health"

clk=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
declare -A c0
for p in $agent $prom $vmagent; do c0[$p]=$(cpu $p); done
t0=$(date +%s)
sleep "$duration"
t1=$(date +%s)
report() { # name pid
  local c1 rss anon n
  c1=$(cpu "$2"); rss=$(awk '/^VmRSS/{print $2}' "/proc/$2/status"); anon=$(awk '/^RssAnon/{print $2}' "/proc/$2/status")
  n=$(curl -s "http://127.0.0.1:$vm/api/v1/query" --data-urlencode "query=sum(count_over_time({sender=\"$1\"}[$((t1-t0))s]))" --data-urlencode "time=$t1" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
  python3 - "$1" "$n" "${c0[$2]}" "$c1" "$clk" "$((t1-t0))" "$rss" "$anon" <<'PY'
import sys
name, n, c0, c1, clk, wall, rss, anon = sys.argv[1:]
n, cpu, wall = float(n), (float(c1) - float(c0)) / float(clk), float(wall)
per = 1e6 * cpu / n if n else float("nan")
print(f"{name:17s} {n/wall:9.0f} samples/s  CPU {100*cpu/wall:5.2f}% of a core  {per:6.1f} µs/sample  RSS {int(rss)/1024:6.1f} MiB (anon {int(anon)/1024:5.1f} MiB)")
PY
}
echo "after ${duration}s, scraping every ${interval}s, received by victoria-metrics:"
report vigie-agent $agent
report prometheus-agent $prom
report vmagent $vmagent
