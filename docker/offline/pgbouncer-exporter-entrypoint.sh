#!/usr/bin/env bash
# prometheuscommunity/pgbouncer-exporter's command-line interface over Debian's
# prometheus-pgbouncer-exporter: --pgBouncer.connectionString=postgres://USER:PASS@HOST:PORT/pgbouncer
# and --web.listen-address=[HOST]:PORT become that exporter's PGBOUNCER_* / PGPASSWORD / PORT.
set -euo pipefail

connection="${PGBOUNCER_EXPORTER_CONNECTION_STRING:-postgres://postgres:@localhost:6543/pgbouncer?sslmode=disable}"
listen=":9127"
for arg in "$@"; do
  case "$arg" in
    --pgBouncer.connectionString=*) connection="${arg#*=}" ;;
    --web.listen-address=*) listen="${arg#*=}" ;;
    --log.level=* | --log.format=* | --web.telemetry-path=*) ;; # not configurable here
    *) printf '[pgbouncer-exporter] unsupported flag %s (offline image)\n' "$arg" >&2; exit 2 ;;
  esac
done

# postgres://user:password@host:port/db?params
rest="${connection#*://}"
rest="${rest%%\?*}"
credentials="${rest%@*}"
location="${rest##*@}"
export PGBOUNCER_USER="${credentials%%:*}"
if [[ "$credentials" == *:* ]]; then
  export PGPASSWORD="${credentials#*:}"
fi
hostport="${location%%/*}"
export PGBOUNCER_HOST="${hostport%%:*}"
export PGBOUNCER_PORT="${hostport##*:}"
export PGSSLMODE=disable
export PORT="${listen##*:}"
host="${listen%:*}"
export HOST="${host:-0.0.0.0}"
exec /usr/bin/prometheus-pgbouncer-exporter
