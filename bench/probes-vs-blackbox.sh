#!/usr/bin/env bash
# CPU and memory of 1,000 HTTP probes at a 30 s interval: vigie's uptime
# manager against Debian's prometheus-blackbox-exporter driven by Debian's
# prometheus, side by side in one run, against one local HTTP server.
#
#   bench/probes-vs-blackbox.sh [PROBES] [SECONDS]
#
# vigie's side is bench/probes (the uptime manager with its SQLite history
# and a collector gather every 15 s, without a TSDB). The blackbox side is
# blackbox_exporter (module http_2xx) scraped by Prometheus with the usual
# relabelling, one target per probe, scrape_interval 30s. All run for
# SECONDS (default 150); CPU is user+system seconds over the whole run,
# memory the peak RSS. The start delays of vigie's checks are its
# vigie_probe_start_delay_seconds histogram.
set -euo pipefail
cd "$(dirname "$0")/.."
probes=${1:-1000}
secs=${2:-150}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

bb=$(command -v prometheus-blackbox-exporter || true)
prom=$(command -v prometheus || true)
if [ -z "$bb" ] || [ -z "$prom" ]; then
	echo "installing prometheus and prometheus-blackbox-exporter" >&2
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-blackbox-exporter >&2
	bb=$(command -v prometheus-blackbox-exporter); prom=$(command -v prometheus)
fi
go build -o "$work/probes" ./bench/probes

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tgt_port=$(freeport); bb_port=$(freeport); prom_port=$(freeport)
target="http://127.0.0.1:$tgt_port"

"$work/probes" -serve "127.0.0.1:$tgt_port" >"$work/target.log" 2>&1 &
pids+=($!)

cat >"$work/blackbox.yml" <<YML
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http: {preferred_ip_protocol: ip4}
YML
{
	printf 'global: {scrape_interval: 30s, scrape_timeout: 5s}\nscrape_configs:\n  - job_name: blackbox\n    metrics_path: /probe\n    params: {module: [http_2xx]}\n    static_configs:\n      - targets:\n'
	for i in $(seq 0 $((probes - 1))); do printf '          - %s/p%d\n' "$target" "$i"; done
	printf '    relabel_configs:\n      - {source_labels: [__address__], target_label: __param_target}\n      - {source_labels: [__param_target], target_label: instance}\n      - {target_label: __address__, replacement: "127.0.0.1:%s"}\n' "$bb_port"
} >"$work/prometheus.yml"

for i in $(seq 100); do curl -sf "$target/" >/dev/null && break; sleep 0.1; done
"$bb" --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$bb_port" >"$work/bb.log" 2>&1 &
bb_pid=$!; pids+=($bb_pid)
"$prom" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" --web.listen-address="127.0.0.1:$prom_port" >"$work/prom.log" 2>&1 &
prom_pid=$!; pids+=($prom_pid)
"$work/probes" -probes "$probes" -interval 30s -target "$target" -duration "${secs}s" -dir "$work" >"$work/vigie.json" 2>"$work/vigie.log" &
vg_pid=$!
wait "$vg_pid"

cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$1/stat"; }
hwm() { awk '/VmHWM/{print $2}' "/proc/$1/status"; }
bb_cpu=$(cpu "$bb_pid"); bb_rss=$(hwm "$bb_pid")
prom_cpu=$(cpu "$prom_pid"); prom_rss=$(hwm "$prom_pid")
scrapes=$(curl -s "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode 'query=count(probe_success == 1)' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')

python3 - "$work/vigie.json" "$bb_cpu" "$bb_rss" "$prom_cpu" "$prom_rss" "$probes" "$secs" "$scrapes" "$("$bb" --version 2>&1 | head -1)" "$("$prom" --version 2>&1 | head -1)" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
bb_cpu, bb_rss, prom_cpu, prom_rss = float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
probes, secs, up = sys.argv[6], sys.argv[7], sys.argv[8]
print(f"{probes} HTTP probes every 30s for {secs}s against one local server")
print(f"  {sys.argv[9]}\n  {sys.argv[10]}")
print(f"{'':34} {'CPU s':>8} {'CPU %':>7} {'peak RSS MiB':>13}")
rows = [("vigie uptime (probes+history)", v["cpu_seconds"], v["max_rss_kib"]),
        ("blackbox_exporter", bb_cpu, bb_rss), ("prometheus (driving it)", prom_cpu, prom_rss),
        ("blackbox_exporter + prometheus", bb_cpu + prom_cpu, bb_rss + prom_rss)]
for name, c, r in rows:
    print(f"{name:34} {c:8.2f} {100*c/float(secs):6.1f}% {r/1024:13.1f}")
print(f"ratio vigie / blackbox alone:  CPU {v['cpu_seconds']/bb_cpu:.2f}  RSS {v['max_rss_kib']/bb_rss:.2f}")
print(f"ratio vigie / blackbox+prom:   CPU {v['cpu_seconds']/(bb_cpu+prom_cpu):.2f}  RSS {v['max_rss_kib']/(bb_rss+prom_rss):.2f}")
d = v["start_delays"]
print(f"vigie checks: {v['checks']}, started <=100ms late: {d.get('le_0.1')}, <=1s late: {d.get('le_1')}, mean delay {1000*v['start_delay_sum_seconds']/max(v['checks'],1):.2f} ms")
print(f"prometheus: {up} targets with probe_success == 1 at the end")
PY
