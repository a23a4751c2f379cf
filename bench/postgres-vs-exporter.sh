#!/usr/bin/env bash
# One gather of vigie's PostgreSQL collector against Debian's
# prometheus-postgres-exporter (GET /metrics), on the same throwaway server:
# 20 databases, 200 tables, pg_stat_statements, both as pg_monitor roles.
# Prints wall time, client CPU, the CPU of the PostgreSQL backend serving
# each, the queries each sends (counted by pg_stat_statements) and the ratios.
#
#   bench/postgres-vs-exporter.sh [benchtime]     (default 3s per side)
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/postgres.sh --with-exporter
VIGIE_TEST_PG_BIN=${VIGIE_TEST_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
export VIGIE_TEST_PG_BIN
echo "exporter: $(prometheus-postgres-exporter --version 2>&1 | head -1)"
go test -count=1 -run '^$' -bench 'BenchmarkGatherVsExporter' -benchtime "${1:-3s}" ./collector/postgres
