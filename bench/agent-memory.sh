#!/usr/bin/env bash
# Resident memory of a standalone `vigie agent` with its node and container
# collectors on (issue 16's target: at most 25 MiB), sending to Debian's
# victoria-metrics on 127.0.0.1.
#
#   bench/agent-memory.sh [DURATION]
#
# DURATION seconds (default 600). Prints RSS every minute (total,
# anonymous, file-backed: the executable's pages), the largest RSS seen
# after the first 90 s (start-up and the post-start-up trim are over by
# then), the final figure and the CPU share. Needs the Docker engine
# (containers to collect) and victoria-metrics.
#
# vigie is built as the image ships it (Dockerfile: static, stripped);
# DYNAMIC=1 builds it as `go build` does (dynamically linked to libc, whose
# shared code then counts in the agent's RSS too).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-600}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
if [[ ${DYNAMIC:-} == 1 ]]; then
	go build -o "$work/vigie.built" ./cmd/vigie
else
	CGO_ENABLED=1 go build -trimpath -tags 'osusergo netgo sqlite_omit_load_extension' \
		-ldflags '-s -w -linkmode external -extldflags -static' -o "$work/vigie.built" ./cmd/vigie
fi
# Installed as a package or an image layer would be: written with write(2).
# Run straight from the linker's output (which the linker writes through a
# shared mapping) the same agent kept ~7 MiB more of its executable
# resident (17.2 MiB file-backed instead of ~10; 2026-12-02, Linux 6.18).
install -m 755 "$work/vigie.built" "$work/vigie"
vm=$(free); port=$(free)
victoria-metrics -storageDataPath="$work/vm" -httpListenAddr="127.0.0.1:$vm" >"$work/vm.log" 2>&1 &
pids+=($!)
cat >"$work/agent.yml" <<YAML
mode: agent
remote_write:
  - url: http://127.0.0.1:$vm/api/v1/write
YAML
"$work/vigie" agent --config "$work/agent.yml" --listen "127.0.0.1:$port" --data-dir "$work/agent" >"$work/agent.log" 2>&1 &
pid=$!; pids+=($pid)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.1; done
clk=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$pid/stat"; }
kib() { awk -v k="$1" '$1==k":"{print $2}' "/proc/$pid/status"; }
c0=$(cpu); t0=$(date +%s)
peak=0
echo "second  RSS MiB  anon MiB  file MiB"
for ((s = 15; s <= duration; s += 15)); do
	sleep 15
	rss=$(kib VmRSS)
	if ((s > 90 && rss > peak)); then peak=$rss; fi
	if ((s % 60 == 0)); then
		awk -v s="$s" -v r="$rss" -v a="$(kib RssAnon)" -v f="$(kib RssFile)" 'BEGIN{printf "%6d  %7.1f  %8.1f  %8.1f\n", s, r/1024, a/1024, f/1024}'
	fi
done
c1=$(cpu); t1=$(date +%s); end=$(kib VmRSS)
samples=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^vigie_collection_samples /{print $2}')
awk -v r="$end" -v p="$peak" -v c="$((c1 - c0))" -v clk="$clk" -v w="$((t1 - t0))" -v n="$samples" 'BEGIN{
	printf "agent with node and container collectors, %s samples per collection:\n", n
	printf "  RSS at the end  %.1f MiB   largest after 90 s  %.1f MiB   target <= 25 MiB\n", r/1024, p/1024
	printf "  CPU share       %.2f%% of one core\n", 100*c/clk/w }'
