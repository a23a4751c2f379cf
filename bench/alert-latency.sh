#!/usr/bin/env bash
# Alert latency end to end, vigie against Prometheus + Alertmanager (Debian's
# packages) in the same run: a scrape target stops, `up == 0` with `for: 0s`,
# and the time until an SMTP server and a Slack stand-in both hold the firing
# message is measured. Both stacks: scrape and evaluation every 1s,
# group_wait 0s. vigie is also measured on its own default intervals.
#
#   bench/alert-latency.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
if ! command -v prometheus >/dev/null || ! command -v prometheus-alertmanager >/dev/null; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
fi
pkill -x prometheus 2>/dev/null || true
pkill -x prometheus-alertmanager 2>/dev/null || true
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
go build -o "$work/vigie" ./cmd/vigie
go run ./bench/alertlatency -vigie "$work/vigie" -runs "$runs"
