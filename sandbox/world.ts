import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { startBot, type Bot } from "../src/bot.ts";
import { EnvSchema, parseTargetsFile, type TargetsFile } from "../src/config.ts";
import { buildRouters } from "../src/routers/factory.ts";
import { startKubeApiPeer, type KubeApiPeer } from "./peers/kube-api.ts";
import { CREATED_BY_ROLLOUT } from "../src/engine/deploy.ts";
import { startNamerdPeer, type NamerdPeer } from "./peers/namerd.ts";
import { startClusterMetrics, type ClusterMetrics } from "./cluster-metrics.ts";
import { SlackDriver, startSlackPeer, type SlackPeer } from "./peers/slack/index.ts";
import {
  DEPLOYERS,
  LINKERD1_ROUTER,
  linkerd1ClientId,
  SANDBOX_CHANNEL,
  SANDBOX_USERS,
  SEED_TARGETS,
  OTHER_CLUSTERS,
  seedKey,
  ORDERS_ROLLOUT,
  ORDERS_STEPS,
  CHECKOUT_CANARY,
  seedObjects,
  targetsYaml,
  WORLD_DTAB_NAMESPACE,
  WORLD_PREFIX,
  WORLD_SEED_DTAB,
  type TimingSettings,
  GITOPS_STORY,
  shopRouteInGit,
  WAVE_STORY,
} from "./seed.ts";
import { ArgoCdPeer } from "./peers/argocd.ts";
import { GITOPS_TYPES } from "./peers/kube-api-gitops.ts";
import { ApplicationSpecSchema, DEFAULT_GITOPS, judgeOwnership, withSnippet } from "../src/engine/ownership.ts";
import { signalsOf } from "../src/kube/ownership.ts";
import { readDtabShares, readRouteShares, readSplitShares, routeSelection } from "./shares.ts";
import { TrafficSimulator, type SimTarget } from "./traffic.ts";
import { canaryObject, canaryType, FlaggerSim } from "./peers/flagger.ts";
import { analysisRunType, ArgoRolloutsSim, rolloutObject, rolloutType, type AnalysisOutcome } from "./peers/argo-rollouts.ts";

/**
 * The sandbox's world: the local peers (Slack, Kubernetes, namerd, metrics), the traffic simulator and the
 * real bot started on them exactly as `npm start` starts it, over its real signed HTTP path. Besides the
 * bot's own cluster there is prod-eu (OTHER_CLUSTERS): a Kubernetes API peer of its own, declared under
 * `clusters:` with the kubeconfig file its peer writes, and metrics of its own. A reset stops the bot, wipes
 * its Redis keys, puts the seed back into every peer of every cluster and starts a fresh bot.
 */

export type WorldSettings = {
  redisUrl: string;
  /** Redis key prefix of this run; every key under `${keyPrefix}:` is deleted on reset and on close. */
  keyPrefix: string;
  /** A Prometheus binary to start (scraping the simulated mesh); without one, every target reads Linkerd 1's admin endpoint. */
  prometheusBinary?: string;
  tickMs: number;
  historyLength: number;
  timing: TimingSettings;
  log: Logger;
};

/** One cluster of the sandbox as the page shows it: how the bot reaches it and where it reads its metrics. */
export type SandboxCluster = {
  /** Its name in the targets file; undefined: the bot's own. */
  name?: string;
  kube: KubeApiPeer;
  /** How the bot reaches its Kubernetes API, in words. */
  reach: string;
  /** "prometheus (url)" or "linkerd1 admin (url)". */
  metricsSource: string;
  /** The bot's own cluster's name under `clusters:` too (the wave story's `staging`). */
  alias?: string;
};

