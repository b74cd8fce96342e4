import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { startKubeApiPeer, type KubeApiPeer, type RequestRecord } from "../../sandbox/peers/kube-api.ts";
import { RolloutStore } from "../../src/store/rollout-store.ts";
import { cleanupPrefix, randomPrefix, REDIS_URL } from "../support/redis.ts";
import { sleep } from "../support/wait.ts";
import { buildDist, spawnBuiltBot, type BotChild } from "./bot-child.ts";
import { sendSigned } from "./open-loop.ts";
import { BENCH_CHANNELS, control, startSlackProcess, type SlackProcess } from "./slack-process.ts";
import { max, millis, min, progress, quantile, secs } from "./stats.ts";
import type { Row } from "./scale.ts";

/**
 * Issue 24's row "a 10-cluster wave of one target", on the production entry point (`node dist/src/main.js` in
 * its own process, bot-child.ts), the Slack peer in a process of its own: `clusters` Kubernetes API peers
 * (w-01.., in the bench process, each recording every request's time), declared in the targets file with
 * their kubeconfig files, and one target `wave-svc` whose wave runs through all of them with steps
 * [10, 50, 100] and a manual gate. The bench clicks through the Slack peer as soon as each button is on the
 * message (Advance to 50%, Advance to 100%, Finish, then Advance to the next cluster), and measures:
 *  - the time from the start command to the last cluster's 100% write, and to the rollout's completion;
 *  - per cluster, from its turn (the start, or the gate's click) to its 100% write;
 *  - click -> the write it causes, at each gate (the next cluster's 10%) and at each step (50%, 100%);
 *  - the Kubernetes API requests each cluster received, and how many came before its turn (should be none).
 */

export type WaveOptions = { clusters: number; build: boolean };

export type WaveResult = {
  clusters: number;
  /** Start command sent -> the last cluster's 100% write; -> the record `completed`. */
  toLastFullMs: number;
  toCompletedMs: number;
  /** Per cluster, its turn -> its 100% write. */
  perClusterMs: number[];
  gateToWriteMs: number[];
  stepToWriteMs: number[];
  /**
   * Per click, from the moment it could be meaningful (the write before it verified, or the Finish clicked)
   * to the button being on the message: the message's pace, which the bot's Slack budget sets.
   */
  buttonWaitMs: number[];
  /** Slack Web API calls by method while the wave ran, and how many the peer answered 429. */
  slack: { byMethod: Record<string, number>; status429: number };
  /** Requests each cluster's API received after the start was sent (reads and writes), and its writes. */
  requests: { cluster: string; all: number; writes: number; beforeTurn: number }[];
  load1: number;
};

const USER = "UBENCH";
const TARGET = "wave-svc";
const CHANNEL = BENCH_CHANNELS[0]!;
const clusterName = (i: number) => `w-${String(i + 1).padStart(2, "0")}`;

function targetsYaml(clusters: Map<string, string>, prometheusUrl: string): string {
  const declared = [...clusters].map(([name, path]) => `  - { name: ${name}, kubeconfig: "${path}" }`).join("\n");
  return `clusters:
${declared}
targets:
  - name: ${TARGET}
    clusters: [${[...clusters.keys()].join(", ")}]
    wave: { gate: manual }
    namespace: bench
    stable: ${TARGET}-v1
    steps: [10, 50, 100]
    metrics: { source: prometheus, prometheusUrl: "${prometheusUrl}", preset: linkerd2 }
`;
}

/** The canary's weight in a TrafficSplit write, or undefined for another request. */
function canaryWeight(q: RequestRecord): number | undefined {
  if (!q.mutating || q.resource !== "trafficsplits" || q.status >= 300) return undefined;
  const backends = (q.body as { spec?: { backends?: { service?: unknown; weight?: unknown }[] } } | undefined)?.spec?.backends ?? [];
  const b = backends.find((x) => x.service === `${TARGET}-v2`);
  return b ? Number(b.weight) : undefined;
}

/** The time of the first write (from request `from` on) giving the canary `percent` in this cluster. */
async function untilWrite(peer: KubeApiPeer, from: number, percent: number, timeoutMs = 30_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  let i = from;
  for (;;) {
    for (; i < peer.requests.length; i++) if (canaryWeight(peer.requests[i]!) === percent) return peer.requests[i]!.at;
    if (Date.now() > until) throw new Error(`no write of ${percent}% to ${peer.cluster} within ${timeoutMs} ms`);
    await sleep(5);
  }
}

