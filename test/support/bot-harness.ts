import { randomBytes } from "node:crypto";
import { pino, type Logger } from "pino";
import { startBot, type Bot } from "../../src/bot.ts";
import { closedInProduction, EnvSchema, loadFlaggerTokens, parseTargetsFile, type TargetsFile } from "../../src/config.ts";
import { buildRouters } from "../../src/routers/factory.ts";
import { LANES, laneOf } from "../../src/queue/lanes.ts";
import { startKubeApiPeer, type KubeApiPeer, type KubeApiPeerOptions, type SmiFlavour } from "../../sandbox/peers/kube-api.ts";
import { startNamerdPeer, type NamerdPeer } from "../../sandbox/peers/namerd.ts";
import { SlackDriver, startSlackPeer, type SlackPeer } from "../../sandbox/peers/slack/index.ts";
import { cleanupPrefix, randomPrefix, REDIS_URL, testRedis } from "./redis.ts";
import { waitFor } from "./wait.ts";

/**
 * The real bot (Bolt receiver, store, queue, worker, routers) against the local peers: Slack Web API,
 * Kubernetes API, real Redis under a random key prefix. Tests speak to it only as Slack would.
 */

export const CHANNEL = "C0ROLLOUT";

export type HarnessOptions = {
  smiFlavour?: SmiFlavour;
  /**
   * Every Service and Deployment a test names exists and is ready unless the test seeds its own (default
   * true: most tests are about something else than preflight). Preflight tests turn it off.
   */
  implicitWorkloads?: boolean;
  /** More options for the Kubernetes API peer (HTTPRoute versions served, schema validators). */
  kube?: Omit<KubeApiPeerOptions, "smiFlavour">;
  targetsYaml?: string;
  /** Reuse peers and prefix from an earlier harness (a second bot process over the same Redis). */
  reuse?: Pick<Harness, "slack" | "kube" | "prefix" | "signingSecret" | "botToken"> & Partial<Pick<Harness, "namerd" | "clusters">>;
  extraEnv?: Record<string, string>;
  /**
   * Start a namerd peer with these dtab namespaces (name -> dtab text), exposed as `h.namerd`; its URL
   * replaces `{{NAMERD_URL}}` in targetsYaml. Reused from `reuse` when that harness has one.
   */
  namerd?: Record<string, string>;
  /** The bot's logger (default: pino at LOG_LEVEL, silent unless TEST_LOG_LEVEL), e.g. one writing into a captured stream. */
  log?: Logger;
  /** Slack's requests over Socket Mode (an app-level token; the driver sends envelopes) instead of HTTP. */
  socketMode?: boolean;
  /** The Slack peer answers 429 + Retry-After over Slack's published rate limits (SlackPeer.enforceTiers). */
  slackTiers?: boolean;
  /**
   * The bot spends its default Slack budget (src/slack/budget.ts). Off unless asked, like the peer's tiers:
   * fuzz and fault tests send far more than Slack would take, and are about something else.
   */
  slackBudget?: boolean;
  /** As main does under NODE_ENV=production: closed by default (src/config.ts closedInProduction). */
  production?: boolean;
  /** How often a `--image` rollout's new pods are looked at (default: the bot's 2 s). */
  deployPollMs?: number;
  /**
   * Other clusters, one Kubernetes API peer each (named after it, recording it on every request), exposed as
   * `h.clusters`; `{{KUBECONFIG:<name>}}` in targetsYaml is replaced by that peer's kubeconfig file.
   */
  clusters?: string[];
};

