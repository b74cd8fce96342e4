import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { startBot, type Bot } from "../../src/bot.ts";
import { EnvSchema } from "../../src/config.ts";
import { newRollout } from "../../src/engine/rollout.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { RouterRegistry } from "../../src/routers/registry.ts";
import { SlackDriver, startSlackPeer, type SlackPeer, type StoredMessage } from "../../sandbox/peers/slack/index.ts";
import { InstantRouter } from "../bench/fast-router.ts";
import { InstantMetrics } from "../bench/instant-metrics.ts";
import { cleanupPrefix, randomPrefix, REDIS_URL, testRedis } from "./redis.ts";
import { sleep, waitFor } from "./wait.ts";

/**
 * Many active rollouts against a Slack peer that enforces Slack's rate limits (429 + Retry-After), with
 * one or more real bots (startBot) over one Redis sharing the workspace's Slack budget. Every rollout
 * takes a success-rate reading each `refreshSeconds` that changes its rendering (the reading's time is
 * shown), so the bot would like to refresh every message each interval, far beyond chat.update's tier;
 * meanwhile a person clicks Advance on one rollout after another, through the bots' HTTP receivers in
 * turn. Shared by test/integration/slack-workspace-budget.test.ts and `npm run bench -- --only budget`.
 *
 * An in-process mesh and success-rate source stand in for Kubernetes and Prometheus (they are not what
 * this is about; the bench's scheduling measurement uses them the same way).
 */

export type SlackLoadOptions = {
  rollouts: number;
  /** Channels the rollouts are spread over (chat.postMessage is limited per channel). */
  channels: number;
  bots: number;
  refreshSeconds: number;
  clicks: number;
  /** One click every this many ms, once every rollout runs. */
  clickEveryMs: number;
  /** How long the steady state lasts in all (clicks included); at least the clicks' span. */
  steadyMs: number;
  progress?: (line: string) => void;
};

export type SlackLoadResult = {
  rollouts: number;
  bots: number;
  /** Creating the rollouts until every one's message was posted showing it at 10%. */
  setupMs: number;
  /** Click -> the message showing the new weight, per click (ms). */
  clickToRenderMs: number[];
  /** Every 429 the peer answered, by method. */
  rateLimited: Record<string, number>;
  /** Web API calls the peer handled during the steady state, by method. */
  steadyCalls: Record<string, number>;
  steadyMs: number;
  /** The most chat.update calls Slack saw in any 60 s (or the whole steady state if shorter). */
  maxUpdatesPerMinute: number;
  /** Refreshes (reading alone changed) that were made, and that were deferred for want of budget. */
  refreshesMade: number;
  refreshesDeferred: number;
  readings: number;
};

const WEIGHT_50 = "svc-v2 *50%*";

