#!/usr/bin/env bash
# The app by hand, without Docker: the test harness starts PostgreSQL, PgBouncer and Redis on
# free loopback ports, then the app is migrated, seeded at $SCALE (default small) and served by
# gunicorn on 127.0.0.1:$PORT (default 8000) until Ctrl-C, which stops everything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export SCALE="${SCALE:-small}" PORT="${PORT:-8000}"
# The install's run-token key (.env), so `lab run --local` requests are filed under their run.
if [[ -z "${LAB_RUN_TOKEN_KEY:-}" && -f .env ]]; then
  LAB_RUN_TOKEN_KEY="$(sed -n 's/^LAB_RUN_TOKEN_KEY=//p' .env | tail -1)"
  export LAB_RUN_TOKEN_KEY
fi
if (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null; then
  echo "dev-app: 127.0.0.1:${PORT} is already taken; choose another with PORT=8001" >&2
  exit 2
fi

# The harness exports DATABASE_*, REDIS_URL and PYTHONPATH; the plain base settings serve the
# real `jewelry` database (the test settings are for pytest's test database).
exec .venv/bin/python -m tests.harness -- bash -c '
  set -euo pipefail
  export DJANGO_SETTINGS_MODULE=config.settings.base LAB_RUNS_DIR="${LAB_RUNS_DIR:-$PWD/runs}"
  .venv/bin/python app/manage.py migrate --noinput
  .venv/bin/python -m seed --scale "$SCALE" --end-date "$(date -u +%F)"
  echo "dev-app: http://127.0.0.1:${PORT}/ (accounts in $LAB_RUNS_DIR/credentials.json); Ctrl-C stops it"
  cd app
  GUNICORN_BIND="127.0.0.1:${PORT}" exec ../.venv/bin/gunicorn -c config/gunicorn.conf.py
'
