#!/usr/bin/env bash
# The Compose lab's life cycle, called by the Makefile's Stack group:
#   lab-stack.sh up       Docker engine and Compose v2 (installed and started when missing, as
#                         root), the image set (registry images when a registry answers, else
#                         the offline set), build what is missing, start everything, wait until
#                         healthy, print URLs. The choices (image set, scale, ports) go to .env.
#   lab-stack.sh down     stop and remove the containers; volumes (data) are kept
#   lab-stack.sh clean    down, then remove the volumes (asks first unless FORCE=1)
#   lab-stack.sh ps       service states
#   lab-stack.sh logs [SERVICE...]   recent logs (FOLLOW=1 follows)
#   lab-stack.sh compose ARGS...     any docker compose command with the lab's files
#   lab-stack.sh build    build the images of the selected set (LAB_IMAGES)
# Knobs (environment): LAB_IMAGES=default|offline and LAB_SCALE (given = recorded in .env),
# LAB_PROFILES="grafana", LAB_UP_TIMEOUT (s), LAB_PROBE_TIMEOUT (s, registry probe),
# COMPOSE_PROJECT_NAME, LAB_ENV_FILE (instead of .env), LAB_SYSTEM_CA_BUNDLE (set by the
# Makefile), FORCE=1, FOLLOW=1.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

ENV_FILE="${LAB_ENV_FILE:-.env}"
# Given for this command (environment, or the Makefile's SCALE=): recorded in $ENV_FILE by `up`.
LAB_IMAGES_GIVEN="${LAB_IMAGES:-}"
LAB_SCALE_GIVEN="${LAB_SCALE:-}"
UP_TIMEOUT="${LAB_UP_TIMEOUT:-300}"
PROBE_TIMEOUT="${LAB_PROBE_TIMEOUT:-20}"

log() { printf '[lab] %s\n' "$*" >&2; }
die() {
  printf '[lab] error: %s\n' "$*" >&2
  exit 1
}

# --- prerequisites ----------------------------------------------------------------------------

require_docker() {
  command -v docker >/dev/null ||
    die "no docker CLI: \`make lab-up\` installs and starts Docker (as root)"
  docker compose version 2>/dev/null | grep -q 'v2\.' ||
    die "Docker Compose v2 is missing: \`make lab-up\` installs it"
  docker info >/dev/null 2>&1 ||
    die "the Docker engine is not running or not reachable: \`make lab-up\` starts it (as root)"
}

# What `make e2e` does too: install and start what is missing (root), else one line to run.
ensure_docker() {
  LAB_SKIP_DEBOOTSTRAP=1 LAB_ENSURE_AS="make lab-up" scripts/docker-ensure.sh
}

# Value of KEY in the settings files only (the last of $ENV_FILE / .env.override).
file_setting() {
  local key="$1" value="" file
  for file in "$ENV_FILE" .env.override; do
    [[ -f "$file" ]] || continue
    if grep -q "^$key=" "$file"; then
      value="$(grep "^$key=" "$file" | tail -n1 | cut -d= -f2-)"
    fi
  done
  printf '%s' "$value"
}

# Value of KEY as Compose will see it: a non-empty environment variable, else the files.
setting() {
  local key="$1"
  if [[ -n "${!key:-}" ]]; then
    printf '%s' "${!key}"
    return
  fi
  file_setting "$key"
}

# Record KEY=VALUE in $ENV_FILE (replacing its line), so later commands make the same choice.
record() {
  local key="$1" value="$2"
  if grep -q "^$key=" "$ENV_FILE"; then
    local tmp="$ENV_FILE.tmp.$$"
    awk -v key="$key" -v value="$value" 'index($0, key "=") == 1 { print key "=" value; next } { print }' \
      "$ENV_FILE" >"$tmp" && cat "$tmp" >"$ENV_FILE" && rm -f "$tmp"
  else
    printf '%s=%s\n' "$key" "$value" >>"$ENV_FILE"
  fi
}

# A value set by the user for this command or in .env.override: never replaced behind them.
user_set() { [[ -n "${!1:-}" ]] || { [[ -f .env.override ]] && grep -q "^$1=" .env.override; }; }

