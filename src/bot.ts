import type { Worker } from "bullmq";
import type { EffectJob, JobName } from "./queue/queues.ts";
import type { Logger } from "pino";
import type { AppDeps } from "./app/deps.ts";
import type { Env, TargetsFile } from "./config.ts";
import { startHealthServer, type HealthServer, type ReadinessCheck } from "./http/health.ts";
import { EffectQueue } from "./queue/queues.ts";
import { startEffectWorker, type WorkerDeps } from "./queue/worker.ts";
import { RequestsFirst } from "./queue/requests-first.ts";
import type { RouterRegistry } from "./routers/registry.ts";
import { registerSlackListeners } from "./slack/listeners/index.ts";
import { createSlackTransport } from "./slack/transport.ts";
import { slackAuditWords } from "./slack/views/audit-words.ts";
import { slackSide } from "./slack/side.ts";
import { MetricsSources } from "./metrics/registry.ts";
import { planStage } from "./engine/timers.ts";
import { syncWaveRow } from "./engine/wave-rollout.ts";
import type { Rollout } from "./engine/rollout.ts";
import { webApiPoster } from "./slack/poster.ts";
import { AccessControl } from "./app/access.ts";
import { UsergroupResolver } from "./slack/usergroups.ts";
import { AuditLog } from "./store/audit.ts";
import { RolloutStore } from "./store/rollout-store.ts";
import { SlackMetaStore } from "./store/slack-meta.ts";
import type { Preflight } from "./kube/preflight.ts";
import type { GitopsDeps } from "./kube/ownership.ts";
import type { DeployDeps } from "./kube/deploy.ts";
import type { DeploymentLister } from "./kube/deployment-list.ts";
import type { KubeConfig } from "@kubernetes/client-node";
import { createOpsMetrics, type OpsMetrics } from "./http/metrics.ts";
import { kubeApiCheck, needsKubeApi, slackTokenCheck } from "./http/readiness.ts";
import { timedRegistry } from "./routers/timed.ts";
import { isConnectionError, RedisWatch } from "./store/redis-watch.ts";
import { connectRedis, parseRedisUrl, readyWithin, type RedisClient } from "./store/redis-connection.ts";
import { HomeViewers } from "./store/home-viewers.ts";
import { ReadingHistory } from "./store/readings.ts";
import { webApiSurfaces } from "./slack/surfaces-api.ts";
import { SlackBudget } from "./slack/budget.ts";
import { SlackChannelVisibility } from "./slack/channel-visibility.ts";
import { RedisRateLimiter } from "./store/rate-limit.ts";
import { DEFAULT_LIMITS, type RequestLimits } from "./app/rate-limits.ts";
import { SeenRequests } from "./store/seen-requests.ts";
import { knownActions } from "./http/metric-labels.ts";
import { COMMANDS } from "../commands/index.ts";
import { firstDelivery } from "./app/replay.ts";

/** 2 x the 300 s a signature's timestamp may be off, and a minute's margin for clocks. */
const REPLAY_MEMORY_SECONDS = 660;
import { ArgoRolloutsClient } from "./controllers/argo-rollouts.ts";
import type { ArgoReader, ArgoSender } from "./app/argo-follow.ts";
import { answerFlaggerCall, type FlaggerGateDeps } from "./app/flagger-gate.ts";
import { startArgoPoller, type ArgoPoller } from "./follow/argo-poller.ts";
import { FlaggerClient } from "./controllers/flagger.ts";
import type { CanaryReader } from "./app/flagger-follow.ts";
import { startFlaggerPoller, type FlaggerPoller } from "./follow/flagger-poller.ts";

/**
 * Wires one bot process: Slack receiver + listeners, the store, the effect queue and its workers (one per lane).
 * Adapters (routers, clock, logger) come from the caller so tests and the sandbox reuse the real wiring.
 */

/** Effect jobs at once; and while several Slack requests wait for their answer (src/queue/requests-first.ts). */
const WORKER_CONCURRENCY = 16;
const REQUESTS_FIRST_BUSY = 2;
/** Mesh writes and timers at once, in their own lane (src/queue/lanes.ts), never held back for Slack's requests. */
const MESH_CONCURRENCY = 8;

