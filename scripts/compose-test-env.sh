# Sourced (never run) by the scripts that test the Compose lab in a project of their own:
# tests/e2e/run.sh (`make e2e`) and tests/faults/run.sh (`make faults`). What both need:
# the repository as working folder, the venv's Python, free loopback ports for everything
# published (other labs may run on this machine), a log line format, and a teardown that
# removes the project's containers and volumes and the dockerd this script started.
# Set TEST_NAME (the log prefix) and COMPOSE_PROJECT_NAME before sourcing.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
PY="${VENV_PY:-$REPO_ROOT/.venv/bin/python}"
export PYTHONPATH="$REPO_ROOT/app:$REPO_ROOT"
export LAB_SYSTEM_CA_BUNDLE="${LAB_SYSTEM_CA_BUNDLE:-}"
STACK=(bash scripts/lab-stack.sh)
DOCKERD_PIDFILE="${LAB_DOCKERD_PIDFILE:-/run/jewelry-lab-dockerd.pid}"
mkdir -p build

log() { printf '[%s %s +%4ds] %s\n' "$TEST_NAME" "$(date +%H:%M:%S)" "$SECONDS" "$*" >&2; }

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export LAB_APP_PORT LAB_LOCUST_PORT LAB_PROMETHEUS_PORT
LAB_APP_PORT="$(free_port)" LAB_LOCUST_PORT="$(free_port)" LAB_PROMETHEUS_PORT="$(free_port)"

engine_was_up=0
docker info >/dev/null 2>&1 && engine_was_up=1

# teardown KEEP RC: unless KEEP is 1, remove the project's containers and volumes and stop
# the dockerd this script started; RC (the exit code so far) is only reported.
teardown() {
  local keep="$1" rc="$2"
  if [[ "$keep" == 1 ]]; then
    log "kept: the lab stays up (COMPOSE_PROJECT_NAME=$COMPOSE_PROJECT_NAME LAB_IMAGES=offline make lab-clean FORCE=1 removes it)"
    return
  fi
  log "cleaning up: containers and volumes of project $COMPOSE_PROJECT_NAME (exit code so far: $rc) ..."
  FORCE=1 "${STACK[@]}" clean >/dev/null 2>&1 || log "cleanup: lab-clean failed (docker compose -p $COMPOSE_PROJECT_NAME down -v by hand)"
  if [[ $engine_was_up == 0 && -s "$DOCKERD_PIDFILE" ]]; then
    local pid
    pid="$(cat "$DOCKERD_PIDFILE")"
    log "stopping the dockerd this run started (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    rm -f "$DOCKERD_PIDFILE"
  fi
}

# finish RC: the verdict line, then exit with RC.
finish() {
  if [[ $1 == 0 ]]; then log "PASSED in $SECONDS s"; else log "FAILED (exit $1) after $SECONDS s"; fi
  exit "$1"
}
