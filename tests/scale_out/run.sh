#!/usr/bin/env bash
# `make scale-out-proof`: Locust workers on "another host" join the lab's master, for real.
#   1. the lab, in its own Compose project, with LAB_PUBLISH_MASTER=1: the master's worker
#      port and the trace archive's OTLP port published on an address of this host that is
#      not loopback (the gateway of Docker's default bridge), as a private network would be;
#      its app published there too and used as the target, so the workers reach it as well
#   2. a SECOND Compose project, docker-compose.workers.yml: SCALE_OUT_REMOTE_WORKERS workers,
#      no runs bind mount (checked), joining through the published port (LAB_MASTER_ADDR)
#   3. a test started from the master's HTTP API (a web UI run), with every worker connected
#   4. checks (tests/scale_out/check.py): the run folder holds every worker's record parts,
#      the lab's own worker's (shared folder) and the remote ones' (sent to the master), rows
#      equal to Locust's total, spans of every worker's traced requests; no untrustworthy event
# Not in CI: a whole lab and a second project take minutes. Cleans up both projects.
# Knobs: SCALE_OUT_REMOTE_WORKERS (2), SCALE_OUT_USERS (6), SCALE_OUT_SECONDS (30),
# SCALE_OUT_KEEP=1 (leave both up), LAB_OFFLINE_TAG (the image tag, `offline`).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO_ROOT"
PY="${VENV_PY:-$REPO_ROOT/.venv/bin/python}"
export PYTHONPATH="$REPO_ROOT/app:$REPO_ROOT"
export COMPOSE_PROJECT_NAME="${SCALE_OUT_PROJECT:-jewelry-lab-scale-out}"
WORKERS_PROJECT="$COMPOSE_PROJECT_NAME-workers"
export LAB_ENV_FILE=build/scale-out.env LAB_WORKERS=1 LAB_IMAGES="${LAB_IMAGES:-offline}"
unset LAB_RUNS_DIR MAKEFLAGS SCALE
REMOTE="${SCALE_OUT_REMOTE_WORKERS:-2}"
USERS="${SCALE_OUT_USERS:-6}"
SECONDS_OF_LOAD="${SCALE_OUT_SECONDS:-30}"
STACK=(bash scripts/lab-stack.sh)
mkdir -p build
rm -f "$LAB_ENV_FILE" # fresh settings, as in a new clone

log() { printf '[scale-out %s +%4ds] %s\n' "$(date +%H:%M:%S)" "$SECONDS" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

command -v docker >/dev/null || fail "docker is needed (make lab-up installs it)"
# The "private network" between the hosts: the gateway address of Docker's default bridge,
# which containers of any Compose project reach and which is not loopback.
GW="$(docker network inspect bridge -f '{{(index .IPAM.Config 0).Gateway}}')"
[[ -n "$GW" ]] || fail "no gateway address on Docker's default bridge"
free_port() { "$PY" -c 'import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$GW"; }

export LAB_BIND_ADDRESS="$GW" LAB_MASTER_BIND_ADDRESS="$GW" LAB_PUBLISH_MASTER=1
export LAB_APP_PORT LAB_LOCUST_PORT LAB_PROMETHEUS_PORT LAB_MASTER_PORT LAB_ARCHIVE_OTLP_PORT
LAB_APP_PORT="$(free_port)" LAB_LOCUST_PORT="$(free_port)" LAB_PROMETHEUS_PORT="$(free_port)"
LAB_MASTER_PORT="$(free_port)" LAB_ARCHIVE_OTLP_PORT="$(free_port)"
# One target URL for the master and every worker, allowed by the lab and by Django.
export LAB_TARGET_HOST="http://$GW:$LAB_APP_PORT" LAB_ALLOW_TARGETS="$GW"
export DJANGO_ALLOWED_HOSTS="localhost,127.0.0.1,[::1],app,$GW"
export LAB_TRACE_SAMPLE_RATIO=1 # every task traced: each worker's spans can be found

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ "${SCALE_OUT_KEEP:-0}" == 1 ]]; then
    log "SCALE_OUT_KEEP=1: both projects stay up ($COMPOSE_PROJECT_NAME, $WORKERS_PROJECT)"
  else
    log "cleaning up $WORKERS_PROJECT and $COMPOSE_PROJECT_NAME ..."
    workers_compose down -t 5 >/dev/null 2>&1 || true
    FORCE=1 "${STACK[@]}" clean >/dev/null 2>&1 || log "cleanup failed: docker compose -p $COMPOSE_PROJECT_NAME down -v"
  fi
  if [[ $rc == 0 ]]; then log "PASSED in $SECONDS s"; else log "FAILED (exit $rc) after $SECONDS s"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setting() { grep -E "^$1=" "$LAB_ENV_FILE" | tail -n1 | cut -d= -f2-; }
workers_compose() {
  LAB_MASTER_ADDR="$GW" LAB_REMOTE_WORKERS="$REMOTE" \
    LAB_RUN_TOKEN_KEY="$(setting LAB_RUN_TOKEN_KEY)" \
    LAB_PYTHON_IMAGE="jewelry-lab/python:${LAB_OFFLINE_TAG:-offline}" \
    docker compose -p "$WORKERS_PROJECT" -f docker-compose.workers.yml "$@"
}

log "1/4 the lab ($COMPOSE_PROJECT_NAME), master port published on $GW:$LAB_MASTER_PORT ..."
started=$SECONDS
make --no-print-directory lab-up SCALE=doc
log "lab up in $((SECONDS - started)) s"

log "2/4 $REMOTE workers in project $WORKERS_PROJECT, no runs mount ..."
workers_compose up -d --quiet-pull
mapfile -t remote_containers < <(workers_compose ps -q locust-worker)
[[ ${#remote_containers[@]} == "$REMOTE" ]] || fail "${#remote_containers[@]} remote workers started, not $REMOTE"
remote_ids=()
for id in "${remote_containers[@]}"; do
  mounts="$(docker inspect -f '{{range .Mounts}}{{.Destination}} {{end}}' "$id")"
  [[ "$mounts" != *"/srv/lab/runs"* ]] || fail "remote worker $id has the runs folder mounted"
  remote_ids+=("$(docker inspect -f '{{.Config.Hostname}}' "$id")")
done
log "remote workers (hostnames): ${remote_ids[*]}; mounts: none of the runs folder"

LAB_LOCUST_WEB_PASSWORD="$(setting LAB_LOCUST_WEB_PASSWORD)"
export LAB_LOCUST_WEB_PASSWORD
url="http://$GW:$LAB_LOCUST_PORT"
"$PY" -m tests.scale_out.check wait-workers "$url" $((REMOTE + 1))

log "3/4 a $SECONDS_OF_LOAD s test of $USERS users from the master's HTTP API ..."
run_id="$("$PY" -m tests.scale_out.check run "$url" runs "$USERS" "$SECONDS_OF_LOAD")"
log "run $run_id finished"

log "4/4 checks of runs/$run_id ..."
"$PY" -m tests.scale_out.check verify "runs/$run_id" "$(IFS=,; echo "${remote_ids[*]}")"
