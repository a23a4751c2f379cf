#!/usr/bin/env bash
# One gather of the docker collector over 50 running containers (created by
# the benchmark from the scratch test image, removed afterwards), against
# `docker stats --no-stream` over the same containers, in one run.
#
#   bench/container-vs-docker-stats.sh [GATHERS]
#
# Prints wall and CPU time per gather (vigie's process and dockerd's) for
# both, and the ratio. Needs a running Docker engine and the docker CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
gathers=${1:-20}
go test -count=1 -run '^$' -bench 'BenchmarkGather50$' -benchtime "${gathers}x" ./collector/container/ 2>&1 |
	grep -v '^time='
