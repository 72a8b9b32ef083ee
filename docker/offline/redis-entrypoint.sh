#!/usr/bin/env bash
# Redis entrypoint with the official redis image's interface, for Debian's redis-server:
# bare flags or a .conf path as the command run redis-server, and protected mode is off
# when no config file is given (the container network is the boundary).
set -euo pipefail

if [[ "${1:-}" == -* || "${1:-}" == *.conf ]]; then
  set -- redis-server "$@"
fi
if [[ "${1:-}" == redis-server && "${2:-}" != *.conf ]]; then
  shift
  set -- redis-server --protected-mode no "$@"
fi
exec "$@"