export type World = {
  slack: SlackPeer;
  /** The bot's own cluster's Kubernetes API. */
  kube: KubeApiPeer;
  /** The Kubernetes API of a cluster (undefined: the bot's own). */
  kubeOf(cluster: string | undefined): KubeApiPeer;
  /** Every cluster, the bot's own first. */
  clusters: readonly SandboxCluster[];
  namerd: NamerdPeer;
  traffic: TrafficSimulator;
  /** How the bot reads success rates: "prometheus (url)" or "linkerd1 admin (url)". */
  metricsSource: string;
  targets: TargetsFile;
  bot(): Bot;
  driver(): SlackDriver;
  /** The Argo Rollouts story: deploy a new image, or choose how analyses end; returns what happened. */
  argo(c: ArgoControl): string;
  /** The Flagger story: deploy a new revision, or make its checks fail or pass; returns what happened. */
  flagger(c: FlaggerControl): string;
  reset(): Promise<void>;
  /**
   * The GitOps story's panel button: add the snippet the bot offers to Argo CD Application `shop` (as a person
   * committing it to git would, once synced). Says what it did.
   */
  applyArgoSnippet(): string;
  close(): Promise<void>;
};

export function randomSandboxPrefix(): string {
  return `rollout-sandbox:${randomBytes(4).toString("hex")}`;
}

async function deletePrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    await redis.quit();
  }
}

function seedKube(kube: KubeApiPeer, argo?: ArgoCdPeer): void {
  for (const o of seedObjects()) kube.seed(o.resource, o.namespace, o.object);
  argo?.manage(GITOPS_STORY.argoApp, "httproutes", shopRouteInGit());
}

/** Another cluster of the sandbox: its own Kubernetes API and metrics. */
type OtherCluster = { name: (typeof OTHER_CLUSTERS)[number]; kube: KubeApiPeer; metrics: ClusterMetrics };

function seedOtherCluster(c: OtherCluster): void {
  for (const o of seedObjects(c.name)) c.kube.seed(o.resource, o.namespace, o.object);
}

/** Every cluster's metrics at once (each may start a Prometheus, which takes a moment); all or none. */
async function startAllMetrics(s: WorldSettings, clusters: readonly (string | undefined)[]): Promise<ClusterMetrics[]> {
  const settled = await Promise.allSettled(
    clusters.map((cluster) =>
      startClusterMetrics({ log: s.log, ...(s.prometheusBinary ? { prometheusBinary: s.prometheusBinary } : {}), ...(cluster ? { cluster } : {}) }),
    ),
  );
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) {
    for (const r of settled) if (r.status === "fulfilled") await r.value.close();
    throw failed.reason;
  }
  return settled.map((r) => (r as PromiseFulfilledResult<ClusterMetrics>).value);
}

/** The snippet the bot's own judgement offers for route `shop`, added to Application `shop`. */
function applyArgoSnippet(kube: KubeApiPeer): string {
  const route = kube.get("httproutes", GITOPS_STORY.namespace, GITOPS_STORY.argoRoute);
  const app = kube.get("applications", "argocd", GITOPS_STORY.argoApp);
  if (!route || !app) return "route `shop` or Application `shop` is missing: reset the sandbox";
  const obj = {
    group: "gateway.networking.k8s.io",
    kind: "HTTPRoute",
    namespace: GITOPS_STORY.namespace,
    name: GITOPS_STORY.argoRoute,
    fields: ["/spec/rules"],
  };
  const v = judgeOwnership(obj, signalsOf(route), { argocd: { state: "read", spec: ApplicationSpecSchema.parse(app.spec ?? {}) } }, DEFAULT_GITOPS);
  const snippet = v.owners.find((o) => o.snippet)?.snippet;
  if (!snippet) return "Application `shop` already leaves the bot's fields alone";
  kube.edit(
    "applications",
    "argocd",
    GITOPS_STORY.argoApp,
    (a) => {
      a.spec = withSnippet((a.spec ?? {}) as Record<string, unknown>, snippet);
    },
    { manager: "argocd-server" },
  );
  return "Added the snippet to Application `shop` (ignoreDifferences for HTTPRoute store/shop + RespectIgnoreDifferences=true): start shop again.";
}

