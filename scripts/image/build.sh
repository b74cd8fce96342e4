#!/usr/bin/env bash
# `npm run image`: build the bot's image with Docker (when a daemon answers) or podman, using the layer cache.
#   ROLLOUT_IMAGE_BASE=stand-in    the local test stand-in for node:22-bookworm-slim (podman's default here:
#                                  no registry needed); the image is then tagged …-test-stand-in
#   ROLLOUT_IMAGE_BASE=dockerfile  the Dockerfile's own base, pulled by digest (Docker's default)
#   ROLLOUT_IMAGE_BASE=<image>     any other base
#   ROLLOUT_IMAGE_TAG=<name:tag>   the tag (default rollout-bot:<version>, or …-test-stand-in)
#   build.sh --tag                 print the tag it builds, build nothing
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/image/engine.sh

name="$(engine_name)"
base="${ROLLOUT_IMAGE_BASE:-$([ "$name" = podman ] && echo stand-in || echo dockerfile)}"
version="$(node -p 'require("./package.json").version')"
tag="rollout-bot:$version"
[ "$base" = stand-in ] && tag="rollout-bot:$version-test-stand-in"
tag="${ROLLOUT_IMAGE_TAG:-$tag}"
if [ "${1:-}" = --tag ]; then
  echo "$tag"
  exit 0
fi

cannot() {
  echo "image: $name $1 on this machine, so the image cannot be built or tested here:" >&2
  echo "$2" | sed 's/^/  /' >&2
  echo "image: see docs/install.md, \"Image\" (podman needs runc, the host's ulimits and netavark)." >&2
  exit 1
}
if ! out="$(engine info 2>&1 >/dev/null)"; then cannot "does not work" "$out"; fi

case "$base" in
  stand-in) base_ref="$(scripts/image/stand-in-base.sh)" ;;
  dockerfile) base_ref="$(sed -n 's/^ARG NODE_IMAGE=//p' Dockerfile)" ;;
  *) base_ref="$base" ;;
esac
# The base is recorded on the image: `npm run image:test` compares the two to see what the Dockerfile added.
args=(-t "$tag" --build-arg "NODE_IMAGE=$base_ref" --label "org.rollout-bot.base=$base_ref")
if [ "$name" = podman ]; then
  # The host's network: podman's bridge would leave NETAVARK-* iptables chains behind on the host.
  args+=(--network host)
  [ "$base" = stand-in ] && args+=(--pull=never)
  # Say plainly when this machine cannot run containers, before a build fails somewhere in its RUN steps.
  if [ "$base" = stand-in ] && ! out="$(engine run --rm --network host --pull=never "$base_ref" true 2>&1)"; then
    cannot "cannot run containers" "$out"
  fi
fi

started=$SECONDS
previous="$(engine image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
engine build "${args[@]}" .
# The image this build replaced would linger untagged. (Not `image prune`: to podman the build stage's cached
# layers are dangling too, and pruning them costs the next build its `npm ci`.)
current="$(engine image inspect --format '{{.Id}}' "$tag")"
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then engine rmi "$previous" >/dev/null 2>&1 || true; fi
echo "image: built $tag with $name in $((SECONDS - started)) s"
engine image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$tag"
engine history --format '{{.Size}}\t{{.CreatedBy}}' "$tag" | cut -c1-150
