#!/usr/bin/env bash
# A/A noise floor and A/B detection of `lab ab --local` on this machine, inside the test
# harness (its own PostgreSQL, PgBouncer, Redis): seed SCALE, run A/A (HEAD against HEAD,
# AA_REPEATS runs per side), calibrate the noise floor from those runs, then A/B with the
# n_plus_one fault on the candidate side. Every run is bounded by RUN_ARGS' duration.
#   python -m tests.harness -- bash bench/bench_ab.sh
# Knobs: LAB_RUNS_DIR (default: a new temporary folder), SCALE (small), AA_REPEATS (5),
# AB_REPEATS (3), RUN_ARGS (lab ab's default: --profile load --users 20 --duration 1m).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/app:$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PY:-.venv/bin/python}
export LAB_RUNS_DIR=${LAB_RUNS_DIR:-$(mktemp -d)/runs}
mkdir -p "$LAB_RUNS_DIR"
SCALE=${SCALE:-small}
AA_REPEATS=${AA_REPEATS:-5}
AB_REPEATS=${AB_REPEATS:-3}
read -r -a RUN_ARGS <<< "${RUN_ARGS:---profile load --users 20 --duration 1m}"
export DJANGO_SETTINGS_MODULE=config.settings.perf
DJANGO_SECRET_KEY=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')
export DJANGO_SECRET_KEY
echo "runs in $LAB_RUNS_DIR"
(cd app && "../$PY" manage.py migrate -v0)
"$PY" -m seed --scale "$SCALE" > "$LAB_RUNS_DIR/seed.log"
echo "=== A/A: HEAD against HEAD, $AA_REPEATS runs per side"
"$PY" -m lab ab HEAD HEAD --repeats "$AA_REPEATS" --no-noise-floor -- "${RUN_ARGS[@]}" --scale "$SCALE" \
  | tee "$LAB_RUNS_DIR/aa.txt" || true
echo "=== noise floor from the A/A runs (not the warm-up)"
AA_RUNS=$(sed -n 's/^compare again: lab compare \(.*\) \(.*\)$/\1,\2/p' "$LAB_RUNS_DIR/aa.txt")
"$PY" -m lab calibrate "$AA_RUNS" | tee "$LAB_RUNS_DIR/calibrate.txt"
echo "=== A/A false alarms, resampled from those runs"
"$PY" bench/aa_false_alarms.py "$LAB_RUNS_DIR" "$AA_RUNS" | tee "$LAB_RUNS_DIR/false-alarms.txt"
echo "=== A/B: HEAD against HEAD with LAB_FAULTS=n_plus_one, $AB_REPEATS runs per side"
"$PY" -m lab ab HEAD HEAD --candidate-env LAB_FAULTS=n_plus_one --repeats "$AB_REPEATS" \
  --fail-on-regression 10% -- "${RUN_ARGS[@]}" --scale "$SCALE" | tee "$LAB_RUNS_DIR/ab.txt" || true
echo "results: $LAB_RUNS_DIR"
