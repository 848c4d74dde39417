#!/usr/bin/env bash
# CI step for the container image: installs Docker's engine and debootstrap (Debian packages),
# starts dockerd unless an engine already answers, runs `make image-test`, and stops the dockerd
# it started (by its PID) whatever happens.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive
DOCKER=/usr/bin/docker
missing=()
[ -x /usr/sbin/dockerd ] && [ -x "$DOCKER" ] || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
mkdir -p .cache
if ! "$DOCKER" info >/dev/null 2>&1; then
  # no bridge and no iptables rules: the image test uses the host's network, on 127.0.0.1
  /usr/sbin/dockerd --bridge=none --iptables=false --pidfile "$PWD/.cache/dockerd.pid" >.cache/dockerd.log 2>&1 &
  dockerd_pid=$!
  trap 'kill "$dockerd_pid" 2>/dev/null && for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done' EXIT
  for _ in $(seq 150); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 0.2; done
  "$DOCKER" info >/dev/null 2>&1 || { tail -n 20 .cache/dockerd.log; echo "dockerd did not start" >&2; exit 1; }
fi
make image-test DOCKER="$DOCKER"
# each build leaves the previous image untagged and adds to BuildKit's cache: keep the disk bounded
"$DOCKER" image prune -f >/dev/null
"$DOCKER" builder prune -f --keep-storage 2GB >/dev/null
