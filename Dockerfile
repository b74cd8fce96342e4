# syntax=docker/dockerfile:1
# Node 22 is an LTS line (Node 20 reached end of life on 2026-04-30); the code still runs on 20 for development.
# Pinned by digest (the multi-arch index of node:22-bookworm-slim, Node 22.23.1) so a rebuild gets the same base;
# bump it with the tag. `npm run image` on a machine without a registry builds on a local stand-in instead
# (scripts/image/stand-in-base.sh, through this ARG).
ARG NODE_IMAGE=node:22-bookworm-slim@sha256:53ada149d435c38b14476cb57e4a7da73c15595aba79bd6971b547ceb6d018bf

# Build stage: install everything and compile TypeScript to JavaScript, so a broken build never becomes an image.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY sandbox ./sandbox
COPY commands ./commands
RUN npm run build

# Production dependencies in a stage of their own, so npm's cache, logs and config never reach a runtime layer.
# Type declarations and source maps are not read at run time: dropping them takes ~40 MB off
# (@kubernetes/client-node alone carries 24 MB of .d.ts and 9.5 MB of .map).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
  && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -delete

# Runtime stage: production dependencies and the compiled JavaScript only (no TypeScript loader at run
# time), tini as PID 1 so SIGTERM reaches node and zombies are reaped, and a numeric non-root user so
# Kubernetes can verify runAsNonRoot without a passwd lookup.
FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
# Memory and pauses (measured by `npm run bench`, which starts the bot with this ENV): glibc held to two malloc
# arenas (default: 8 per core, each keeping freed memory) took a bot with 1,000 active rollouts from ~315 MiB
# resident to ~230 MiB (issue 13). V8's young generation in 16 MiB semi-spaces: 4 MiB (issue 13's choice, when
# the old generation was not yet sized as in the pod) meant ~24 scavenges a second under 200 acks/s, some of
# 10-55 ms, and ack p99 at 1,000 active of 74-84 ms; 16 MiB: a quarter as many, half the GC time, p99 29-31 ms,
# for ~15 MiB more resident (192-205 MiB at 1,000 active, under the pod's 256 MiB target).
ENV NODE_ENV=production \
  NODE_OPTIONS="--max-semi-space-size=16" \
  MALLOC_ARENA_MAX=2
WORKDIR /app
# package.json says "type": "module", which node needs to load dist/ as ES modules.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 10001:10001
# 3000: Slack's HTTP receiver (PORT; not used in Socket Mode); 8081: /healthz and /readyz (HEALTH_PORT).
EXPOSE 3000 8081
# No HEALTHCHECK: Kubernetes ignores it and runs the Deployment's liveness and readiness probes on 8081;
# under Docker it would start a second node (~40 MB) every interval to ask what the probes already ask.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/main.js"]