export async function runSlackLoad(opts: SlackLoadOptions): Promise<SlackLoadResult> {
  const say = opts.progress ?? (() => undefined);
  const prefix = randomPrefix("slackload");
  const botToken = `xoxb-load-${randomBytes(6).toString("hex")}`;
  const signingSecret = `secret-${randomBytes(6).toString("hex")}`;
  const channels = Array.from({ length: opts.channels }, (_, i) => `C0LOAD${String(i).padStart(4, "0")}`);
  const peer: SlackPeer = await startSlackPeer({ botToken, channels: channels.map((id) => ({ id })) });
  peer.enforceTiers();
  const metrics = new InstantMetrics();
  // One mesh for every bot, as one Kubernetes API would be.
  const routers = new RouterRegistry().register(new InstantRouter());
  const bots: Bot[] = [];
  const redis = testRedis();
  try {
    for (let k = 0; k < opts.bots; k++) {
      const env = EnvSchema.parse({
        SLACK_SIGNING_SECRET: signingSecret,
        SLACK_BOT_TOKEN: botToken,
        SLACK_API_URL: peer.apiUrl,
        REDIS_URL,
        PORT: "0",
        HEALTH_PORT: "0",
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
        ROLLOUT_KEY_PREFIX: prefix,
      });
      bots.push(
        await startBot({
          env,
          targets: { adhoc: true, targets: new Map() },
          routers,
          metrics,
          log: pino({ level: env.LOG_LEVEL }),
          preflight: { start: async () => [], canary: async () => [] },
        }),
      );
    }
    const first = bots[0]!;

    // ---- setup: N manual rollouts through the store (what /rollout start does after its checks)
    const t0 = Date.now();
    const ids: string[] = [];
    const channelOf = new Map<string, string>();
    await pool(opts.rollouts, 16, async (i) => {
      const target = TargetSchema.parse({
        name: `svc-${String(i).padStart(4, "0")}`,
        namespace: "load",
        stable: "svc-v1",
        steps: [10, 50, 100],
        metrics: {
          source: "prometheus",
          prometheusUrl: "http://instant.invalid",
          preset: "linkerd2",
          scrapeIntervalSeconds: 1,
          windowSeconds: opts.refreshSeconds,
          refreshSeconds: opts.refreshSeconds,
        },
      });
      const record = newRollout({
        id: await first.store.nextId(target.name),
        target,
        stable: "svc-v1",
        canary: "svc-v2",
        steps: [10, 50, 100],
        startedBy: "ULOAD",
        channel: channels[i % channels.length]!,
        testStage: false,
        now: Date.now(),
      });
      const created = await first.store.create(record);
      if (!created.ok) throw new Error(`${record.id}: target busy`);
      channelOf.set(record.id, record.channel);
      await first.queue.afterTransition(created.value);
      ids.push(record.id);
    });
    say(`slack load: ${ids.length} rollouts created in ${Date.now() - t0} ms; waiting for their messages`);
    const messageOf = (id: string, channel: string) => peer.messages(channel).find((m) => JSON.stringify(m.blocks ?? []).includes(`Rollout ${id}:`));
    await waitFor(
      () => {
        const posted = ids.filter((id) => messageOf(id, channelOf.get(id)!)).length;
        return posted === ids.length;
      },
      { timeoutMs: 200_000, intervalMs: 500, what: "every rollout's message" },
    );
    const setupMs = Date.now() - t0;
    say(`slack load: every message posted after ${setupMs} ms`);

    // ---- steady state: readings every refresh, and clicks on Advance through the bots in turn
    const steadyFrom = Date.now();
    const callsBefore = peer.calls.length;
    const readingsBefore = metrics.source.readings;
    const drivers = bots.map((b) => new SlackDriver({ botUrl: `${b.url}/slack/events`, signingSecret, peer }));
    const clicked = pick(ids, opts.clicks);
    const clickToRenderMs: number[] = [];
    for (const [n, id] of clicked.entries()) {
      await sleep(Math.max(0, steadyFrom + (n + 1) * opts.clickEveryMs - Date.now()));
      const channel = channelOf.get(id)!;
      const m = messageOf(id, channel)!;
      const button = peer.findButton(channel, m.ts, "Advance to 50%");
      const at = Date.now();
      const res = await drivers[n % drivers.length]!.click({ userId: "ULOAD", channelId: channel, messageTs: m.ts, button });
      if (res.status !== 200) throw new Error(`the click on ${id} was answered ${res.status}`);
      const shownAt = await waitFor(() => firstShown(peer.message(channel, m.ts)!, WEIGHT_50, at), {
        timeoutMs: 30_000,
        intervalMs: 10,
        what: `${id} showing 50% after Advance`,
      });
      clickToRenderMs.push(shownAt - at);
    }
    await sleep(Math.max(0, steadyFrom + opts.steadyMs - Date.now()));
    const steadyMs = Date.now() - steadyFrom;
    const steady = peer.calls.slice(callsBefore);
    const steadyCalls: Record<string, number> = {};
    for (const c of steady) if (c.status === 200) steadyCalls[c.method] = (steadyCalls[c.method] ?? 0) + 1;
    const rateLimited: Record<string, number> = {};
    for (const c of peer.rateLimited()) rateLimited[c.method] = (rateLimited[c.method] ?? 0) + 1;
    const updates = steady.filter((c) => c.method === "chat.update" && c.status === 200).map((c) => c.at);
    let deferred = 0;
    for (const b of bots) {
      const m = await b.ops.registry.getSingleMetric("rollout_bot_slack_refreshes_deferred_total")?.get();
      deferred += m?.values[0]?.value ?? 0;
    }
    return {
      rollouts: ids.length,
      bots: bots.length,
      setupMs,
      clickToRenderMs,
      rateLimited,
      steadyCalls,
      steadyMs,
      maxUpdatesPerMinute: maxInWindow(updates, 60_000),
      refreshesMade: countRefreshes(peer, ids, channelOf, steadyFrom),
      refreshesDeferred: deferred,
      readings: metrics.source.readings - readingsBefore,
    };
  } finally {
    const stopping = Date.now();
    for (const b of bots) await b.stop();
    say(`slack load: bots stopped in ${Date.now() - stopping} ms`);
    await peer.close();
    metrics.close();
    await cleanupPrefix(redis, prefix);
    await redis.quit();
    say(`slack load: cleaned up in ${Date.now() - stopping} ms`);
  }
}

/** When the message first showed `text` at or after `since` (ms), from its edit history; else undefined. */
function firstShown(m: StoredMessage, text: string, since: number): number | undefined {
  const contents = [...m.history.map((v) => v.blocks), m.blocks];
  const times = [m.at, ...m.history.map((v) => v.replacedAt)];
  for (let k = 0; k < contents.length; k++) if (times[k]! >= since && JSON.stringify(contents[k] ?? []).includes(text)) return times[k]!;
  return undefined;
}

/**
 * chat.update versions since `since` that changed only the reading: the rendering without its
 * success-rate block equals the one before (block ids aside).
 */
function countRefreshes(peer: SlackPeer, ids: string[], channelOf: Map<string, string>, since: number): number {
  const withoutReading = (blocks: unknown) =>
    JSON.stringify(
      ((blocks ?? []) as { text?: { text?: string }; block_id?: string }[])
        .filter((b) => !b.text?.text?.includes("*Success rate*"))
        .map(({ block_id: _id, ...rest }) => rest),
    );
  let n = 0;
  for (const id of ids) {
    const channel = channelOf.get(id)!;
    const m = peer.messages(channel).find((x) => JSON.stringify(x.blocks ?? []).includes(`Rollout ${id}:`));
    if (!m) continue;
    const contents = [...m.history.map((v) => v.blocks), m.blocks];
    m.history.forEach((v, k) => {
      if (v.replacedAt >= since && withoutReading(contents[k]) === withoutReading(contents[k + 1])) n++;
    });
  }
  return n;
}

/** The most timestamps within any window of `windowMs`. */
export function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; j < sorted.length; j++) {
    while (sorted[j]! - sorted[i]! >= windowMs) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

/** `n` ids spread over the list (different rollouts, different channels). */
function pick(ids: string[], n: number): string[] {
  const step = Math.max(1, Math.floor(ids.length / n));
  return Array.from({ length: Math.min(n, ids.length) }, (_, k) => ids[(k * step) % ids.length]!);
}

async function pool(n: number, width: number, f: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await f(next++);
    }),
  );
}
