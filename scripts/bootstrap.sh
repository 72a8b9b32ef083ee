#!/usr/bin/env bash
# Install what `make test` needs on a Debian 12 machine, idempotently:
#   1. Debian packages for the native test services (PostgreSQL, PgBouncer,
#      Redis, Prometheus and its exporters), without letting apt start them:
#      the test harness starts its own copies on free ports.
#   2. A virtualenv (.venv) with the pinned requirements/dev.txt, reinstalled
#      only when the requirements files change.
# Usage: scripts/bootstrap.sh        (as root for step 1; re-running is cheap)
# LAB_BOOTSTRAP_SERVICES=0: only the virtualenv (and python3.11-venv), for the lab's commands
# (`make smoke`, `make report`) that need no native test services; quiet when nothing is missing.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$REPO_ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"

DEBIAN_PACKAGES=(
  postgresql
  postgresql-contrib
  pgbouncer
  redis-server
  prometheus
  prometheus-postgres-exporter
  prometheus-pgbouncer-exporter
  prometheus-redis-exporter
  python3.11-venv
  # Headless browser for the report tests (tests/lab/test_traces_real_run.py).
  chromium
  # The Node.js inside the playwright wheel (browser users, tests/locust/test_browser_users.py).
  libatomic1
  # Independent HTTP load generator: the lab's latency checked against it (make stall-proof).
  wrk
)
[[ "${LAB_BOOTSTRAP_SERVICES:-1}" == 0 ]] && DEBIAN_PACKAGES=(python3.11-venv)

log() { printf '[bootstrap] %s\n' "$*" >&2; }
# Progress lines; the venv-only mode shows only the work it does.
note() { [[ "${LAB_BOOTSTRAP_SERVICES:-1}" == 0 ]] || log "$@"; }

# Run a named step and report how long it took.
step() {
  local name="$1"
  shift
  local started
  started=$(date +%s.%N)
  note "$name ..."
  "$@"
  note "$name done in $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1fs", e - s }')"
}

missing_packages() {
  local pkg
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
      printf '%s\n' "$pkg"
    fi
  done
}

POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_OURS=0

# policy-rc.d exiting 101 tells invoke-rc.d not to start services at install
# time, so the Debian-packaged daemons never grab their well-known ports.
deny_service_starts() {
  if [[ ! -e "$POLICY_RC" ]]; then
    printf '#!/bin/sh\n# Temporary, from scripts/bootstrap.sh: no service starts during apt-get.\nexit 101\n' \
      >"$POLICY_RC"
    chmod 755 "$POLICY_RC"
    POLICY_RC_OURS=1
  fi
}

restore_service_starts() {
  if [[ "$POLICY_RC_OURS" == 1 ]]; then
    rm -f "$POLICY_RC"
    POLICY_RC_OURS=0
  fi
}

install_debian_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  if [[ ${#missing[@]} -eq 0 ]]; then
    note "Debian packages: all present"
    return
  fi
  if [[ $(id -u) -ne 0 ]]; then
    log "missing Debian packages: ${missing[*]}; run this script as root (or install them with apt-get)"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  trap restore_service_starts EXIT
  deny_service_starts
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
  restore_service_starts
  trap - EXIT
}

requirements_hash() {
  cat "$REPO_ROOT"/requirements/*.txt | sha256sum | cut -d' ' -f1
}

create_venv() {
  if [[ -x "$VENV/bin/python" ]]; then
    note "virtualenv $VENV: present"
    return
  fi
  command -v "$PYTHON" >/dev/null || {
    log "$PYTHON not found; install python3.11 (Debian 12's python3) and retry"
    exit 1
  }
  log "creating the virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
}

install_requirements() {
  local stamp="$VENV/.requirements.sha256" wanted
  wanted=$(requirements_hash)
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    note "Python requirements: unchanged since last install"
    return
  fi
  log "installing the pinned Python requirements into $VENV (once, and when requirements/ changes) ..."
  "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -r "$REPO_ROOT/requirements/dev.txt"
  printf '%s\n' "$wanted" >"$stamp"
}

step "Debian packages" install_debian_packages
step "virtualenv" create_venv
step "Python requirements" install_requirements
note "ready"
