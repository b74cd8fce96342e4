import type { Worker } from "bullmq";
import type { EffectJob, JobName } from "./queue/queues.ts";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { AppDeps } from "./app/deps.ts";
import type { Env, TargetsFile } from "./config.ts";
import { startHealthServer, type HealthServer } from "./http/health.ts";
import { EffectQueue } from "./queue/queues.ts";
import { startEffectWorker } from "./queue/worker.ts";
import type { RouterRegistry } from "./routers/registry.ts";
import { registerSlackListeners } from "./slack/listeners/index.ts";
import { createSlackTransport } from "./slack/transport.ts";
import { slackAuditWords } from "./slack/views/audit-words.ts";
import { MetricsSources } from "./metrics/registry.ts";
import { planStage } from "./engine/timers.ts";
import type { Rollout } from "./engine/rollout.ts";
import { webApiPoster } from "./slack/poster.ts";
import { AccessControl } from "./app/access.ts";
import { UsergroupResolver } from "./slack/usergroups.ts";
import { AuditLog } from "./store/audit.ts";
import { RolloutStore } from "./store/rollout-store.ts";
import { SlackMetaStore } from "./store/slack-meta.ts";
import { HomeViewers } from "./store/home-viewers.ts";
import { ReadingHistory } from "./store/readings.ts";
import { webApiSurfaces } from "./slack/surfaces-api.ts";

/**
 * Wires one bot process: Slack receiver + listeners, the store, the effect queue and its worker.
 * Adapters (routers, clock, logger) come from the caller so tests and the sandbox reuse the real wiring.
 */

export type BotOptions = {
  env: Env;
  targets: TargetsFile;
  routers: RouterRegistry;
  log: Logger;
  now?: () => number;
  scaleDown?: (namespace: string, deployment: string) => Promise<void>;
  /** Run the effect worker in this process (default true). */
  worker?: boolean;
  /**
   * Success-rate sources (default: built from each target's `metrics:` settings). The benchmark passes
   * its own so a thousand targets read an in-process source instead of a Prometheus.
   */
  metrics?: MetricsSources;
};

export type Bot = {
  /** Where Slack's HTTP requests go (/slack/events). */
  port: number;
  url: string;
  /** Where /healthz and /readyz are served. */
  healthUrl: string;
  store: RolloutStore;
  queue: EffectQueue;
  audit: AuditLog;
  stop(): Promise<void>;
};

export async function startBot(opts: BotOptions): Promise<Bot> {
  const { env, log } = opts;
  const now = opts.now ?? Date.now;
  const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
  const bullConnection = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
  // Every write recomputes the stage's timers (automatic step, notice, reminder) from the record.
  const storeOptions = { normalize: (r: Rollout) => planStage(r, now(), { remindMs: r.target.remind ?? 30 * 60_000 }) };
  const store = new RolloutStore(redis, env.ROLLOUT_KEY_PREFIX, storeOptions);
  // Slack requests do not wait out a Redis outage: a click or command while Redis is down is answered with
  // an error at once, instead of being held in memory and applied whenever Redis returns. The worker's
  // connections (above) do wait: a job in flight finishes, and releases its lease, once Redis is back.
  const requestRedis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 0, retryStrategy: (n) => Math.min(50 * n, 500) });
  // Reconnection failures go to the log (ioredis prints an unhandled one to stderr on every attempt).
  for (const [c, name] of [[redis, "store"], [bullConnection, "queue"], [requestRedis, "Slack requests"]] as const) {
    c.on("error", (err: Error) => log.warn({ err: err.message }, `redis connection (${name}) failed`));
  }
  const requestStore = new RolloutStore(requestRedis, env.ROLLOUT_KEY_PREFIX, storeOptions);
  const metrics = opts.metrics ?? new MetricsSources({ redis, keyPrefix: env.ROLLOUT_KEY_PREFIX, defaultPrometheusUrl: env.PROMETHEUS_URL });
  // Build every declared target's source now, so a source that cannot work fails the start, not a rollout.
  for (const t of opts.targets.targets.values()) metrics.for(t);
  const meta = new SlackMetaStore(redis, store.keys);
  const queue = new EffectQueue(bullConnection, store.keys.bullPrefix());

  const transport = createSlackTransport({
    signingSecret: env.SLACK_SIGNING_SECRET,
    botToken: env.SLACK_BOT_TOKEN,
    ...(env.SLACK_API_URL ? { apiUrl: env.SLACK_API_URL } : {}),
    port: env.PORT,
    timeoutMs: env.ROLLOUT_SLACK_TIMEOUT_SECONDS * 1000,
    log,
    now,
  });
  const app = transport.app;

  const audit = new AuditLog(redis, store.keys);
  const groups = new UsergroupResolver({ client: app.client, ttlMs: env.ROLLOUT_GROUP_CACHE_SECONDS * 1000, now, log: log.child({ component: "usergroups" }) });
  const access = new AccessControl(opts.targets, groups);
  const deps: AppDeps = {
    store: requestStore,
    metrics,
    queue,
    catalog: opts.targets,
    access,
    audit: new AuditLog(requestRedis, store.keys),
    routers: {
      has: (kind) => opts.routers.has(kind),
      discoversStable: (kind) => opts.routers.has(kind) && Boolean(opts.routers.get(kind).discoverStable),
      hasTestStage: (kind) => opts.routers.has(kind) && Boolean(opts.routers.get(kind).hasTestStage),
    },
    words: slackAuditWords,
    now,
    log,
    homeViewers: new HomeViewers(requestRedis, store.keys),
  };
  registerSlackListeners(app, deps);

  let worker: Worker<EffectJob, void, JobName> | undefined;
  let workerConnection: Redis | undefined;
  if (opts.worker !== false) {
    workerConnection = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
    workerConnection.on("error", (err: Error) => log.warn({ err: err.message }, "redis connection (worker) failed"));
    worker = startEffectWorker(
      {
        store,
        queue,
        meta,
        audit,
        routers: opts.routers,
        metrics,
        access,
        words: slackAuditWords,
        slack: webApiPoster(app.client),
        surfaces: webApiSurfaces(app.client),
        homeViewers: new HomeViewers(redis, store.keys),
        readings: new ReadingHistory(redis, store.keys),
        log: log.child({ component: "worker" }),
        now,
        ...(opts.scaleDown ? { scaleDown: opts.scaleDown } : {}),
      },
      workerConnection,
      store.keys.bullPrefix(),
    );
    // Pick up every rollout that was mid-flight when the last process stopped, and its readings.
    for (const r of await store.active()) {
      await queue.afterTransition(r);
      await queue.snapshot(r.id, { refresh: true, now: now() });
    }
  }

  await transport.start();
  // After Slack's port: a process that answers /healthz also takes Slack's requests.
  const health: HealthServer = await startHealthServer({ port: env.HEALTH_PORT, checks: [{ name: "redis", ready: () => requestStore.ping() }] });
  const port = transport.port;
  log.info({ port, healthPort: health.port }, "rollout-bot listening on /slack/events");
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    healthUrl: health.url,
    store,
    queue,
    audit,
    async stop() {
      await transport.stop();
      await health.stop();
      await worker?.close();
      await queue.close();
      await Promise.allSettled([redis.quit(), requestRedis.quit(), bullConnection.quit(), workerConnection?.quit()]);
    },
  };
}