export async function benchWave(opts: WaveOptions): Promise<WaveResult> {
  if (opts.build) {
    progress("wave: npm run build (the bot runs from dist/, as in the image)");
    await buildDist();
  }
  const prefix = randomPrefix("wave");
  const signingSecret = randomBytes(12).toString("hex");
  const botToken = `xoxb-bench-${randomBytes(6).toString("hex")}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const store = new RolloutStore(redis, prefix);
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const dir = await mkdtemp(join(tmpdir(), "bench-wave-"));
  let slack: SlackProcess | undefined;
  let own: KubeApiPeer | undefined;
  const peers = new Map<string, KubeApiPeer>();
  let bot: BotChild | undefined;
  try {
    slack = await startSlackProcess(botToken, BENCH_CHANNELS);
    own = await startKubeApiPeer({ smiFlavour: "nginx", implicitWorkloads: true });
    for (let i = 0; i < opts.clusters; i++) {
      const name = clusterName(i);
      peers.set(name, await startKubeApiPeer({ cluster: name, smiFlavour: "nginx", implicitWorkloads: true }));
    }
    const targetsPath = join(dir, "targets.yaml");
    await writeFile(targetsPath, targetsYaml(new Map([...peers].map(([n, p]) => [n, p.kubeconfigPath])), slack.prometheusUrl));
    bot = await spawnBuiltBot({
      signingSecret,
      slack: { botToken, apiUrl: slack.apiUrl },
      kube: own,
      redisUrl: REDIS_URL,
      prefix,
      extra: { ROLLOUT_TARGETS: targetsPath },
    });
    const b = bot;
    const s = slack;
    await sleep(2_000);
    progress(`wave: bot pid ${b.pid} ready; one wave of ${TARGET} through ${opts.clusters} clusters, steps 10/50/100, every gate opened at once`);

    const buttonWaitMs: number[] = [];
    /** Send `label`'s click as soon as the message offers it (`since`: when it could first be); resolves to when it was sent. */
    const click = async (label: string, since: number): Promise<number> => {
      for (;;) {
        const res = await control<{ body: string }>(s, "/click", { userId: USER, channelId: CHANNEL, rolloutId: `${TARGET}#1`, label });
        if (res.status === 200) {
          const at = Date.now();
          buttonWaitMs.push(at - since);
          if (at - since > 10_000) progress(`wave: "${label}" was on the message only ${secs(at - since)} after it could be`);
          const status = await sendSigned(agent, b.eventsUrl, signingSecret, res.body.body);
          if (status !== 200) throw new Error(`the click on ${label} answered ${status}: ${b.tail()}`);
          return at;
        }
        await sleep(10);
      }
    };

    const names = [...peers.keys()];
    const from = new Map(names.map((n) => [n, peers.get(n)!.requests.length]));
    const [startBody] = (
      await control<{ bodies: string[] }>(s, "/slash", { requests: [{ userId: USER, channelId: CHANNEL, text: `start ${TARGET} --to ${TARGET}-v2` }] })
    ).body.bodies;
    const startedAt = Date.now();
    if ((await sendSigned(agent, b.eventsUrl, signingSecret, startBody!)) !== 200) throw new Error(`the start was not acknowledged: ${b.tail()}`);

    const turns: number[] = [];
    const perClusterMs: number[] = [];
    const gateToWriteMs: number[] = [];
    const stepToWriteMs: number[] = [];
    let lastFull = 0;
    let finished = startedAt;
    for (const [i, name] of names.entries()) {
      const peer = peers.get(name)!;
      let turn = startedAt;
      let wrote: number;
      if (i > 0) {
        const mark = peer.requests.length;
        turn = await click(`Advance to ${name}`, finished);
        wrote = await untilWrite(peer, mark, 10);
        gateToWriteMs.push(wrote - turn);
      } else wrote = await untilWrite(peer, from.get(name)!, 10);
      turns.push(turn);
      for (const percent of [50, 100]) {
        const mark = peer.requests.length;
        const at = await click(`Advance to ${percent}%`, wrote);
        wrote = await untilWrite(peer, mark, percent);
        stepToWriteMs.push(wrote - at);
        if (percent === 100) {
          perClusterMs.push(wrote - turn);
          lastFull = wrote;
        }
      }
      finished = await click("Finish", wrote);
      progress(`wave: ${name} at 100% ${secs(lastFull - startedAt)} after the start`);
    }
    let completedAt = 0;
    for (const until = Date.now() + 60_000; !completedAt && Date.now() < until; await sleep(20)) {
      const r = await store.get(`${TARGET}#1`);
      if (r?.status === "completed") completedAt = r.endedAt ?? r.updatedAt;
    }
    if (!completedAt) throw new Error(`the wave did not complete: ${(await store.get(`${TARGET}#1`))?.status}`);

    const calls = await control<{ byMethod: Record<string, number>; status429: number }>(s, `/calls?since=${startedAt}&until=${Date.now()}`);
    const requests = names.map((name, i) => {
      const mine = peers.get(name)!.requests.slice(from.get(name)!);
      return { cluster: name, all: mine.length, writes: mine.filter((q) => q.mutating).length, beforeTurn: mine.filter((q) => q.at < turns[i]!).length };
    });
    return {
      clusters: opts.clusters,
      toLastFullMs: lastFull - startedAt,
      toCompletedMs: completedAt - startedAt,
      perClusterMs,
      gateToWriteMs,
      stepToWriteMs,
      requests,
      buttonWaitMs,
      slack: { byMethod: calls.body.byMethod, status429: calls.body.status429 },
      load1: loadavg()[0]!,
    };
  } catch (err) {
    if (bot) progress(`wave: the bot's last log lines:\n${bot.tail()}`);
    throw err;
  } finally {
    agent.destroy();
    await bot?.stop();
    await slack?.close();
    await own?.close();
    for (const p of peers.values()) await p.close();
    await cleanupPrefix(redis, prefix);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  }
}

