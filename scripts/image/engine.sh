#!/usr/bin/env bash
# The container engine for building and testing the image: `docker` when a daemon answers, else podman set up
# for machines without one (runc, ulimits the host allows, netavark; see docs/install.md, "Image").
#   scripts/image/engine.sh name        -> docker | podman
#   scripts/image/engine.sh <args...>   -> runs the engine with them
# Sourced by the other scripts for engine_name/engine.
set -euo pipefail

# Podman's settings live in a file of ours (CONTAINERS_CONF), not in /etc/containers: nothing on the host changes.
IMAGE_CACHE="${ROLLOUT_IMAGE_CACHE:-/var/cache/rollout-bot-image}"

engine_name() {
  if [ -n "${ROLLOUT_IMAGE_ENGINE:-}" ]; then
    echo "$ROLLOUT_IMAGE_ENGINE"
  elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    echo docker
  elif command -v podman >/dev/null 2>&1; then
    echo podman
  else
    echo "image: neither a Docker daemon nor podman is available (apt-get install --no-install-recommends podman runc netavark aardvark-dns iptables)" >&2
    return 1
  fi
}

podman_conf() {
  local conf="$IMAGE_CACHE/containers.conf" nofile nproc
  # Root here lacks CAP_SYS_RESOURCE: podman's default nofile (1048576) is refused, so ask for what the host
  # allows. Podman 4.3 lowers its own nproc to 32768, the ceiling for a container's.
  nofile="$(ulimit -Hn)"
  nproc="$(ulimit -Hu)"
  [ "$nofile" = unlimited ] && nofile=1048576
  [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
  local want
  want="$(
    cat <<CONF
# Written by scripts/image/engine.sh for rollout-bot's image builds; used through CONTAINERS_CONF only.
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
[engine]
# crun 1.8 refuses hybrid cgroups ("cgroups in hybrid mode not supported"); runc handles them.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[network]
# Without it podman falls back to CNI, whose plugins are not installed.
network_backend = "netavark"
CONF
  )"
  mkdir -p "$IMAGE_CACHE"
  if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then printf '%s\n' "$want" >"$conf"; fi
  echo "$conf"
}

engine() {
  local name
  name="$(engine_name)"
  if [ "$name" = podman ]; then
    CONTAINERS_CONF="$(podman_conf)" podman "$@"
  else
    "$name" "$@"
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  if [ "${1:-}" = name ]; then engine_name; else engine "$@"; fi
fi