export type BotOptions = {
  env: Env;
  targets: TargetsFile;
  routers: RouterRegistry;
  log: Logger;
  now?: () => number;
  /** `cluster`: the target's (absent: the bot's own). */
  scaleDown?: (namespace: string, deployment: string, cluster?: string) => Promise<string | undefined>;
  /** Preflight of the workloads (Services, canary Deployment) before a start and on each periodic check. */
  preflight: Preflight;
  /** Who owns what a rollout writes (Argo CD, Flux): checked before a start; `gitops: pause`. Absent: not checked. */
  gitops?: GitopsDeps;
  /** `--image`: deploy the new version, `cleanup: delete`, Abort's removal. Absent: such rollouts end saying why. */
  deploy?: DeployDeps;
  /** Run the effect worker in this process (default true). */
  worker?: boolean;
  /**
   * Success-rate sources (default: built from each target's `metrics:` settings). The benchmark passes
   * its own so a thousand targets read an in-process source instead of a Prometheus.
   */
  metrics?: MetricsSources;
  /** A namespace's Deployments, offered as versions in the start form (without it the form asks for a name). */
  listDeployments?: DeploymentLister;
  /** The Kubernetes API the routers write through: /readyz checks it answers when a target needs it. */
  kubeConfig?: KubeConfig;
  /** Each other cluster's (the targets file's `clusters:`): /readyz checks each one a target names, by name. */
  clusterKubeConfigs?: ReadonlyMap<string, KubeConfig>;
  /** Argo Rollouts (default: a client over `kubeConfig` when a target names `router: argo-rollouts`). */
  argo?: ArgoReader & ArgoSender;
  /** The token each `router: flagger` target's webhooks carry (config.ts loadFlaggerTokens). */
  flaggerTokens?: ReadonlyMap<string, string>;
  /** Flagger's Canaries (default: a client over `kubeConfig` when a target names `router: flagger`). */
  flagger?: CanaryReader;
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
  /** The process's Prometheus metrics (also served on the health port's /metrics). */
  ops: OpsMetrics;
  /**
   * Shutting down: /readyz answers 503 at once, no new Slack request or job is taken, and those in hand
   * finish. Resolves true when they did within `deadlineMs`, false when the deadline came first.
   */
  drain(deadlineMs: number): Promise<boolean>;
  stop(): Promise<void>;
};

