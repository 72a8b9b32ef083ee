#!/usr/bin/env bash
# PostgreSQL entrypoint with the official postgres image's interface, for Debian's
# postgresql-15: on an empty $PGDATA it runs initdb with POSTGRES_USER/POSTGRES_PASSWORD,
# creates POSTGRES_DB, runs /docker-entrypoint-initdb.d/*.sql, *.sql.gz and *.sh once in
# name order (an executable *.sh is run, any other sourced, as upstream), then execs the
# server. `postgres -c …` or bare `-c …` flags work as the command.
set -euo pipefail

log() { printf '[postgres-entrypoint] %s\n' "$*" >&2; }

if [[ "${1:-}" == -* ]]; then
  set -- postgres "$@"
fi

initialise() {
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required (as with the official image): set it in .env}"
  local user="${POSTGRES_USER:-postgres}"
  local db="${POSTGRES_DB:-$user}"
  # Init scripts read these (as with the official image), defaults included.
  export POSTGRES_USER="$user" POSTGRES_DB="$db" PGDATA
  local pwfile
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  log "initialising $PGDATA (superuser $user, database $db)"
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of flags, as upstream
  initdb --pgdata="$PGDATA" --username="$user" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-} >/dev/null
  rm -f "$pwfile"
  printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
  printf 'host all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >>"$PGDATA/pg_hba.conf"

  # A private server on the Unix socket only, so nothing connects before init is done.
  pg_ctl --pgdata="$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" start >/dev/null
  local psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password -h /var/run/postgresql --username "$user")
  if [[ "$db" != postgres ]]; then
    "${psql[@]}" --dbname postgres -q -c "CREATE DATABASE \"$db\""
  fi
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sql) log "running $f"; "${psql[@]}" --dbname "$db" -q -f "$f" ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$db" -q ;;
      *.sh)
        # As the official image: an executable script is run, any other is sourced.
        if [[ -x "$f" ]]; then
          log "running $f"
          PGHOST=/var/run/postgresql PGUSER="$user" PGDATABASE="$db" "$f"
        else
          log "sourcing $f"
          PGHOST=/var/run/postgresql PGUSER="$user" PGDATABASE="$db" . "$f"
        fi
        ;;
      *) [[ -e "$f" ]] && log "ignoring $f" ;;
    esac
  done
  pg_ctl --pgdata="$PGDATA" -m fast -w stop >/dev/null
  log "initialisation complete"
}

if [[ "${1:-}" == postgres && ! -s "$PGDATA/PG_VERSION" ]]; then
  initialise
fi
exec "$@"
