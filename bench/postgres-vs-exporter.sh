#!/usr/bin/env bash
# One gather of vigie's PostgreSQL collector against Debian's
# prometheus-postgres-exporter (GET /metrics), on the same throwaway servers,
# both as pg_monitor roles, in one run:
#  1. 20 databases, 200 tables, pg_stat_statements, default settings;
#  2. one database of 5,000 tables with the per-table families on both sides
#     (the exporter 0.11 gets its current collectors' per-table queries from
#     bench/testdata/postgres-exporter-tables.yaml).
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
go test -count=1 -run '^$' -bench 'BenchmarkGatherVsExporter|BenchmarkTablesVsExporter' -benchtime "${1:-3s}" -timeout 30m ./collector/postgres
