#!/usr/bin/env bash
# Create .env from .env.example on first use, replacing every `generate` value with a fresh
# random secret (hex, so it is safe inside URLs), LAB_UID/LAB_GID=auto with this user's ids (root
# becomes 10001: no container runs as root because the user is), LAB_SEED_END_DATE=today with
# today's date and COMPOSE_PROJECT_NAME=auto with a name derived from this checkout's path (two
# checkouts, two labs: their own containers and volumes).
# An existing .env is left alone, and keys that .env.example gained since are appended.
# Usage: scripts/lab-env.sh [ENV_FILE]      (default $LAB_ENV_FILE, else .env next to .env.example)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
template="$REPO_ROOT/.env.example"
target="${1:-$REPO_ROOT/${LAB_ENV_FILE:-.env}}"

[[ -f "$template" ]] || { echo "lab-env: $template is missing: restore it from git" >&2; exit 1; }

random_secret() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
# The unprivileged id containers use when this user is root.
UNPRIVILEGED_ID=10001
container_id() { local id="$1"; [[ "$id" == 0 ]] && id=$UNPRIVILEGED_ID; printf '%s' "$id"; }

# jewelry-lab-<folder>-<6 hex of the full path>: readable in `docker ps`, unique per checkout,
# and a valid Compose project name (lower case letters, digits, dashes).
project_name() {
  local folder hash
  folder="$(basename "$REPO_ROOT" | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9\n' '-' | cut -c1-24)"
  hash="$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-6)"
  printf 'jewelry-lab-%s-%s' "${folder:-lab}" "$hash" | tr -s '-'
}

render_line() {
  local line="$1"
  if [[ "$line" =~ ^([A-Z0-9_]+)=generate$ ]]; then
    printf '%s=%s\n' "${BASH_REMATCH[1]}" "$(random_secret)"
  elif [[ "$line" == LAB_UID=auto ]]; then
    printf 'LAB_UID=%s\n' "$(container_id "$(id -u)")"
  elif [[ "$line" == LAB_GID=auto ]]; then
    printf 'LAB_GID=%s\n' "$(container_id "$(id -g)")"
  elif [[ "$line" == COMPOSE_PROJECT_NAME=auto ]]; then
    printf 'COMPOSE_PROJECT_NAME=%s\n' "$(project_name)"
  elif [[ "$line" == LAB_SEED_END_DATE=today ]]; then
    printf 'LAB_SEED_END_DATE=%s\n' "$(date -u +%F)"
  else
    printf '%s\n' "$line"
  fi
}

if [[ ! -f "$target" ]]; then
  umask 077
  tmp="$target.tmp.$$"
  while IFS= read -r line || [[ -n "$line" ]]; do render_line "$line"; done <"$template" >"$tmp"
  mv "$tmp" "$target"
  echo "lab-env: created $target with generated passwords (git-ignored; local changes go in .env.override)" >&2
  exit 0
fi

added=()
while IFS= read -r line || [[ -n "$line" ]]; do
  [[ "$line" =~ ^([A-Z0-9_]+)= ]] || continue
  key="${BASH_REMATCH[1]}"
  if ! grep -q "^$key=" "$target"; then
    render_line "$line" >>"$target"
    added+=("$key")
  fi
done <"$template"
if [[ ${#added[@]} -gt 0 ]]; then
  echo "lab-env: added new settings to $target: ${added[*]}" >&2
fi
