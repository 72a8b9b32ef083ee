#!/usr/bin/env bash
# Redis entrypoint with the official redis image's interface, for Debian's redis-server:
# bare flags or a .conf path as the command run redis-server. With REDIS_PASSWORD set,
# redis-server gets `requirepass` on its standard input (`redis-server -` reads config there;
# a .conf given as command is read first), so the password is on no command line. Without
# one, protected mode stays on (Redis's default): only loopback clients are served. The lab's
# Compose file passes the password the same way in its own command, for both image sets.
set -euo pipefail

if [[ "${1:-}" == -* || "${1:-}" == *.conf ]]; then
  set -- redis-server "$@"
fi
if [[ "${1:-}" == redis-server && -n "${REDIS_PASSWORD:-}" ]]; then
  shift
  conf=()
  if [[ "${1:-}" == *.conf ]]; then
    conf=("$1")
    shift
  fi
  # Redis reads stdin for a lone `-` only as its first or last argument (server.c, main).
  printf 'requirepass "%s"\n' "$REDIS_PASSWORD" | exec redis-server "${conf[@]}" "$@" -
fi
exec "$@"
