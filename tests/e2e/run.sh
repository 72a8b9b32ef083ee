#!/usr/bin/env bash
# `make e2e`: the whole lab for real, in its own Compose project, from its own fresh settings
# file (build/e2e.env, as a new clone's .env), so it never changes the checkout's own lab.
#   1. plain `make lab-up`, as a newcomer runs it: Docker engine + Compose v2 (installed and
#      started when missing), the image set chosen and recorded (offline where no registry
#      answers: built, or reused when present), the recorded scale (small) seeded
#   2. a >= 60 s smoke run with 2 workers through `lab run --compose` (which writes the report)
#   3. checks: zero failures, Prometheus series (Locust run id, app, exporters), a trace where
#      a Locust span is an ancestor of a psycopg2 span, per-request record, report
#   4. lab-down, plain lab-up again: no reseed, the same tenants and sales (the run's
#      included), and the run's Prometheus series are still there
#   5. what a plain lab-up says instead of a traceback: a recorded scale that is not the
#      data's (the data is kept), a database volume made with another password
# Cleans up (containers and the e2e project's volumes; dockerd if this script started it)
# even when a step fails. Figures (build and start times, memory) are printed at the end.
# Knobs: E2E_DURATION (default 60s), E2E_KEEP=1 (leave the lab up for a look; no cleanup).
set -euo pipefail

TEST_NAME=e2e
export COMPOSE_PROJECT_NAME=jewelry-lab-e2e LAB_WORKERS=2 LAB_ENV_FILE=build/e2e.env
# Plain lab-up: the image set and the scale are lab-up's own choices, recorded in build/e2e.env.
# MAKEFLAGS: `make e2e SCALE=...` must not reach the nested `make lab-up`.
unset LAB_RUNS_DIR LAB_IMAGES LAB_SCALE SCALE MAKEFLAGS # `lab run --compose` writes to ./runs
# shellcheck source=../../scripts/compose-test-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/compose-test-env.sh"
DURATION="${E2E_DURATION:-60s}"
LAB_UP=(make --no-print-directory lab-up)
FIGURES=()
rm -f "$LAB_ENV_FILE" # a fresh settings file, as in a new clone

fail() {
  log "FAIL: $*"
  exit 1
}
figure() {
  FIGURES+=("$*")
  log "$*"
}

# Run a command and record how long it took as a figure.
measure() {
  local title="$1" started=$SECONDS
  shift
  "$@"
  figure "$title: $((SECONDS - started)) s"
}

prom="http://127.0.0.1:$LAB_PROMETHEUS_PORT"
sampler=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$sampler" ]] && kill "$sampler" 2>/dev/null
  teardown "${E2E_KEEP:-0}" "$rc"
  if [[ ${#FIGURES[@]} -gt 0 ]]; then
    printf '\n[e2e] figures:\n' >&2
    printf '  %s\n' "${FIGURES[@]}" >&2
  fi
  finish "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

memory_snapshot() {
  # name  memory  CPU, one line per running container of the e2e project.
  docker stats --no-stream --format '{{.Name}}\t{{.MemUsage}}\t{{.CPUPerc}}' |
    { grep "^$COMPOSE_PROJECT_NAME-" || true; } | sed "s/^$COMPOSE_PROJECT_NAME-//" | sort
}

psql_value() {
  "${STACK[@]}" compose exec -T postgres sh -c 'psql -At -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$0"' "$1"
}

# Tenants, sales, newest sale: what a second lab-up must find unchanged.
data_snapshot() {
  psql_value "SELECT (SELECT count(*) FROM tenants_tenant) || ' tenants, ' || count(*) || ' sales, newest sale ' || coalesce(max(id), 0) FROM sales_sale"
}

seed_seconds() {
  local id
  id="$("${STACK[@]}" compose ps --all -q seed)"
  [[ -n "$id" ]] || { echo "?"; return; }
  docker inspect -f '{{.State.StartedAt}} {{.State.FinishedAt}}' "$id" |
    "$PY" -c 'import sys, datetime as d; a, b = (d.datetime.fromisoformat(t[:26].rstrip("Z")) for t in sys.stdin.read().split()); print(f"{(b - a).total_seconds():.1f}")'
}

# The figures lab-up printed: image set, image build, start to all healthy.
lab_up_figures() {
  local what="$1" log_file="$2"
  figure "$what: $(grep -oE 'image set: (default|offline)' "$log_file" | head -n1 || echo 'image set: recorded')"
  figure "$what, images: $(grep -oE 'images ready in [0-9]+ s' "$log_file" | tail -n1)"
  figure "$what, start: $(grep -oE 'lab up in [0-9.]+ s' "$log_file" | tail -n1) (start to all healthy)"
}

log "1/5 plain make lab-up (Docker, image set, images, seeds the empty database)"
measure "make lab-up, first start (Docker ensured, images built or reused, seed included)" \
  bash -c '"$@" 2>&1 | tee build/e2e-lab-up.log >&2; exit "${PIPESTATUS[0]}"' _ "${LAB_UP[@]}"
lab_up_figures "first lab-up" build/e2e-lab-up.log
images="$(sed -n 's/^LAB_IMAGES=//p' "$LAB_ENV_FILE")"
[[ "$images" == default || "$images" == offline ]] || fail "lab-up recorded no image set in $LAB_ENV_FILE (LAB_IMAGES='$images')"
log "PASS lab-up chose the image set and recorded it: LAB_IMAGES=$images"
figure "seed job, first start: $(seed_seconds) s"
sleep 5
figure "memory idle:"$'\n'"$(memory_snapshot)"
sales_before="$(psql_value 'SELECT count(*) FROM sales_sale')"

log "2/5 smoke run ($DURATION, 2 workers) via lab run --compose"
rm -f build/e2e-stats-during-smoke.txt # never report an earlier run's sample
(sleep 40 && memory_snapshot >build/e2e-stats-during-smoke.txt) &
sampler=$!
rc=0
# 8 users: at least one of every user class (weights 3+1+1+1+1+1), so the POS checkout runs.
"$PY" -m lab run --compose --profile smoke --duration "$DURATION" --workers 2 --users 8 \
  --scale small --trace-sample-ratio 1 --prometheus "$prom" 2>&1 | tee build/e2e-run.log >&2 ||
  rc=${PIPESTATUS[0]}
wait "$sampler" 2>/dev/null || true
sampler=""
run_id="$(sed -n 's/^run \([0-9]\{8\}-[0-9]\{6\}-smoke-[0-9a-f]\{4\}\): .*/\1/p' build/e2e-run.log | head -n1)"
[[ -n "$run_id" ]] || fail "lab run printed no run id (exit $rc); its output is in build/e2e-run.log"
case "$rc" in
  0) log "lab run $run_id: exit 0" ;;
  # A breached latency target is a verdict on the app's speed on this machine, not a broken
  # lab: shown, not fatal. Anything else (bad input, untrustworthy run, Locust error) is.
  1) log "lab run $run_id: exit 1 (a target was breached; see runs/$run_id/summary.md)" ;;
  *) fail "lab run $run_id exited $rc; Locust's log: runs/$run_id/locust/locust.log" ;;
