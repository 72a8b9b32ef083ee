#!/usr/bin/env bash
# `make e2e`: the whole lab for real, on offline images, in its own Compose project.
#   1. Docker engine + Compose v2 (installed and started when missing)
#   2. offline images (reused when present)
#   3. lab-up at SCALE=small, a >= 60 s smoke run with 2 workers, its report
#   4. checks: zero failures, Prometheus series (Locust run id, app, exporters), a trace where
#      a Locust span is an ancestor of a psycopg2 span, per-request record, report
#   5. lab-down, lab-up again: the PostgreSQL data and Prometheus series are still there
# Cleans up (containers and the e2e project's volumes; dockerd if this script started it)
# even when a step fails. Figures (build and start times, memory) are printed at the end.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO_ROOT"
PY="${VENV_PY:-$REPO_ROOT/.venv/bin/python}"
export PYTHONPATH="$REPO_ROOT/app:$REPO_ROOT"
export COMPOSE_PROJECT_NAME=jewelry-lab-e2e LAB_IMAGES=offline LAB_SCALE=small LAB_WORKERS=2
export LAB_SYSTEM_CA_BUNDLE="${LAB_SYSTEM_CA_BUNDLE:-}"
DURATION="${E2E_DURATION:-60s}"
STACK=(bash scripts/lab-stack.sh)
FIGURES=()

log() { printf '\n[e2e] %s\n' "$*" >&2; }
figure() { FIGURES+=("$*"); log "$*"; }

# Free loopback ports for everything published: other labs may run on this machine.
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export LAB_APP_PORT LAB_LOCUST_PORT LAB_PROMETHEUS_PORT
LAB_APP_PORT="$(free_port)" LAB_LOCUST_PORT="$(free_port)" LAB_PROMETHEUS_PORT="$(free_port)"

engine_was_up=0
docker info >/dev/null 2>&1 && engine_was_up=1

cleanup() {
  local rc=$?
  log "cleaning up (exit code so far: $rc) ..."
  FORCE=1 "${STACK[@]}" clean >/dev/null 2>&1 || true
  if [[ $engine_was_up == 0 && -s "${LAB_DOCKERD_PIDFILE:-/run/jewelry-lab-dockerd.pid}" ]]; then
    local pid
    pid="$(cat "${LAB_DOCKERD_PIDFILE:-/run/jewelry-lab-dockerd.pid}")"
    log "stopping the dockerd this run started (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  if [[ ${#FIGURES[@]} -gt 0 ]]; then
    printf '\n[e2e] figures:\n' >&2
    printf '  %s\n' "${FIGURES[@]}" >&2
  fi
  [[ $rc == 0 ]] && log "PASSED" || log "FAILED (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT

timed() {
  local started=$SECONDS
  "$@"
  echo $((SECONDS - started))
}

memory_snapshot() {
  # name  RSS  CPU, one line per container of the e2e project.
  docker stats --no-stream --format '{{.Name}}\t{{.MemUsage}}\t{{.CPUPerc}}' |
    grep "^$COMPOSE_PROJECT_NAME-" | sed "s/^$COMPOSE_PROJECT_NAME-//" | sort
}

log "1/6 Docker engine and Compose v2"
scripts/docker-ensure.sh

log "2/6 offline images"
t=$(timed "${STACK[@]}" build)
figure "images-offline (this run; cached layers reused): ${t} s"

log "3/6 lab-up (SCALE=small, 2 workers)"
t=$(timed "${STACK[@]}" up)
figure "lab-up to all healthy (first start, includes seeding): ${t} s"
sleep 10
figure "memory idle:"$'\n'"$(memory_snapshot)"

log "4/6 smoke run ($DURATION, 2 workers)"
prom="http://127.0.0.1:$LAB_PROMETHEUS_PORT"
( sleep 40; memory_snapshot >"$REPO_ROOT/build/e2e-stats-during-smoke.txt" 2>/dev/null ) &
sampler=$!
run_id="$("$PY" tests/e2e/compose_smoke.py --duration "$DURATION" --workers 2 | tail -n1)"
wait "$sampler" || true
figure "memory during the smoke run:"$'\n'"$(cat build/e2e-stats-during-smoke.txt)"
"$PY" -m lab report "$run_id" --prometheus "$prom"
sleep 6 # one more scrape of the final Locust counters

log "5/6 checks on run $run_id"
"$PY" tests/e2e/checks.py "$run_id" --prometheus "$prom"

log "6/6 data survives lab-down / lab-up"
"${STACK[@]}" compose exec -T postgres sh -c \
  'psql -v ON_ERROR_STOP=1 -q -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "CREATE TABLE IF NOT EXISTS lab_e2e_marker (run_id text); INSERT INTO lab_e2e_marker VALUES ('"'$run_id'"')"'
"${STACK[@]}" down
t=$(timed "${STACK[@]}" up)
figure "lab-up to all healthy (warm: images and data present): ${t} s"
found="$("${STACK[@]}" compose exec -T postgres sh -c \
  'psql -At -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "SELECT count(*) FROM lab_e2e_marker WHERE run_id = '"'$run_id'"'"')"
[[ "$found" == 1 ]] || { log "FAIL: PostgreSQL lost its data across lab-down/lab-up"; exit 1; }
log "PASS PostgreSQL data kept across lab-down/lab-up"
series="$("$PY" -c 'import sys; from tests.e2e.checks import prometheus_count as c; print(c(sys.argv[1], sys.argv[2]))' \
  "$prom" "last_over_time(locust_requests_total{run_id=\"$run_id\"}[1h])")"
[[ "$series" -gt 0 ]] || { log "FAIL: Prometheus lost the run's series across lab-down/lab-up"; exit 1; }
log "PASS Prometheus TSDB kept across lab-down/lab-up ($series series of the run)"
