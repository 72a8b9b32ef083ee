#!/usr/bin/env bash
# `make faults`: the fault battery (tests/faults/battery.py) in its own Compose lab.
#   1. Docker engine + Compose v2 (installed and started when missing), offline images
#   2. lab-up at SCALE=small in project jewelry-lab-faults, on free loopback ports
#   3. the battery: a load run with PostgreSQL, PgBouncer, Redis, trace archive and Locust
#      worker faults, then a run interrupted as Ctrl-C would; one table; exit 1 on a miss
# Cleans up its containers and volumes (dockerd too, if this script started it) even when a
# step fails. Knobs: FAULTS_USERS (default 10), FAULTS_DURATION (s, default 360),
# FAULTS_KEEP=1 (leave the lab up for a look).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO_ROOT"
PY="${VENV_PY:-$REPO_ROOT/.venv/bin/python}"
export PYTHONPATH="$REPO_ROOT/app:$REPO_ROOT"
export COMPOSE_PROJECT_NAME="${FAULTS_PROJECT:-jewelry-lab-faults}" LAB_IMAGES=offline
export LAB_SCALE=small LAB_WORKERS=2
export LAB_SYSTEM_CA_BUNDLE="${LAB_SYSTEM_CA_BUNDLE:-}"
unset LAB_RUNS_DIR # `lab run --compose` writes to ./runs, mounted into the containers
STACK=(bash scripts/lab-stack.sh)
DOCKERD_PIDFILE="${LAB_DOCKERD_PIDFILE:-/run/jewelry-lab-dockerd.pid}"
mkdir -p build

log() { printf '[faults %s +%4ds] %s\n' "$(date +%H:%M:%S)" "$SECONDS" "$*" >&2; }

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export LAB_APP_PORT LAB_LOCUST_PORT LAB_PROMETHEUS_PORT
LAB_APP_PORT="$(free_port)" LAB_LOCUST_PORT="$(free_port)" LAB_PROMETHEUS_PORT="$(free_port)"

engine_was_up=0
docker info >/dev/null 2>&1 && engine_was_up=1

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ "${FAULTS_KEEP:-0}" == 1 ]]; then
    log "FAULTS_KEEP=1: the lab stays up (COMPOSE_PROJECT_NAME=$COMPOSE_PROJECT_NAME LAB_IMAGES=offline make lab-clean FORCE=1 removes it)"
  else
    log "cleaning up: containers and volumes of project $COMPOSE_PROJECT_NAME ..."
    FORCE=1 "${STACK[@]}" clean >/dev/null 2>&1 || log "cleanup: lab-clean failed (docker compose -p $COMPOSE_PROJECT_NAME down -v by hand)"
    if [[ $engine_was_up == 0 && -s "$DOCKERD_PIDFILE" ]]; then
      local pid
      pid="$(cat "$DOCKERD_PIDFILE")"
      log "stopping the dockerd this run started (pid $pid)"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      rm -f "$DOCKERD_PIDFILE"
    fi
  fi
  if [[ $rc == 0 ]]; then log "PASSED in $SECONDS s"; else log "FAILED (exit $rc) after $SECONDS s"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "1/3 Docker engine and Compose v2"
scripts/docker-ensure.sh

log "2/3 lab-up: offline images (reused when present), project $COMPOSE_PROJECT_NAME, SCALE=small, 2 workers"
started=$SECONDS
"${STACK[@]}" up
log "lab up in $((SECONDS - started)) s"

log "3/3 the fault battery (about 8 minutes; progress below, the table at the end)"
"$PY" -m tests.faults.battery --prometheus "http://127.0.0.1:$LAB_PROMETHEUS_PORT" \
  --users "${FAULTS_USERS:-10}" --duration "${FAULTS_DURATION:-360}" | tee build/faults-table.md
