#!/usr/bin/env bash
# Latency and size of /metrics: vigie against node_exporter on this machine.
#
#   bench/node-vs-node-exporter.sh [REQUESTS]
#
# Installs Debian's prometheus-node-exporter if missing, starts it and
# `vigie run` on loopback, sends REQUESTS (default 200) sequential
# GET /metrics to each (interleaved, one keep-alive connection each, after 10
# warm-up requests), and prints the median and p99 latency, the series count
# of each, the latency ratio vigie/node_exporter, and the series count of the
# node families both report.
#
# VIGIE_BIN=path runs that binary (same `run --listen --data-dir` flags)
# instead of building ./cmd/vigie.
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-200}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

ne=$(command -v prometheus-node-exporter || command -v node_exporter || true)
if [ -z "$ne" ]; then
	echo "installing prometheus-node-exporter" >&2
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-node-exporter >&2
	ne=$(command -v prometheus-node-exporter)
fi

vigie=${VIGIE_BIN:-}
if [ -z "$vigie" ]; then
	go build -o "$work/vigie" ./cmd/vigie
	vigie="$work/vigie"
fi

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ne_port=$(freeport)
vg_port=$(freeport)

"$ne" --web.listen-address="127.0.0.1:$ne_port" >"$work/ne.log" 2>&1 &
pids+=($!)
# vigie does node_exporter's job here: the node collector on, the Docker and
# PostgreSQL collectors off (they have no counterpart in node_exporter). Its
# own internals (TSDB, rules, Go runtime) are still served on /metrics.
printf 'collect:\n  docker: {enabled: false}\n' >"$work/vigie.yml"
(cd "$work" && exec "$vigie" run --config "$work/vigie.yml" --listen "127.0.0.1:$vg_port" --data-dir "$work/data") >"$work/vigie.log" 2>&1 &
pids+=($!)
for port in "$ne_port" "$vg_port"; do
	for i in $(seq 200); do
		curl -sf "http://127.0.0.1:$port/metrics" >/dev/null && break
		[ "$i" = 200 ] && { echo "no answer on port $port" >&2; cat "$work"/*.log >&2; exit 1; }
		sleep 0.1
	done
done

python3 - "$requests" "$ne_port" "$vg_port" "$("$ne" --version 2>&1 | head -1)" <<'PY'
import http.client, re, statistics, sys, time

n, ne_port, vg_port, ne_version = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
conns = {"node_exporter": http.client.HTTPConnection("127.0.0.1", int(ne_port)),
         "vigie": http.client.HTTPConnection("127.0.0.1", int(vg_port))}

def get(name):
    c = conns[name]
    t = time.perf_counter()
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read()
    dt = time.perf_counter() - t
    if r.status != 200:
        sys.exit(f"{name}: HTTP {r.status}")
    return dt, body.decode()

for _ in range(10):
    for name in conns:
        get(name)
lat = {name: [] for name in conns}
last = {}
for _ in range(n):  # interleaved, so both see the same background load
    for name in conns:
        dt, last[name] = get(name)
        lat[name].append(dt * 1000)

def series(text):
    return [l for l in text.splitlines() if l and not l.startswith("#")]

def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]

print(f"{n} sequential GET /metrics each; node_exporter: {ne_version}")
print(f"{'':15} {'median ms':>10} {'p99 ms':>8} {'series':>7} {'node_* series':>14}")
for name in conns:
    s = series(last[name])
    nodes = [l for l in s if l.startswith("node_")]
    print(f"{name:15} {statistics.median(lat[name]):10.2f} {p99(lat[name]):8.2f} {len(s):7d} {len(nodes):14d}")
ratio = statistics.median(lat["vigie"]) / statistics.median(lat["node_exporter"])
print(f"latency ratio vigie/node_exporter (medians): {ratio:.2f}  (target <= 0.5)")

# The families of the issue: vigie must report no fewer series of each.
groups = [
    ("cpu", r"node_cpu_(seconds|guest_seconds)_total"),
    ("memory/swap", r"node_memory_"),
    ("load", r"node_load(1|5|15)\b"),
    ("filesystem", r"node_filesystem_(size|free|avail)_bytes|node_filesystem_files(_free)?\b|node_filesystem_(readonly|device_error)\b"),
    ("disk I/O", r"node_disk_"),
    ("network I/O", r"node_network_(receive|transmit)_\w+_total"),
    ("pressure", r"node_pressure_"),
    ("boot/stat", r"node_(boot_time_seconds|context_switches_total|intr_total|forks_total|procs_running|procs_blocked)\b"),
    ("filefd", r"node_filefd_"),
    ("uname", r"node_uname_info"),
]
print(f"\n{'family':14} {'node_exporter':>13} {'vigie':>6}")
short = False
for label, rx in groups:
    c = {name: sum(1 for l in series(last[name]) if re.match(rx, l)) for name in conns}
    mark = "" if c["vigie"] >= c["node_exporter"] else "   <- fewer"
    short |= bool(mark)
    print(f"{label:14} {c['node_exporter']:13d} {c['vigie']:6d}{mark}")
def fams(text):
    return {l.split()[2] for l in text.splitlines() if l.startswith("# TYPE node_")}
only_ne, only_vg = fams(last["node_exporter"]) - fams(last["vigie"]), fams(last["vigie"]) - fams(last["node_exporter"])
print(f"\nnode families only node_exporter reports ({len(only_ne)}): {' '.join(sorted(only_ne))}")
print(f"node families only vigie reports ({len(only_vg)}): {' '.join(sorted(only_vg))}")
PY