/** The Argo Rollouts story's Rollout, stable at shop:1.0 (the controller makes the first revision stable). */
function seedArgo(kube: KubeApiPeer, argo: ArgoRolloutsSim): void {
  kube.seed("rollouts", ORDERS_ROLLOUT.namespace, rolloutObject(ORDERS_ROLLOUT.name, { image: "example/orders:1.0", steps: ORDERS_STEPS }));
  argo.analysis = "Successful";
  argo.tick(ORDERS_ROLLOUT.namespace, ORDERS_ROLLOUT.name);
}

/** What the page can do to the Argo Rollouts story: deploy a new image, or decide how analyses end. */
export type ArgoControl = { deploy?: true; analysis?: AnalysisOutcome };

function controlArgo(kube: KubeApiPeer, argo: ArgoRolloutsSim, c: ArgoControl): string {
  if (c.analysis) argo.analysis = c.analysis;
  if (!c.deploy) return `analyses now end ${c.analysis ?? argo.analysis}`;
  let image = "";
  kube.edit("rollouts", ORDERS_ROLLOUT.namespace, ORDERS_ROLLOUT.name, (o) => {
    const containers = (o.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers;
    const minor = Number(/:1\.(\d+)$/.exec(containers[0]!.image)?.[1] ?? 0) + 1;
    image = containers[0]!.image = `example/orders:1.${minor}`;
  });
  return `deployed ${image}`;
}

/** The Flagger story's Canary, its webhooks pointing at this bot's gates with the sandbox's token. */
function seedCanary(kube: KubeApiPeer, healthUrl: string, token: string): void {
  const { namespace, name } = CHECKOUT_CANARY;
  const webhooks = ["confirm-rollout", "confirm-traffic-increase", "confirm-promotion", "rollback", "event", "post-rollout"].map((type) => ({
    name: `slack-${type}`,
    type,
    url: `${healthUrl}/flagger/${name}/${type}`,
    metadata: { token },
  }));
  if (kube.get("canaries", namespace, name)) kube.remove("canaries", namespace, name);
  kube.seed("canaries", namespace, canaryObject(name, { webhooks }));
}

/** What the page can do to the Flagger story: deploy a new revision, or decide whether its checks fail. */
export type FlaggerControl = { deploy?: true; failing?: boolean };

function controlFlagger(sim: FlaggerSim, c: FlaggerControl): string {
  if (c.failing !== undefined) sim.failing = c.failing;
  if (!c.deploy) return `checks now ${sim.failing ? "fail" : "pass"}`;
  const checksum = randomBytes(5).toString("hex");
  sim.deploy(checksum);
  return `deployed revision ${checksum}`;
}

export async function startWorld(s: WorldSettings): Promise<World> {
  const signingSecret = `sandbox-${randomBytes(16).toString("hex")}`;
  const botToken = `xoxb-sandbox-${randomBytes(12).toString("hex")}`;
  const started: { close(): Promise<void> }[] = [];
  try {
    const slack = await startSlackPeer({
      botToken,
      teamName: "Sandbox",
      teamDomain: "rollout-sandbox",
      channels: [SANDBOX_CHANNEL],
      users: SANDBOX_USERS.map((u) => ({ id: u.id, name: u.name, real_name: u.real_name, display_name: u.name })),
      usergroups: [DEPLOYERS],
    });
    started.push(slack);
    // Services may already be served by the default registry (the preflight change adds them).
    const kube = await startKubeApiPeer({
      smiFlavour: "nginx",
      // `--image` (issue 23): the Deployments the bot makes get pods that come up one by one, or fail as named
      // (`does-not-exist`, `crash`); the seeded ones are ready at once.
      deploymentController: {
        readyAfterMs: 1_500,
        only: (d) => typeof (d.metadata?.annotations as Record<string, unknown> | undefined)?.[CREATED_BY_ROLLOUT] === "string",
      },
      resources: [...GITOPS_TYPES, rolloutType, analysisRunType, canaryType],
    });
    started.push(kube);
    const argo = new ArgoCdPeer(kube, { intervalMs: 1_000 });
    seedKube(kube, argo);
    argo.start();
    const rollouts = new ArgoRolloutsSim(kube);
    seedArgo(kube, rollouts);
    rollouts.run(1_000);
    started.push({ close: async () => rollouts.stop() });
    started.push({ close: async () => argo.stop() });
    const flaggerToken = randomBytes(24).toString("hex");
    const flagger = new FlaggerSim(kube, CHECKOUT_CANARY.namespace, CHECKOUT_CANARY.name);
    const stopFlagger = flagger.run(1_000);
    started.push({ close: async () => stopFlagger() });
    const namerd = await startNamerdPeer({ namespaces: { [WORLD_DTAB_NAMESPACE]: WORLD_SEED_DTAB } });
    started.push(namerd);

    // The other clusters: a Kubernetes API each, named after its cluster (its kubeconfig's context too).
    const others: OtherCluster[] = [];
    const [own, ...otherMetrics] = await startAllMetrics(s, [undefined, ...OTHER_CLUSTERS]);
    for (const m of [own!, ...otherMetrics]) started.push(m);
    for (const [i, name] of OTHER_CLUSTERS.entries()) {
      const peer = await startKubeApiPeer({ cluster: name, smiFlavour: "nginx" });
      started.push(peer);
      others.push({ name, kube: peer, metrics: otherMetrics[i]! });
    }
    for (const c of others) seedOtherCluster(c);
    const kubeOf = (cluster: string | undefined): KubeApiPeer => {
      if (cluster === undefined || cluster === WAVE_STORY.ownAlias) return kube;
      const c = others.find((o) => o.name === cluster);
      if (!c) throw new Error(`the sandbox has no cluster ${cluster}`);
      return c.kube;
    };

    const parsed = parseTargetsFile(
      targetsYaml({
        namerdUrl: namerd.url,
        linkerd1AdminUrl: own!.sinks.linkerd1.url,
        backendMetrics: own!.metrics,
        timing: s.timing,
        clusters: others.map((c) => ({ name: c.name, kubeconfig: c.kube.kubeconfigPath, metrics: c.metrics.metrics })),
        own: { kubeconfig: kube.kubeconfigPath, metrics: own!.metrics },
      }),
      "sandbox targets",
    );
    if (!parsed.ok) throw new Error(parsed.error.join("\n"));
    const targets = parsed.value;

    const simTargets: SimTarget[] = SEED_TARGETS.map((t) => {
      const declared = targets.targets.get(seedKey(t));
      const gw = declared?.gateway;
      const inCluster = kubeOf(t.cluster);
      const shares =
        t.router === "namerd" && declared?.namerd
          ? () => readDtabShares(namerd, WORLD_DTAB_NAMESPACE, WORLD_PREFIX, declared.namerd!.dst)
          : t.router === "gateway" && gw
            ? () => readRouteShares(inCluster, gw.namespace ?? t.namespace, gw.httpRoute ?? t.name, routeSelection(gw, t))
            : () => readSplitShares(inCluster, t.namespace, t.name);
      const sinks = others.find((o) => o.name === t.cluster)?.metrics.sinks;
      return { name: seedKey(t), namespace: t.namespace, versions: [t.stable, t.canary], canary: t.canary, rps: t.rps, shares, ...(sinks ? { sinks } : {}) };
    });
    const traffic = new TrafficSimulator(
      { ...own!.sinks, linkerd1Router: LINKERD1_ROUTER, linkerd1ClientId, tickMs: s.tickMs, historyLength: s.historyLength },
      simTargets,
    );
    traffic.start();
    started.push({ close: async () => traffic.stop() });

    const env = EnvSchema.parse({
      SLACK_SIGNING_SECRET: signingSecret,
      SLACK_BOT_TOKEN: botToken,
      SLACK_API_URL: slack.apiUrl,
      REDIS_URL: s.redisUrl,
      PORT: "0",
      // The sandbox's bots (one per reset) must not fight over the default health port.
      HEALTH_PORT: "0",
      // Nothing of the sandbox is reachable from another machine: its bot takes whatever its page sends.
      BIND_ADDRESS: "127.0.0.1",
      ROLLOUT_KEY_PREFIX: s.keyPrefix,
      KUBECONFIG: kube.kubeconfigPath,
      LOG_LEVEL: s.log.level,
    });
    const routers = await buildRouters({
      kube: { KUBECONFIG: kube.kubeconfigPath },
      // Each other cluster through the kubeconfig file its `clusters:` entry names, as a remote cluster is reached.
      ...(targets.clusters ? { clusters: targets.clusters.values() } : {}),
      kubeTimeoutMs: env.ROLLOUT_KUBE_TIMEOUT_SECONDS * 1000,
      namerdTimeoutMs: env.ROLLOUT_NAMERD_TIMEOUT_SECONDS * 1000,
      // The page shows the new pods coming up: look at them often.
      deployPollMs: 500,
    });
    if (!routers.ok) throw new Error(routers.errors.join("\n"));
    const boot = async () => {
      // The bot reads the Canary at start-up and would say it is missing: it exists before the bot does, its
      // webhooks' host fixed once the bot's health port is known (the path is what the bot checks).
      seedCanary(kube, "http://127.0.0.1:1", flaggerToken);
      const bot = await startBot({
        env,
        targets,
        routers: routers.value.registry,
        scaleDown: routers.value.scaleDown,
        preflight: routers.value.preflight,
        gitops: routers.value.gitops,
        deploy: routers.value.deploy,
        listDeployments: routers.value.listDeployments,
        kubeConfig: routers.value.kubeConfig,
        clusterKubeConfigs: routers.value.clusterKubeConfigs,
        flaggerTokens: new Map([[CHECKOUT_CANARY.name, flaggerToken]]),
        log: s.log,
      });
      seedCanary(kube, bot.healthUrl, flaggerToken);
      return { bot, driver: new SlackDriver({ botUrl: `${bot.url}/slack/events`, signingSecret, peer: slack }) };
    };
    await deletePrefix(s.redisUrl, s.keyPrefix);
    let current = await boot();
    let closed = false;

    const clusters: SandboxCluster[] = [
      {
        kube,
        reach: `the bot's own kubeconfig (KUBECONFIG); for the wave also as \`${WAVE_STORY.ownAlias}\`, through the same file (its \`clusters:\` entry)`,
        metricsSource: own!.source,
        alias: WAVE_STORY.ownAlias,
      },
      ...others.map((c) => ({
        name: c.name,
        kube: c.kube,
        reach: `kubeconfig file ${c.kube.kubeconfigPath} (its \`clusters:\` entry)`,
        metricsSource: c.metrics.source,
      })),
    ];
    return {
      slack,
      kube,
      kubeOf,
      clusters,
      namerd,
      traffic,
      metricsSource: own!.source,
      targets,
      bot: () => current.bot,
      driver: () => current.driver,
      argo: (c) => controlArgo(kube, rollouts, c),
      flagger: (c) => controlFlagger(flagger, c),
      async reset() {
        await current.bot.stop();
        await deletePrefix(s.redisUrl, s.keyPrefix);
        slack.reset();
        kube.reset();
        seedKube(kube, argo);
        for (const c of others) {
          c.kube.reset();
          seedOtherCluster(c);
        }
        for (const ar of kube.list("analysisruns")) kube.remove("analysisruns", String(ar.metadata?.namespace), String(ar.metadata?.name));
        seedArgo(kube, rollouts);
        flagger.reset();
        namerd.seed(WORLD_DTAB_NAMESPACE, WORLD_SEED_DTAB);
        traffic.reset();
        current = await boot();
      },
      applyArgoSnippet: () => applyArgoSnippet(kube),
      async close() {
        if (closed) return;
        closed = true;
        await current.bot.stop();
        await deletePrefix(s.redisUrl, s.keyPrefix);
        for (const c of started.reverse()) await c.close().catch(() => undefined);
      },
    };
  } catch (err) {
    for (const c of started.reverse()) await c.close().catch(() => undefined);
    throw err;
  }
}
