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

TEST_NAME=faults
export COMPOSE_PROJECT_NAME="${FAULTS_PROJECT:-jewelry-lab-faults}" LAB_IMAGES=offline
export LAB_SCALE=small LAB_WORKERS=2
unset LAB_RUNS_DIR # `lab run --compose` writes to ./runs, mounted into the containers
# shellcheck source=../../scripts/compose-test-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/compose-test-env.sh"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  teardown "${FAULTS_KEEP:-0}" "$rc"
  finish "$rc"
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
