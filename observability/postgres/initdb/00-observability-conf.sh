#!/usr/bin/env bash
# First start of an empty data directory (docker-entrypoint-initdb.d): include the lab's
# observability settings. Compose mounts observability/postgres/postgresql.conf at the path
# below; include_if_exists keeps the server starting if it is not mounted.
set -euo pipefail

conf_path="${LAB_POSTGRES_OBSERVABILITY_CONF:-/etc/postgresql/observability.conf}"
main_conf="${PGDATA:?PGDATA is not set: run this from the postgres image entrypoint}/postgresql.conf"

if ! grep -qF "include_if_exists '${conf_path}'" "$main_conf"; then
  printf "\n# Lab observability settings (observability/postgres/postgresql.conf)\ninclude_if_exists '%s'\n" \
    "$conf_path" >>"$main_conf"
fi
if [[ ! -r "$conf_path" ]]; then
  echo "00-observability-conf.sh: ${conf_path} is not mounted; pg_stat_statements will not be preloaded" >&2
fi