esac
[[ -s build/e2e-stats-during-smoke.txt ]] &&
  figure "memory during the smoke run:"$'\n'"$(cat build/e2e-stats-during-smoke.txt)"

log "3/5 checks on run $run_id"
"$PY" tests/e2e/checks.py "$run_id" --prometheus "$prom" || fail "$? check(s) failed (above)"

log "4/5 data survives lab-down / plain lab-up, without a reseed"
before="$(data_snapshot)"
sales_after_run="$(psql_value 'SELECT count(*) FROM sales_sale')"
log "after the run: $before ($((sales_after_run - sales_before)) sales made by the run)"
((sales_after_run > sales_before)) || fail "the smoke run made no sale (POS checkout): nothing of the run to find after lab-up"
"${STACK[@]}" down
measure "make lab-up, warm (images and data present)" \
  bash -c '"$@" 2>&1 | tee build/e2e-lab-up.log >&2; exit "${PIPESTATUS[0]}"' _ "${LAB_UP[@]}"
lab_up_figures "warm lab-up" build/e2e-lab-up.log
figure "seed job, warm start (data present, no reseed): $(seed_seconds) s"
after="$(data_snapshot)"
[[ "$after" == "$before" ]] || fail "data changed across lab-down/lab-up: before '$before', after '$after'"
log "PASS PostgreSQL data kept across lab-down/lab-up, the run's sales included: $after"
# Captured first: `compose logs | grep -q` under pipefail fails when grep stops reading early
# (SIGPIPE to compose). The message is seed/load.py's `_already_seeded`.
seed_log="$("${STACK[@]}" compose logs --no-color seed 2>&1 || true)"
grep -qiE 'is already there' <<<"$seed_log" ||
  fail "the second lab-up reseeded (the seed job's log does not say it found the data)"
log "PASS the second lab-up did not reseed"
series="$("$PY" -c 'import sys; from tests.e2e.checks import prometheus_count as c; print(c(sys.argv[1], sys.argv[2]))' \
  "$prom" "last_over_time(locust_requests_total{run_id=\"$run_id\"}[1h])")"
[[ "$series" -gt 0 ]] || fail "Prometheus lost the run's series across lab-down/lab-up"
log "PASS Prometheus TSDB kept across lab-down/lab-up ($series series of the run)"

log "5/5 what a plain lab-up says instead of a traceback"
# Expect lab-up to fail (make's exit 2) with one `[lab] error:` line containing $1.
expect_refusal() {
  local wanted="$1" rc=0 out
  out="$("${LAB_UP[@]}" 2>&1)" || rc=$?
  printf '%s\n' "$out" >build/e2e-refusal.log
  ((rc == 2)) || fail "make lab-up exited $rc, expected 2 (a failed recipe; build/e2e-refusal.log)"
  grep -F '[lab] error:' build/e2e-refusal.log | grep -qF "$wanted" ||
    fail "lab-up did not say '$wanted' in its error line (build/e2e-refusal.log)"
  ! grep -q 'Traceback' build/e2e-refusal.log || fail "lab-up printed a traceback (build/e2e-refusal.log)"
  log "PASS lab-up refused in one line: $(grep -F '[lab] error:' build/e2e-refusal.log | head -n1 | cut -c1-160)..."
}
# A recorded scale that is not the data's (an edited .env): the data is kept, lab-up says how.
sed -i 's/^LAB_SCALE=.*/LAB_SCALE=doc/' "$LAB_ENV_FILE"
expect_refusal "make lab-up SCALE=doc"
grep -qF "that is scale 'small'" build/e2e-refusal.log || fail "lab-up did not name the data's scale"
[[ "$(data_snapshot)" == "$before" ]] || fail "a plain lab-up changed the data"
log "PASS a plain lab-up kept the data: $before"
sed -i 's/^LAB_SCALE=.*/LAB_SCALE=small/' "$LAB_ENV_FILE"
# Another password than the database volume's (a regenerated .env, another checkout).
cp "$LAB_ENV_FILE" build/e2e.env.kept
sed -i 's/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=not-the-volumes-password/' "$LAB_ENV_FILE"
expect_refusal "was created with another password"
cp build/e2e.env.kept "$LAB_ENV_FILE"