export async function startBot(opts: BotOptions): Promise<Bot> {
  const { env, log } = opts;
  const now = opts.now ?? Date.now;
  // Every connection reports through one account: a line when Redis is lost, a line when it is back.
  const redisWatch = new RedisWatch(env.REDIS_URL, log);
  // One server or a Redis Cluster, as REDIS_URL says (validated by parseEnv).
  const endpoint = parseRedisUrl(env.REDIS_URL);
  if (!endpoint.ok) throw new Error(`REDIS_URL ${endpoint.error}`);
  const connect = (use: "work" | "requests") => redisWatch.watch(connectRedis(endpoint.value, use));
  const redis = connect("work");
  const bullConnection = connect("work");
  // Every write recomputes the stage's timers (automatic step, notice, reminder) from the record.
  const storeOptions = {
    normalize: (r: Rollout) => planStage(syncWaveRow(r), now(), { remindMs: r.target.remind ?? 30 * 60_000 }),
    retentionSeconds: env.ROLLOUT_RETENTION_DAYS * 86_400,
    now,
  };
  const store = new RolloutStore(redis, env.ROLLOUT_KEY_PREFIX, storeOptions);
  // Slack requests do not wait out a Redis outage: a click or command while Redis is down is answered with
  // an error at once, instead of being held in memory and applied whenever Redis returns. The worker's
  // connections (above) do wait: a job in flight finishes, and releases its lease, once Redis is back.
  const requestRedis = connect("requests");
  const requestStore = new RolloutStore(requestRedis, env.ROLLOUT_KEY_PREFIX, storeOptions);
  const defaultPrometheusToken = env.PROMETHEUS_BEARER_TOKEN
    ? { value: env.PROMETHEUS_BEARER_TOKEN }
    : env.PROMETHEUS_BEARER_TOKEN_FILE
      ? { file: env.PROMETHEUS_BEARER_TOKEN_FILE }
      : undefined;
  const clusterPrometheusUrls = new Map(
    [...(opts.targets.clusters?.values() ?? [])].flatMap((c) => (c.prometheusUrl ? [[c.name, c.prometheusUrl] as const] : [])),
  );
  const metrics = opts.metrics ?? new MetricsSources({ defaultPrometheusUrl: env.PROMETHEUS_URL, defaultPrometheusToken, clusterPrometheusUrls });
  // Build every declared target's source now, so a source that cannot work fails the start, not a rollout.
  // A wave's target reads each of its clusters' Prometheus in turn: build the source for each cluster it names.
  for (const t of opts.targets.targets.values()) for (const c of t.clusters ?? [t.cluster]) metrics.for({ ...t, cluster: c });
  const meta = new SlackMetaStore(redis, store.keys);
  const queue = new EffectQueue(bullConnection, store.keys.bullPrefix());
  const ops = createOpsMetrics(
    {
      activeByState: async () => {
        const counts: Record<string, number> = {};
        for (const r of await store.active()) counts[r.status] = (counts[r.status] ?? 0) + 1;
        return counts;
      },
      ...(opts.targets.clusters?.size
        ? {
            activeByCluster: async () => {
              const counts: Record<string, number> = Object.fromEntries([["own", 0], ...[...opts.targets.clusters!.keys()].map((c) => [c, 0])]);
              for (const r of await store.active()) counts[r.target.cluster ?? "own"] = (counts[r.target.cluster ?? "own"] ?? 0) + 1;
              return counts;
            },
          }
        : {}),
      queueDepth: () => queue.queue.countsByQueue("waiting", "prioritized", "delayed", "active", "failed"),
    },
    { actions: knownActions(COMMANDS.map((c) => c.name)) },
  );
  const routers = timedRegistry(opts.routers, ["smi", "namerd", "gateway"], ops.meshCall);

  // On the request connection, which fails at once while Redis is down: a Slack call then goes unbudgeted
  // instead of waiting for Redis (src/slack/budget.ts).
  const budget =
    env.ROLLOUT_SLACK_BUDGET === "off"
      ? undefined
      : new SlackBudget(requestRedis, (bucket) => store.keys.slackBudget(bucket), {
          percent: env.ROLLOUT_SLACK_BUDGET_PERCENT,
          burstSeconds: env.ROLLOUT_SLACK_BURST_SECONDS,
          maxWaitMs: env.ROLLOUT_SLACK_MAX_WAIT_SECONDS * 1000,
        });
  // Replays refused: a request is remembered a little longer than a signed one stays acceptable (five
  // minutes either side of its timestamp: up to ten minutes after it arrives), by every replica alike.
  const seen = new SeenRequests(requestRedis, store.keys, REPLAY_MEMORY_SECONDS);
  const countEntry = (e: { action: string; outcome: string }) => ops.transition(e.action, e.outcome);
  const requestAudit = new AuditLog(requestRedis, store.keys, countEntry);
  // Acks first: while 3 or more of Slack's requests wait for their answer, the worker takes at most 2 jobs at once.
  const requestsFirst = new RequestsFirst({ busy: REQUESTS_FIRST_BUSY, idle: WORKER_CONCURRENCY, holdAt: 3, quietMs: 20 });
  const transport = createSlackTransport({
    signingSecret: env.SLACK_SIGNING_SECRET,
    botToken: env.SLACK_BOT_TOKEN,
    ...(env.SLACK_APP_TOKEN ? { appToken: env.SLACK_APP_TOKEN } : {}),
    ...(env.SLACK_API_URL ? { apiUrl: env.SLACK_API_URL } : {}),
    port: env.PORT,
    timeoutMs: env.ROLLOUT_SLACK_TIMEOUT_SECONDS * 1000,
    log,
    now,
    observe: ops,
    ...(budget ? { budget } : {}),
    admit: (req) => firstDelivery({ seen, audit: requestAudit, now, log }, req),
    responseUrlHosts: env.SLACK_RESPONSE_URL_HOSTS,
    host: env.BIND_ADDRESS,
    waiting: requestsFirst,
  });
  const app = transport.app;

  const audit = new AuditLog(redis, store.keys, countEntry);
  const groups = new UsergroupResolver({ client: app.client, ttlMs: env.ROLLOUT_GROUP_CACHE_SECONDS * 1000, now, log: log.child({ component: "usergroups" }) });
  const access = new AccessControl(opts.targets, groups);
  const channels = new SlackChannelVisibility({
    client: app.client,
    ttlMs: env.ROLLOUT_CHANNEL_CACHE_SECONDS * 1000,
    log: log.child({ component: "channels" }),
  });
  const limits: RequestLimits = {
    settings: {
      ...DEFAULT_LIMITS,
      start: { limit: env.ROLLOUT_LIMIT_STARTS_PER_MINUTE, windowMs: 60_000 },
      refresh: { limit: env.ROLLOUT_LIMIT_REFRESHES_PER_MINUTE, windowMs: 60_000 },
      chart: { limit: env.ROLLOUT_LIMIT_CHARTS_PER_MINUTE, windowMs: 60_000 },
      "chart-thread":
        env.ROLLOUT_CHART_THREAD_SECONDS > 0 ? { limit: 1, windowMs: env.ROLLOUT_CHART_THREAD_SECONDS * 1000 } : { limit: 1_000_000, windowMs: 1_000 },
    },
    take: (kind, who, setting) => rateLimiter.take(kind, who, setting),
  };
  const rateLimiter = new RedisRateLimiter(requestRedis, store.keys);
  const deps: AppDeps = {
    store: requestStore,
    metrics,
    queue,
    catalog: opts.targets,
    access,
    audit: requestAudit,
    routers: {
      has: (kind) => routers.has(kind),
      discoversStable: (kind) => routers.has(kind) && Boolean(routers.get(kind).discoverStable),
      hasTestStage: (kind) => routers.has(kind) && Boolean(routers.get(kind).hasTestStage),
    },
    words: slackAuditWords,
    now,
    log,
    homeViewers: new HomeViewers(requestRedis, store.keys),
    limits,
    channels,
    ...(opts.listDeployments ? { deployments: opts.listDeployments } : {}),
  };
  registerSlackListeners(app, deps);

  const argoTargets = [...opts.targets.targets.values()].filter((t) => t.router === "argo-rollouts");
  const argo =
    opts.argo ??
    (argoTargets.length && opts.kubeConfig ? new ArgoRolloutsClient(opts.kubeConfig, { timeoutMs: env.ROLLOUT_KUBE_TIMEOUT_SECONDS * 1000 }) : undefined);
  const poster = webApiPoster(app.client, {
    ...(budget ? { budget } : {}),
    onDeferred: () => ops.slackRefreshDeferred(),
    onPutBack: (bucket) => ops.slackPutBack(bucket),
  });
  let argoPoller: ArgoPoller | undefined;
  const flaggerTargets = [...opts.targets.targets.values()].filter((t) => t.router === "flagger");
  const canaries =
    opts.flagger ??
    (flaggerTargets.length && opts.kubeConfig ? new FlaggerClient(opts.kubeConfig, { timeoutMs: env.ROLLOUT_KUBE_TIMEOUT_SECONDS * 1000 }) : undefined);
  let flaggerPoller: FlaggerPoller | undefined;

  const workers: Worker<EffectJob, void, JobName>[] = [];
  let workerConnection: RedisClient | undefined;
  if (opts.worker !== false) {
    workerConnection = connect("work");
    if (argo && argoTargets.length)
      argoPoller = startArgoPoller({ store, queue, now, log: log.child({ component: "argo" }), argo, slack: poster }, argoTargets, log);
    if (canaries && flaggerTargets.length) {
      const flog = log.child({ component: "flagger" });
      const tokens = opts.flaggerTokens ?? new Map<string, string>();
      flaggerPoller = startFlaggerPoller({ store, queue, now, log: flog, flagger: canaries, tokens, slack: poster }, flaggerTargets, flog);
    }
    const workerDeps: WorkerDeps = {
      store,
      queue,
      meta,
      audit,
      routers,
      metrics,
      access,
      words: slackAuditWords,
      slack: poster,
      slackSide,
      ...(argo ? { argo } : {}),
      surfaces: webApiSurfaces(app.client, { ...(budget ? { budget } : {}), onPutBack: (bucket) => ops.slackPutBack(bucket) }),
      homeViewers: new HomeViewers(redis, store.keys),
      channels,
      readings: new ReadingHistory(redis, store.keys),
      log: log.child({ component: "worker" }),
      now,
      ...(opts.scaleDown ? { scaleDown: opts.scaleDown } : {}),
      preflight: opts.preflight,
      ...(opts.gitops ? { gitops: opts.gitops } : {}),
      ...(opts.deploy ? { deploy: opts.deploy } : {}),
    };
    const onError = (err: Error) => (isConnectionError(err) ? redisWatch.failed(err) : log.error({ err }, "worker error"));
    // One worker per lane over the same connection: readings and renders in one, mesh writes and timers in
    // the other, whose slots the first can never fill.
    const effects = startEffectWorker(workerDeps, workerConnection, store.keys.bullPrefix(), { lane: "effects", concurrency: WORKER_CONCURRENCY, onError });
    const mesh = startEffectWorker(workerDeps, workerConnection, store.keys.bullPrefix(), { lane: "mesh", concurrency: MESH_CONCURRENCY, onError });
    workers.push(effects, mesh);
    // Acks first holds back the readings and renders only: a click's own mesh write must not wait for the acks.
    requestsFirst.attach(effects);
    for (const w of workers) {
      w.on("completed", (job) => ops.job(job.name, "completed"));
      w.on("failed", (job) => ops.job(job?.name ?? "unknown", "failed"));
    }
    // Pick up every rollout that was mid-flight when the last process stopped, and its readings. In the
    // background: with Redis down this waits for it, and the ports must open meanwhile (health 200, ready 503).
    void (async () => {
      for (const r of await store.active()) {
        await reclaimObjects(store, r, log);
        await queue.afterTransition(r);
        await queue.snapshot(r.id, { refresh: true, now: now() });
      }
    })().catch((err: unknown) => log.error({ err }, "could not pick up the running rollouts; their next job or click will"));
  }

  let draining = false;
  const checks: ReadinessCheck[] = [
    { name: "shutting down", ready: async () => !draining },
    { name: "redis", ready: () => requestStore.ping() },
    { name: "slack socket", ready: async () => transport.connected() },
  ];
  if (opts.kubeConfig && needsKubeApi(opts.targets)) checks.push(kubeApiCheck(opts.kubeConfig, env.ROLLOUT_KUBE_TIMEOUT_SECONDS * 1000));
  for (const [cluster, kc] of opts.clusterKubeConfigs ?? [])
    if (needsKubeApi(opts.targets, cluster)) checks.push(kubeApiCheck(kc, env.ROLLOUT_KUBE_TIMEOUT_SECONDS * 1000, cluster));
  checks.push(slackTokenCheck(() => app.client.auth.test(), { ttlMs: 60_000, now: Date.now }));

  // A cluster connection refuses a request's commands until it knows the slot map (it keeps no queue for
  // them, so that an outage is refused at once): give it a moment, without keeping the ports shut for long.
  if (requestRedis.isCluster) await readyWithin(requestRedis, 2_000);
  await transport.start();
  // After Slack's port: a process that answers /healthz also takes Slack's requests.
  const flaggerDeps: FlaggerGateDeps = {
    store,
    queue,
    audit,
    now,
    log: log.child({ component: "flagger" }),
    targets: opts.targets.targets,
    tokens: opts.flaggerTokens ?? new Map(),
  };
  const health: HealthServer = await startHealthServer({
    port: env.HEALTH_PORT,
    host: env.BIND_ADDRESS,
    checks,
    metrics: () => ops.scrape(),
    flagger: (target, hook, body) => answerFlaggerCall(flaggerDeps, target, hook, body),
  });
  const port = transport.port;
  if (transport.mode === "socket") log.info({ healthPort: health.port }, "rollout-bot connected to Slack over Socket Mode");
  else log.info({ port, healthPort: health.port }, "rollout-bot listening on /slack/events");
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    healthUrl: health.url,
    store,
    queue,
    audit,
    ops,
    async drain(deadlineMs) {
      draining = true;
      await argoPoller?.stop();
      await flaggerPoller?.stop();
      const done = Promise.all([transport.drain(), ...workers.map((w) => w.close())]).then(() => true);
      return settlesWithin(done, deadlineMs);
    },
    async stop() {
      await argoPoller?.stop();
      await flaggerPoller?.stop();
      await transport.stop();
      await health.stop();
      const connections = [redis, requestRedis, bullConnection, workerConnection];
      const graceful = (async () => {
        await Promise.all(workers.map((w) => w.close()));
        await queue.close();
        await Promise.allSettled(connections.flatMap((c) => (c ? [c.quit()] : [])));
      })();
      // With Redis unreachable a graceful close waits for it forever: give up after a while and cut.
      if (!(await settlesWithin(graceful, 3_000))) {
        for (const c of connections) c?.disconnect();
        for (const w of workers) void w.close(true).catch(() => undefined);
      }
    },
  };
}

/** Whether `p` settled within `ms` (its outcome otherwise ignored). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A rollout recorded before object claims existed drives its objects unprotected: it gets its claims now.
 * One another running rollout holds already is left to it (two rollouts then drive the same objects, which
 * only a person can settle) and logged.
 */
async function reclaimObjects(store: RolloutStore, r: Rollout, log: Logger): Promise<void> {
  const { taken, others } = await store.reclaim(r);
  if (taken.length) log.info({ rolloutId: r.id, clusters: taken }, "running rollout had no claim on its objects: claimed them");
  for (const o of others)
    log.warn(
      { rolloutId: r.id, cluster: o.cluster, holder: o.holder },
      "running rollout has no claim on its objects in a cluster another running rollout claims: both left running; finish or abort one",
    );
}
