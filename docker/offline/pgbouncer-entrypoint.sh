#!/usr/bin/env bash
# PgBouncer entrypoint with the edoburu/pgbouncer image's environment interface, for
# Debian's pgbouncer: writes /etc/pgbouncer/pgbouncer.ini and userlist.txt from DB_HOST,
# DB_PORT, DB_USER, DB_PASSWORD, DB_NAME, POOL_MODE, AUTH_TYPE, LISTEN_ADDR, LISTEN_PORT,
# MAX_CLIENT_CONN, DEFAULT_POOL_SIZE, MIN_POOL_SIZE, RESERVE_POOL_SIZE, MAX_DB_CONNECTIONS,
# SERVER_RESET_QUERY, ADMIN_USERS, STATS_USERS, IGNORE_STARTUP_PARAMETERS, SERVER_LOGIN_RETRY
# (written only when set, as upstream's entrypoint.sh does), unless those
# files were mounted; then execs the command.
set -euo pipefail

ini=/etc/pgbouncer/pgbouncer.ini
userlist=/etc/pgbouncer/userlist.txt
auth_type="${AUTH_TYPE:-md5}"

if [[ ! -e "$userlist" && -n "${DB_USER:-}" ]]; then
  if [[ "$auth_type" == md5 ]]; then
    pass="md5$(printf '%s%s' "${DB_PASSWORD:-}" "$DB_USER" | md5sum | cut -d' ' -f1)"
  else
    # plain and scram-sha-256 need the clear password to authenticate to the server.
    pass="${DB_PASSWORD:-}"
  fi
  printf '"%s" "%s"\n' "$DB_USER" "$pass" >"$userlist"
  chmod 600 "$userlist"
fi

if [[ ! -e "$ini" ]]; then
  : "${DB_HOST:?DB_HOST is required: the PostgreSQL host PgBouncer pools}"
  {
    echo "[databases]"
    echo "${DB_NAME:-*} = host=$DB_HOST port=${DB_PORT:-5432}${DB_USER:+ user=$DB_USER}"
    echo
    echo "[pgbouncer]"
    echo "listen_addr = ${LISTEN_ADDR:-0.0.0.0}"
    echo "listen_port = ${LISTEN_PORT:-5432}"
    echo "unix_socket_dir ="
    echo "auth_type = $auth_type"
    echo "auth_file = $userlist"
    echo "pool_mode = ${POOL_MODE:-session}"
    echo "max_client_conn = ${MAX_CLIENT_CONN:-100}"
    echo "default_pool_size = ${DEFAULT_POOL_SIZE:-20}"
    echo "min_pool_size = ${MIN_POOL_SIZE:-0}"
    echo "reserve_pool_size = ${RESERVE_POOL_SIZE:-0}"
    echo "max_db_connections = ${MAX_DB_CONNECTIONS:-0}"
    echo "server_reset_query = ${SERVER_RESET_QUERY:-DISCARD ALL}"
    echo "admin_users = ${ADMIN_USERS:-postgres}"
    echo "stats_users = ${STATS_USERS:-}"
    echo "ignore_startup_parameters = ${IGNORE_STARTUP_PARAMETERS:-extra_float_digits}"
    if [[ -n "${SERVER_LOGIN_RETRY:-}" ]]; then echo "server_login_retry = $SERVER_LOGIN_RETRY"; fi
    echo "logfile ="
    echo "pidfile ="
  } >"$ini"
fi
exec "$@"
