#!/usr/bin/env bash
# Builds a Debian bookworm root filesystem with python3 (debootstrap, from the Debian mirror apt
# uses) and imports it into Docker as $1 (default ovserve-base:bookworm). Used where no registry
# is reachable; everywhere else the Dockerfile's default BASE (python:3.11-slim-bookworm) applies.
# The tarball is cached in $OVSERVE_BASE_CACHE (default .cache/image); delete it to rebuild.
set -euo pipefail
TAG=${1:-ovserve-base:bookworm}
CACHE=${OVSERVE_BASE_CACHE:-.cache/image}
TARBALL="$CACHE/bookworm-python3.tar"
DOCKER=${DOCKER:-/usr/bin/docker}
PACKAGES=python3,python3-venv,ca-certificates,tzdata

if "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
  exit 0
fi
if [ ! -s "$TARBALL" ]; then
  mirror=$(grep -hoE '^(URIs:|deb) *(\[[^]]*\] *)?https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
    | grep -v security | head -n1 | grep -oE 'https?://[^ ]+' || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  root=$(mktemp -d "${TMPDIR:-/tmp}/ovserve-rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$CACHE"
  echo "debootstrap: bookworm from $mirror (cached in $TARBALL)"
  debootstrap --variant=minbase --include="$PACKAGES" bookworm "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -n 30 "$CACHE/debootstrap.log"; exit 1; }
  # the image needs no package lists, caches or docs
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
    "$root"/usr/share/locale/*
  tar -C "$root" -cf "$TARBALL.part" .
  mv "$TARBALL.part" "$TARBALL"
fi
"$DOCKER" import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' "$TARBALL" "$TAG" >/dev/null
echo "imported $TARBALL as $TAG"