export type Harness = {
  slack: SlackPeer;
  kube: KubeApiPeer;
  /** The namerd peer, when started with the `namerd` option. */
  namerd?: NamerdPeer;
  /** The other clusters' Kubernetes API peers, by cluster name (the `clusters` option). */
  clusters: Map<string, KubeApiPeer>;
  bot: Bot;
  driver: SlackDriver;
  prefix: string;
  signingSecret: string;
  botToken: string;
  log: Logger;
  /** The deadlines the bot's routers were built with (from the parsed environment, as main does). */
  routerSettings: { kubeTimeoutMs: number; namerdTimeoutMs: number };
  /** Stop the bot only (peers and Redis keys stay), as when a process is stopped. */
  stopBot(): Promise<void>;
  /** Stop everything and delete this test's Redis keys. */
  close(): Promise<void>;
};

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const signingSecret = opts.reuse?.signingSecret ?? `secret-${randomBytes(8).toString("hex")}`;
  const botToken = opts.reuse?.botToken ?? `xoxb-test-${randomBytes(8).toString("hex")}`;
  const appToken = opts.socketMode ? "xapp-1-A0APP0001-local" : undefined;
  const slack = opts.reuse?.slack ?? (await startSlackPeer({ botToken, ...(appToken ? { appToken } : {}), channels: [{ id: CHANNEL, name: "deploys" }] }));
  if (opts.slackTiers && !opts.reuse) slack.enforceTiers();
  const kube =
    opts.reuse?.kube ?? (await startKubeApiPeer({ ...opts.kube, smiFlavour: opts.smiFlavour ?? "nginx", implicitWorkloads: opts.implicitWorkloads ?? true }));
  const namerd = opts.reuse?.namerd ?? (opts.namerd ? await startNamerdPeer({ namespaces: opts.namerd }) : undefined);
  const clusters = opts.reuse?.clusters ?? new Map<string, KubeApiPeer>();
  if (!opts.reuse)
    for (const name of opts.clusters ?? [])
      clusters.set(
        name,
        await startKubeApiPeer({ ...opts.kube, cluster: name, smiFlavour: opts.smiFlavour ?? "nginx", implicitWorkloads: opts.implicitWorkloads ?? true }),
      );
  const prefix = opts.reuse?.prefix ?? randomPrefix("bot");
  const env = EnvSchema.parse({
    SLACK_SIGNING_SECRET: signingSecret,
    SLACK_BOT_TOKEN: botToken,
    SLACK_API_URL: slack.apiUrl,
    REDIS_URL,
    PORT: "0",
    HEALTH_PORT: "0",
    BIND_ADDRESS: "127.0.0.1",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    ROLLOUT_KEY_PREFIX: prefix,
    KUBECONFIG: kube.kubeconfigPath,
    ...(appToken ? { SLACK_APP_TOKEN: appToken } : {}),
    ROLLOUT_SLACK_BUDGET: opts.slackBudget ? "on" : "off",
    // Tests and benchmarks start and chart far more than a person would: the per-person limits are
    // proved in test/security, and generous elsewhere (like the Slack budget being off).
    ROLLOUT_LIMIT_STARTS_PER_MINUTE: "10000",
    ROLLOUT_LIMIT_REFRESHES_PER_MINUTE: "10000",
    ROLLOUT_LIMIT_CHARTS_PER_MINUTE: "10000",
    ROLLOUT_CHART_THREAD_SECONDS: "0",
    ...opts.extraEnv,
  });
  let targets: TargetsFile = { adhoc: true, targets: new Map() };
  if (opts.targetsYaml) {
    let yaml = namerd ? opts.targetsYaml.replaceAll("{{NAMERD_URL}}", namerd.url) : opts.targetsYaml;
    for (const [name, peer] of clusters) yaml = yaml.replaceAll(`{{KUBECONFIG:${name}}}`, peer.kubeconfigPath);
    const parsed = parseTargetsFile(yaml);
    if (!parsed.ok) throw new Error(parsed.error.join("\n"));
    targets = parsed.value;
  }
  if (opts.production) {
    const closed = closedInProduction(targets, { production: true, fromFile: Boolean(opts.targetsYaml) });
    if (!closed.ok) throw new Error(closed.error.join("\n"));
    targets = closed.value;
  }
  const routerSettings = {
    kube: { KUBECONFIG: kube.kubeconfigPath },
    kubeTimeoutMs: env.ROLLOUT_KUBE_TIMEOUT_SECONDS * 1000,
    namerdTimeoutMs: env.ROLLOUT_NAMERD_TIMEOUT_SECONDS * 1000,
  };
  const routers = await buildRouters({
    ...routerSettings,
    ...(opts.deployPollMs !== undefined ? { deployPollMs: opts.deployPollMs } : {}),
    ...(targets.clusters ? { clusters: targets.clusters.values() } : {}),
  });
  if (!routers.ok) throw new Error(routers.errors.join("\n"));
  const log = opts.log ?? pino({ level: env.LOG_LEVEL });
  const flaggerTokens = await loadFlaggerTokens(targets, process.env);
  if (!flaggerTokens.ok) throw new Error(flaggerTokens.error.join("\n"));
  const bot = await startBot({
    flaggerTokens: flaggerTokens.value,
    env,
    targets,
    routers: routers.value.registry,
    scaleDown: routers.value.scaleDown,
    kubeConfig: routers.value.kubeConfig,
    clusterKubeConfigs: routers.value.clusterKubeConfigs,
    preflight: routers.value.preflight,
    gitops: routers.value.gitops,
    deploy: routers.value.deploy,
    listDeployments: routers.value.listDeployments,
    log,
  });
  const driver = new SlackDriver({
    botUrl: `${bot.url}/slack/events`,
    signingSecret,
    peer: slack,
    ...(opts.socketMode && slack.socket ? { socket: slack.socket } : {}),
  });
  let botStopped = false;
  const stopBot = async () => {
    if (botStopped) return;
    botStopped = true;
    await bot.stop();
  };
  return {
    slack,
    kube,
    ...(namerd ? { namerd } : {}),
    clusters,
    bot,
    driver,
    prefix,
    signingSecret,
    botToken,
    log,
    routerSettings,
    stopBot,
    async close() {
      await stopBot();
      if (!opts.reuse) {
        await slack.close();
        await kube.close();
        await namerd?.close();
        for (const peer of clusters.values()) await peer.close();
        const redis = testRedis();
        await cleanupPrefix(redis, prefix);
        await redis.quit();
      }
    },
  };
}

