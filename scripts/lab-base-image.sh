#!/usr/bin/env bash
# Build the offline Debian base image (default jewelry-lab/debian:bookworm) without a registry:
# `debootstrap --variant=minbase` into a temporary folder, then `docker import`.
# Reuses the image when it exists (FORCE=1 rebuilds). The Debian mirror is the one this host's
# apt already uses (first bookworm/main source), so nothing here names a mirror.
# Usage: scripts/lab-base-image.sh [IMAGE]
set -euo pipefail

IMAGE="${1:-${LAB_BASE_IMAGE:-jewelry-lab/debian:bookworm}}"
SUITE=bookworm

log() { printf '[base-image] %s\n' "$*" >&2; }
die() {
  printf '[base-image] error: %s\n' "$*" >&2
  exit 1
}

if [[ "${FORCE:-0}" != 1 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE: present, reused"
  exit 0
fi
command -v debootstrap >/dev/null || die "install debootstrap (apt-get install debootstrap) or run scripts/docker-ensure.sh"
[[ $(id -u) -eq 0 ]] || die "debootstrap needs root: run as root (sudo make images-offline)"

# The host's own Debian mirror: the directory above dists/ in its bookworm main index target.
mirror="${LAB_DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]]; then
  mirror="$(apt-get indextargets --format '$(URI)' "Release: $SUITE" 'Component: main' 2>/dev/null |
    sed -n 's#/dists/.*##p' | head -n1)"
fi
[[ -n "$mirror" ]] || die "no $SUITE main source in this host's apt config: set LAB_DEBIAN_MIRROR to a Debian mirror URL"

rootfs="$(mktemp -d /tmp/jewelry-lab-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
started=$(date +%s)
log "debootstrap $SUITE (minbase) from the host's mirror into $rootfs ..."
debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 ||
  { tail -n 20 "$rootfs.log" >&2; die "debootstrap failed (log above)"; }
rm -f "$rootfs.log"
# Same trimming as Debian's official images: no apt caches or docs in the base layer,
# and the security/updates suites next to the main one.
sec_mirror="$(apt-get indextargets --format '$(URI)' "Release: $SUITE-security" 'Component: main' 2>/dev/null |
  sed -n 's#/dists/.*##p' | head -n1)"
{
  echo "deb $mirror $SUITE main"
  echo "deb $mirror $SUITE-updates main"
  [[ -n "$sec_mirror" ]] && echo "deb $sec_mirror $SUITE-security main"
} >"$rootfs/etc/apt/sources.list"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$rootfs/etc/apt/apt.conf.d/90jewelry-lab-no-recommends"
log "importing as $IMAGE ..."
tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' - "$IMAGE" >/dev/null
log "$IMAGE ready in $(($(date +%s) - started)) s"
