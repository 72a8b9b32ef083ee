#!/usr/bin/env bash
# prometheuscommunity/postgres-exporter's command-line interface over Debian's
# prometheus-postgres-exporter 0.11, which predates the stat_statements collector:
# --collector.stat_statements becomes an extended query file yielding the same series
# (pg_stat_statements_calls_total, _seconds_total, _rows_total, _block_*_seconds_total, by
# user, datname and queryid); --no-collector.stat_statements drops it. Other flags pass through.
set -euo pipefail

args=()
for arg in "$@"; do
  case "$arg" in
    --collector.stat_statements) args+=(--extend.query-path=/etc/postgres-exporter/stat-statements.yaml) ;;
    --no-collector.stat_statements) ;;
    *) args+=("$arg") ;;
  esac
done
exec /bin/postgres_exporter "${args[@]}"
