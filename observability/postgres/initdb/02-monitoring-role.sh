#!/usr/bin/env bash
# First start of an empty data directory (docker-entrypoint-initdb.d): the role the exporters
# log in as. pg_monitor lets it read pg_stat_* and pg_stat_statements of every database, and
# nothing else. The password is read from the environment by psql itself (\getenv), so it is on
# no command line.
# Safe to run again: it creates the role once and resets its password.
set -euo pipefail

monitor_user="${POSTGRES_MONITOR_USER:-lab_monitor}"
if [[ -z "${POSTGRES_MONITOR_PASSWORD:-}" ]]; then
  echo "02-monitoring-role.sh: POSTGRES_MONITOR_PASSWORD is empty; set it in .env (make lab-up generates one)" >&2
  exit 1
fi

psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
  --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" \
  -v monitor_user="$monitor_user" <<'SQL'
\getenv monitor_password POSTGRES_MONITOR_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', :'monitor_user')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'monitor_user') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE CONNECTION LIMIT 5 PASSWORD %L',
              :'monitor_user', :'monitor_password') \gexec
SELECT format('GRANT pg_monitor TO %I', :'monitor_user') \gexec
SQL
echo "02-monitoring-role.sh: role ${monitor_user} has pg_monitor"