prepare_env() {
  scripts/lab-env.sh "$ENV_FILE"
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
# LAB_IMAGES is the set of this command: given, else recorded, else `default` until `up` chooses.
LAB_IMAGES="$(setting LAB_IMAGES)"
LAB_IMAGES="${LAB_IMAGES:-default}"
COMPOSE_FILES=()
select_files() {
  mapfile -t COMPOSE_FILES < <(PYTHONPATH="$REPO_ROOT" python3 -m lab.compose_files "$LAB_IMAGES" 2>/dev/null)
  [[ ${#COMPOSE_FILES[@]} -gt 0 ]] || die "LAB_IMAGES=$LAB_IMAGES: use LAB_IMAGES=default (registry images) or LAB_IMAGES=offline"
}
select_files

compose() {
  local env_files=() profiles=() profile
  [[ -f "$ENV_FILE" ]] && env_files+=(--env-file "$ENV_FILE")
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

# The first free port above $2 on $1 that is none of the ports already chosen ($3...).
free_port_above() {
  local bind="$1" port="$2" candidate
  shift 2
  for candidate in $(seq $((port + 1)) $((port + 200))); do
    [[ " $* " == *" $candidate "* ]] && continue
    port_in_use "$bind" "$candidate" || { echo "$candidate"; return; }
  done
  return 1
}

# A published port taken by something else: replaced by a free one (recorded in .env, said in
# one line) unless the user set it; then lab-up stops with the name of the setting to change.
check_ports() {
  local entry service cport key port bind chosen=() replacement
  bind="$(setting LAB_BIND_ADDRESS)"
  bind="${bind:-127.0.0.1}"
  for entry in "${PUBLISHED[@]}"; do
    read -r service cport key <<<"$entry"
    port="$(setting "$key")"
    chosen+=("$port")
  done
  for entry in "${PUBLISHED[@]}"; do
    read -r service cport key <<<"$entry"
    service_enabled "$service" || continue
    port="$(setting "$key")"
    [[ -z "$port" || "$port" == 0 ]] && continue
    # Our own running container holding the port is fine (lab-up twice).
    if compose port "$service" "$cport" 2>/dev/null | grep -q ":$port\$"; then
      continue
    fi
    port_in_use "$bind" "$port" || continue
    if user_set "$key"; then
      die "port $port ($key, for $service) is already in use on $bind: set another $key (you set this one)"
    fi
    replacement="$(free_port_above "$bind" "$port" "${chosen[@]}")" ||
      die "port $port ($key, for $service) is in use on $bind and so are the 200 above it: set $key in .env.override"
    record "$key" "$replacement"
    chosen+=("$replacement")
    log "port $port ($key, for $service) is taken on $bind (another lab?): using $replacement, recorded in $ENV_FILE"
  done
}

# --- choices recorded in .env -------------------------------------------------------------------

# Does a container registry answer? The daemon pulls the pinned PostgreSQL image (what Compose
# would do first): any layer or digest line is an answer; an error or silence until the
# timeout is none. Bounded: the pull is stopped at the timeout whatever happens. Prints the
# reason when there is no answer.
registry_answers() {
  local image="$1" line fd reason="no answer within ${PROBE_TIMEOUT} s"
  exec {fd}< <(timeout "$PROBE_TIMEOUT" docker pull "$image" 2>&1; echo "exit=$?")
  while IFS= read -r -u "$fd" line; do
    case "$line" in
      exit=0 | Digest:* | Status:* | *": Pulling fs layer" | *": Already exists" | *": Waiting")
        exec {fd}<&-
        return 0
        ;;
      exit=124) ;;
      exit=*) ;;
      *) [[ -n "$line" ]] && reason="${line#Error response from daemon: }" ;;
    esac
  done
  exec {fd}<&-
  printf '%s' "$reason"
  return 1
}

choose_images() {
  local recorded reason image
  recorded="$(file_setting LAB_IMAGES)"
  if [[ -n "${LAB_IMAGES_GIVEN:-}" ]]; then
    LAB_IMAGES="$LAB_IMAGES_GIVEN"
    select_files
    [[ "$(file_setting LAB_IMAGES)" == "$LAB_IMAGES" ]] || {
      record LAB_IMAGES "$LAB_IMAGES"
      log "image set: $LAB_IMAGES (LAB_IMAGES given; recorded in $ENV_FILE for later commands)"
    }
  elif [[ -n "$recorded" ]]; then
    LAB_IMAGES="$recorded"
  else
    image="$(setting POSTGRES_IMAGE)"
    log "image set: asking the container registry for $image (at most $PROBE_TIMEOUT s) ..."
    if reason="$(registry_answers "$image")"; then
      LAB_IMAGES=default
      log "image set: default, the registry images pinned in $ENV_FILE (a registry answers); recorded in $ENV_FILE"
    else
      LAB_IMAGES=offline
      log "image set: offline (no container registry answers: $reason): images built here from Debian packages on first use (about 2 min), reused after; recorded in $ENV_FILE (LAB_IMAGES=default make lab-up to change)"
    fi
    record LAB_IMAGES "$LAB_IMAGES"
  fi
  select_files
  export LAB_IMAGES
}

# A scale given on the command line is recorded and may swap the data (said before it
# happens); a plain lab-up seeds the recorded scale into an empty database, never replaces.
choose_scale() {
  local recorded volume
  recorded="$(file_setting LAB_SCALE)"
  export LAB_SEED_REPLACE=""
  if [[ -z "${LAB_SCALE_GIVEN:-}" ]]; then
    export LAB_SCALE="${recorded:-small}"
    return
  fi
  volume="$(setting COMPOSE_PROJECT_NAME)_postgres-data"
  if [[ "$LAB_SCALE_GIVEN" != "$recorded" ]] && docker volume inspect "$volume" >/dev/null 2>&1; then
    log "SCALE=$LAB_SCALE_GIVEN replaces the lab data of scale ${recorded:-?} in volume $volume: the seed deletes every tenant it generated with all their rows (items, customers, sales, the sales of earlier runs too), then seeds $LAB_SCALE_GIVEN; tenants it did not generate are kept"
  fi
  [[ "$recorded" == "$LAB_SCALE_GIVEN" ]] || record LAB_SCALE "$LAB_SCALE_GIVEN"
  export LAB_SCALE="$LAB_SCALE_GIVEN" LAB_SEED_REPLACE=1
}

# --- up ---------------------------------------------------------------------------------------

ensure_offline_images() {
  local base
  base="$(setting LAB_BASE_IMAGE)"
  base="${base:-jewelry-lab/debian:bookworm}"
  # debootstrap (for the base image) only when the base is missing: installed as root.
  if ! docker image inspect "$base" >/dev/null 2>&1 && ! command -v debootstrap >/dev/null; then
    LAB_ENSURE_AS="make lab-up" scripts/docker-ensure.sh
  fi
  scripts/lab-base-image.sh "$base"
}

build_images() {
  local started=$SECONDS
  if [[ "$LAB_IMAGES" == offline ]]; then
    ensure_offline_images
  fi
  log "building images ($LAB_IMAGES set; cached layers are reused) ..."
  # Every Python service shares one image: building it once is enough; the Locust worker's
  # adds Chromium on top of it (docker/python/Dockerfile, stage locust-browser).
  local services
  if [[ "$LAB_IMAGES" == offline ]]; then
    services=(seed locust-worker postgres pgbouncer redis prometheus postgres-exporter pgbouncer-exporter redis-exporter)
  else
    services=(seed locust-worker)
  fi
  # `if !`: under errexit + pipefail a failing pipeline would end the script before the message.
  if ! compose build --progress "${LAB_BUILD_PROGRESS:-plain}" "${services[@]}" 2>&1 |
    { grep -E --line-buffered '^#[0-9]+ \[|ERROR|error|WARNING|Successfully installed|DONE [0-9.]+s$|naming to' || true; } |
    { grep -vE --line-buffered '^#[0-9]+ DONE 0\.[0-9]s$' || true; } >&2; then
    die "image build failed (output above); behind a TLS-inspecting proxy, set LAB_EXTRA_CA_CERT=<CA bundle file> in .env.override"
  fi
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
      explain_failure
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
  log "next: make smoke   (a one-minute load run, then its report in runs/<run id>/)"
  if [[ "$LAB_IMAGES" == offline ]]; then
    log "offline images: Jaeger and Grafana are absent (no registry); spans go straight to the trace archive (runs/<run_id>/spans/)"
  elif [[ " ${LAB_PROFILES:-} " != *" grafana "* ]]; then
    log "Grafana is off: LAB_PROFILES=grafana make lab-up starts it"
  fi
}

# Known causes of a failed start, each told in one line with what to do.
explain_failure() {
  local logs volume project
  logs="$(compose logs --no-color seed postgres 2>/dev/null || true)"
  project="$(setting COMPOSE_PROJECT_NAME)"
  volume="${project}_postgres-data"
  if grep -q 'password authentication failed for user' <<<"$logs"; then
    die "the database volume $volume was created with another password than POSTGRES_PASSWORD in $ENV_FILE (a regenerated $ENV_FILE, or another checkout using project $project): put the old password back in $ENV_FILE, or delete that volume and its data with \`make lab-clean\` and run \`make lab-up\` again"
  fi
  if grep -q 'already holds different lab data' <<<"$logs"; then
    local found named
    found="$(grep -o 'different lab data (.*):' <<<"$logs" | tail -n1 | sed 's/^different lab data (//; s/):$//')"
    named="$(grep -o "that is scale '[a-z]*'" <<<"$found" | tail -n1 | cut -d"'" -f2 || true)"
    die "the database holds other lab data than LAB_SCALE=$(setting LAB_SCALE) ($found); a plain lab-up never replaces data: \`make lab-up SCALE=$(setting LAB_SCALE)\` replaces it, or set LAB_SCALE=${named:-<scale of the data>} in $ENV_FILE to keep it"
  fi
}

# The .venv `make smoke` and `make report` run in, prepared while the images build (they
# share nothing), so the first run does not wait for pip. Not fatal: `make smoke` retries.
VENV_PID=""
prepare_venv_in_background() {
  (LAB_BOOTSTRAP_SERVICES=0 VENV="$REPO_ROOT/.venv" bash scripts/bootstrap.sh >build/venv.log 2>&1) &
  VENV_PID=$!
}

wait_venv() {
  [[ -n "$VENV_PID" ]] || return 0
  if wait "$VENV_PID"; then
    grep -q 'installing' build/venv.log && log ".venv ready for make smoke (prepared while the images built; log: build/venv.log)"
  else
    log "the .venv for make smoke could not be prepared (build/venv.log); make smoke tries again"
  fi
  return 0
}

cmd_up() {
  ensure_docker
  prepare_env
  prepare_venv_in_background
  choose_images
  choose_scale
  check_ports
  build_images
  local started
  started="$(now)"
  log "starting the lab (project $(setting COMPOSE_PROJECT_NAME), images: $LAB_IMAGES, scale: $LAB_SCALE, workers: $(setting LAB_WORKERS)) ..."
  if ! compose up -d --no-build --remove-orphans --quiet-pull 2>&1 | { grep -vE '^\s*$' || true; } >&2; then
    explain_failure
    compose ps --all >&2 || true
    die "docker compose up failed (above); \`make lab-logs\` shows the logs"
  fi
  wait_healthy
  log "lab up in $(elapsed "$started") s (start to all healthy)"
  wait_venv
  print_urls
}

cmd_down() {
  require_docker
  [[ -f "$ENV_FILE" ]] || { log "no $ENV_FILE: nothing was started here"; return 0; }
  LAB_PROFILES="grafana ${LAB_PROFILES:-}" compose down --remove-orphans
  log "lab down; data volumes kept (make lab-clean removes them)"
}

cmd_clean() {
  require_docker
  [[ -f "$ENV_FILE" ]] || { log "no $ENV_FILE: nothing was started here"; return 0; }
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
