#!/usr/bin/env bash
# Installs what the PostgreSQL tests and benchmarks need from Debian's
# packages, when missing: the server binaries (initdb, postgres; the tests
# start throwaway clusters of their own, nothing is started here), the
# pg_stat_statements extension (in postgresql-NN on Debian 12), and with
# --with-exporter prometheus-postgres-exporter (for
# bench/postgres-vs-exporter.sh only; the tests don't need it).
#
# Prints one line: the binaries directory the tests will use, which is what
# VIGIE_TEST_PG_BIN should be set to.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql postgresql-contrib)
if [ "${1:-}" = --with-exporter ]; then
  command -v prometheus-postgres-exporter >/dev/null 2>&1 || need+=(prometheus-postgres-exporter)
fi
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian's packages start a cluster and an exporter as services; the tests use neither.
  for svc in postgresql prometheus-postgres-exporter; do
    (systemctl stop "$svc" || service "$svc" stop) >/dev/null 2>&1 || true
  done
fi

bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
id postgres >/dev/null 2>&1 || { echo "postgres.sh: the postgres system user is missing" >&2; exit 1; }
[ -e "$(dirname "$bin")/lib/pg_stat_statements.so" ] || { echo "postgres.sh: pg_stat_statements is missing in $bin/../lib" >&2; exit 1; }
echo "postgres: $bin ($("$bin/postgres" --version))"