/** The bot's parent message for a rollout in the channel (the one with the rollout id in its header). */
export function rolloutMessage(h: Harness, rolloutId: string) {
  return parentMessages(h).find((m) => JSON.stringify(m.blocks ?? []).includes(`Rollout ${rolloutId}:`));
}

/** Top-level messages in the channel (a parent carries thread_ts = its own ts once it has replies). */
export function parentMessages(h: Harness) {
  return h.slack.messages(CHANNEL).filter((m) => !m.thread_ts || m.thread_ts === m.ts);
}

export async function waitForMessage(h: Harness, rolloutId: string, contains: string | ((text: string) => boolean), timeoutMs = 10_000) {
  const test = typeof contains === "string" ? (t: string) => t.includes(contains) : contains;
  return waitFor(
    () => {
      const m = rolloutMessage(h, rolloutId);
      return m && test(JSON.stringify(m.blocks ?? [])) ? m : undefined;
    },
    { timeoutMs, what: `rollout ${rolloutId} message containing ${String(contains)}` },
  );
}

/** Click the button with this label on the rollout's message, as `userId`. */
export async function clickButton(h: Harness, rolloutId: string, userId: string, label: string | RegExp, opts: { stale?: boolean } = {}) {
  const m = rolloutMessage(h, rolloutId);
  if (!m) throw new Error(`no message for ${rolloutId}`);
  const button = h.slack.findButton(CHANNEL, m.ts, label);
  return h.driver.click({ userId, channelId: CHANNEL, messageTs: m.ts, button, ...(opts.stale ? { stale: true } : {}) });
}

/**
 * A followed controller's rollout (Argo Rollouts, Flagger): its message names it as `(<id>)`. The message,
 * the message once it contains `text`, its thread's texts, and a click on one of its buttons.
 */
export function followedMessage(h: Harness, id: string) {
  return parentMessages(h).find((m) => JSON.stringify(m.blocks ?? []).includes(`(${id})`));
}

export async function followedMessageWith(h: Harness, id: string, text: string) {
  return waitFor(
    () => {
      const m = followedMessage(h, id);
      return m && JSON.stringify(m.blocks ?? []).includes(text) ? m : undefined;
    },
    { what: `message of ${id} containing ${text}` },
  );
}

export function followedThread(h: Harness, id: string): string[] {
  const m = followedMessage(h, id);
  return m
    ? h.slack
        .thread(CHANNEL, m.ts)
        .filter((x) => x.ts !== m.ts)
        .map((x) => x.text ?? "")
    : [];
}

export async function clickFollowed(h: Harness, id: string, user: string, label: string | RegExp) {
  const m = followedMessage(h, id);
  if (!m) throw new Error(`no message for ${id}`);
  return h.driver.click({ userId: user, channelId: CHANNEL, messageTs: m.ts, button: h.slack.findButton(CHANNEL, m.ts, label) });
}

/** Ephemeral texts shown to a user (response_url and chat.postEphemeral). */
export function ephemeralTexts(h: Harness, userId: string): string[] {
  return h.slack.ephemeralsFor(userId).map((e) => e.text ?? JSON.stringify(e.blocks ?? []));
}

export async function waitForEphemeral(h: Harness, userId: string, contains: string, timeoutMs = 10_000): Promise<string> {
  return waitFor(() => ephemeralTexts(h, userId).find((t) => t.includes(contains)), { timeoutMs, what: `ephemeral to ${userId} containing "${contains}"` });
}

export async function waitForStatus(h: Harness, rolloutId: string, status: string, timeoutMs = 10_000) {
  return waitFor(
    async () => {
      const r = await h.bot.store.get(rolloutId);
      return r?.status === status && r.appliedPercent === r.desiredPercent ? r : undefined;
    },
    { timeoutMs, what: `rollout ${rolloutId} to be ${status}` },
  );
}

/**
 * A start takes one periodic check (drift, and a reading) at once and schedules the next one. With an hour
 * between checks (`refreshSeconds: 3600`), waiting for it to have run leaves the bot's own writes as the only
 * thing that can find a later hand edit.
 */
export async function firstCheckDone(h: Harness, rolloutId: string): Promise<void> {
  const pattern = `${h.bot.store.keys.bullPrefix()}:${LANES[laneOf("snapshot")]}:${rolloutId}.snap.[0-9]*`;
  const redis = testRedis();
  try {
    await waitFor(async () => ((await redis.keys(pattern)).length > 0 ? true : undefined), { what: `the first periodic check of ${rolloutId}` });
  } finally {
    redis.disconnect();
  }
}
