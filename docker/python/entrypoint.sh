#!/usr/bin/env bash
# Entrypoint of the lab's Python image. The first argument names the role:
#   app             gunicorn serving config.wsgi:application on :8000
#   seed            migrations, the app's PostgreSQL role, then `python -m seed --scale $LAB_SCALE`
#   locust-master   Locust master: web UI on :8089, or a headless run when LAB_RUN_ID is set
#   locust-worker   Locust worker connecting to $LAB_LOCUST_MASTER_HOST (locust-master)
#   trace-archive   OTLP/HTTP receiver on :4318 writing runs/<run_id>/spans/
# Anything else is executed as given (e.g. `bash`, `python -m lab runs`).
set -euo pipefail

# Compose passes every knob, empty when unset; typed flags (Locust's --lab-users) reject ''.
while IFS= read -r name; do
  [[ -z "${!name}" ]] && unset "$name"
done < <(compgen -e | grep '^LAB_' || true)

role="${1:-app}"
[[ $# -gt 0 ]] && shift

case "$role" in
  app)
    # prometheus_client multiprocess mode, for the app only (Locust and the seed keep the
    # ordinary registry). Stale files of a previous start would be summed in: start empty.
    export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/prometheus-multiproc}"
    rm -rf "${PROMETHEUS_MULTIPROC_DIR:?}" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    exec gunicorn -c app/config/gunicorn.conf.py --bind 0.0.0.0:8000 config.wsgi:application "$@"
    ;;
  seed)
    echo "[seed] migrating ..." >&2
    python app/manage.py migrate --noinput
    # The app logs in as a least-privilege role: (re)grant it the data of every table.
    python -m seed.app_role
    echo "[seed] seeding at scale ${LAB_SCALE:-small} ..." >&2
    # Same parameters: nothing to do. Other lab data is swapped in one transaction (--replace)
    # only when the scale was given to this lab-up (LAB_SEED_REPLACE=1); otherwise the seed
    # refuses it in one line and lab-up says what to do. Foreign data is always refused.
    exec python -m seed --scale "${LAB_SCALE:-small}" ${LAB_SEED_REPLACE:+--replace} \
      ${LAB_SEED_END_DATE:+--end-date "$LAB_SEED_END_DATE"} "$@"
    ;;
  locust-master)
    args=(-f locustfiles/ --master --host "${LAB_TARGET_HOST:-http://app:8000}")
    if [[ -n "${LAB_RUN_ID:-}" ]]; then
      out="$LAB_RUNS_DIR/$LAB_RUN_ID/locust"
      mkdir -p "$out"
      args+=(--headless --expect-workers "${LAB_WORKERS:-1}"
        --csv "$out/stats" --html "$out/report.html")
    fi
    exec locust "${args[@]}" "$@"
    ;;
  locust-worker)
    exec locust -f locustfiles/ --worker --master-host "${LAB_LOCUST_MASTER_HOST:-locust-master}" "$@"
    ;;
  trace-archive)
    exec python -m observability.trace_archive "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