const p = (xs: number[], q: number) => millis(quantile(xs, q));

export function waveRows(r: WaveResult): Row[] {
  const load = r.load1.toFixed(1);
  const counts = r.requests.map((x) => x.all);
  const writes = r.requests.map((x) => x.writes);
  const early = r.requests.filter((x) => x.beforeTurn > 0);
  return [
    {
      what: `a ${r.clusters}-cluster wave of one target, steps 10/50/100, each gate clicked once reached: start -> last cluster at 100%`,
      measured: `${secs(r.toLastFullMs)} (completed, every cluster final: ${secs(r.toCompletedMs)}); per cluster, turn -> 100%: p50 ${p(r.perClusterMs, 0.5)}, max ${millis(max(r.perClusterMs))}`,
      target: "",
      load,
    },
    {
      what: `wave: click -> write, ${r.gateToWriteMs.length} gates (Advance to the next cluster -> its 10%) and ${r.stepToWriteMs.length} steps`,
      measured: `gates p50 ${p(r.gateToWriteMs, 0.5)}, p99 ${p(r.gateToWriteMs, 0.99)}; steps p50 ${p(r.stepToWriteMs, 0.5)}, p99 ${p(r.stepToWriteMs, 0.99)}`,
      target: `p99 <= 50 ms: ${quantile([...r.gateToWriteMs, ...r.stepToWriteMs], 0.99) <= 50 ? "met" : "MISSED"}`,
      load,
    },
    {
      what: `wave: each button's wait to be on the message (after the write before it, or Finish), ${r.buttonWaitMs.length} clicks`,
      measured: `p50 ${p(r.buttonWaitMs, 0.5)}, p90 ${p(r.buttonWaitMs, 0.9)}, max ${millis(max(r.buttonWaitMs))}; Slack calls meanwhile: ${Object.entries(
        r.slack.byMethod,
      )
        .map(([m, n]) => `${m} ${n}`)
        .join(", ")}; ${r.slack.status429} answered 429`,
      target: "",
      load,
    },
    {
      what: `wave: Kubernetes API requests per cluster (from the start on)`,
      measured: `${min(counts)}-${max(counts)} (writes ${min(writes)}-${max(writes)}); before the cluster's turn: ${early.length ? early.map((x) => `${x.cluster} ${x.beforeTurn}`).join(", ") : "none in any cluster"}`,
      target: "none before its turn",
      load,
    },
  ];
}
