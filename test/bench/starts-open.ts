import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { EffectLanes, LANE_NAMES } from "../../src/queue/lanes.ts";
import { RolloutStore } from "../../src/store/rollout-store.ts";
import { cleanupPrefix, randomPrefix, REDIS_URL } from "../support/redis.ts";
import { sleep } from "../support/wait.ts";
import { buildDist, spawnBuiltBot, type BotChild } from "./bot-child.ts";
import { openLoop } from "./open-loop.ts";
import { control, startSlackProcess, type SlackProcess } from "./slack-process.ts";
import type { Row } from "./scale.ts";
import { millis, progress, quantile, secs } from "./stats.ts";

/**
 * Issue 24's start throughput, measured the way it was measured from outside: the production entry point
 * (`node dist/src/main.js` with the image's ENV and a targets file), the Slack peer and the Kubernetes API peer
 * each in a process of its own, and `rollouts` signed `/rollout start` commands sent open loop at `rate`/s
 * (each at its scheduled moment, whatever became of the earlier ones) over `channels` channels, one person per
 * start. Three clocks, all from the first command's scheduled send:
 *  - mesh: the TrafficSplit write giving the canary its first step (10%) arrives at the Kubernetes API peer;
 *  - record: the rollout's record shows the first step verified (its "started" event);
 *  - message: the rollout's message in its channel (posted or updated) shows it running at 10%.
 * With counts for the same window: Kubernetes API requests by kind, Slack Web API calls by method (and 429s),
 * the bot's effect jobs by name with their queue waits, and the bot's CPU.
 */

export type StartsOpenOptions = { rollouts: number; rate: number; channels: number; build: boolean; perNamespace: number };

export type StartsOpenResult = {
  rollouts: number;
  rate: number;
  channels: number;
  sendMs: number;
  ackFailed: number;
  ackMs: number[];
  /** Ack p99 (ms) of the commands due in each second of the burst, in order. */
  ackP99BySecond: number[];
  /** ms from the first scheduled send, one per rollout that got there (missing: never within the timeout). */
  meshMs: number[];
  recordMs: number[];
  messageMs: number[];
  kube: Record<string, number>;
  slack: Record<string, number>;
  slack429: number;
  /** Per job name: how many ran, and their waits (ready -> taken by a worker), ms. */
  jobs: Record<string, { count: number; waitMs: number[]; runMs: number[] }>;
  botCpuPercent: number;
  /** The bot's CPU time (ms) from the first send until every first step was on the mesh, and until every message showed it. */
  cpuToMeshMs: number | undefined;
  cpuToMessageMs: number;
  load1: number;
};

type KubeProcess = { child: ChildProcess; kubeconfigPath: string; controlUrl: string; close(): Promise<void> };

async function startKubeProcess(): Promise<KubeProcess> {
  const script = fileURLToPath(new URL("./kube-peer-process.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  const first = await Promise.race([
    once(lines, "line").then(([line]) => String(line)),
    once(child, "exit").then(([code]) => {
      throw new Error(`the Kubernetes API peer process exited (${String(code)}) before listening`);
    }),
  ]);
  lines.close();
  const { kubeconfigPath, controlUrl } = JSON.parse(first) as { kubeconfigPath: string; controlUrl: string };
  return {
    child,
    kubeconfigPath,
    controlUrl,
    async close() {
      const exited = once(child, "exit");
      child.stdin?.end();
      await Promise.race([exited, sleep(5_000).then(() => child.kill("SIGKILL"))]);
    },
  };
}

const svc = (i: number) => `svc-${String(i).padStart(4, "0")}`;

function targetsYaml(names: string[], perNamespace: number, prometheusUrl: string): string {
  const one = (n: string, i: number) =>
    `  - { name: ${n}, namespace: bench-${Math.floor(i / perNamespace)}, stable: ${n}-v1, steps: [10, 50, 100], metrics: { source: prometheus, prometheusUrl: "${prometheusUrl}", preset: linkerd2 } }`;
  return `targets:\n${names.map(one).join("\n")}\n`;
}

export async function benchStartsOpen(opts: StartsOpenOptions): Promise<StartsOpenResult> {
  if (opts.build) {
    progress("starts-open: npm run build (the bot runs from dist/, as in the image)");
    await buildDist();
  }
  const prefix = randomPrefix("startsopen");
  const signingSecret = randomBytes(12).toString("hex");
  const botToken = `xoxb-bench-${randomBytes(6).toString("hex")}`;
  const channels = Array.from({ length: opts.channels }, (_, i) => `C0OPEN${String(i).padStart(3, "0")}`);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const store = new RolloutStore(redis, prefix);
  const queue = new EffectLanes(redis, store.keys.bullPrefix());
  let slack: SlackProcess | undefined;
  let kube: KubeProcess | undefined;
  let bot: BotChild | undefined;
  const dir = await mkdtemp(join(tmpdir(), "bench-starts-open-"));
  try {
    [slack, kube] = await Promise.all([startSlackProcess(botToken, channels), startKubeProcess()]);
    const names = Array.from({ length: opts.rollouts }, (_, i) => svc(i + 1));
    const targetsPath = join(dir, "targets.yaml");
    await writeFile(targetsPath, targetsYaml(names, opts.perNamespace, slack.prometheusUrl));
    bot = await spawnBuiltBot({
      signingSecret,
      slack: { botToken, apiUrl: slack.apiUrl },
      kube,
      redisUrl: REDIS_URL,
      prefix,
      // BENCH_BOT_ENV: more environment for the bot as JSON, to compare settings back to back
      // (e.g. '{"NODE_OPTIONS": ""}' drops the image's young-generation cap).
      extra: { ROLLOUT_TARGETS: targetsPath, ...(JSON.parse(process.env.BENCH_BOT_ENV ?? "{}") as Record<string, string>) },
    });
    const b = bot;
    await sleep(3_000);
    const asks = names.map((n, i) => ({
      userId: `UOPEN${String(i).padStart(4, "0")}`,
      channelId: channels[i % channels.length]!,
      text: `start ${n} --to ${n}-v2`,
    }));
    const shaped = await control<{ bodies: string[] }>(slack, "/slash", { requests: asks });
    if (shaped.status !== 200) throw new Error("the Slack peer could not shape the slash commands");
    progress(`starts-open: ${names.length} \`/rollout start\` at ${opts.rate}/s open loop over ${channels.length} channels`);
    const cpu0 = await b.cpuMs();
    const run = await openLoop({ url: b.eventsUrl, signingSecret, bodies: shaped.body.bodies, ratePerSecond: opts.rate });
    const t0 = run.scheduledAt[0]!;

    // Every rollout's first step on the mesh and on its message, or the timeout; the bot's CPU at each.
    const timeoutMs = Math.max(180_000, opts.rollouts * 300);
    let shown: Record<string, number> = {};
    let written: Record<string, number> = {};
    let cpuAtMesh: number | undefined;
    for (const until = Date.now() + timeoutMs; Date.now() < until;) {
      if (cpuAtMesh === undefined) {
        written = (await control<{ at: Record<string, number> }>(kube, "/written?percent=10")).body.at;
        if (Object.keys(written).length >= names.length) cpuAtMesh = await b.cpuMs();
      }
      shown = (await control<{ at: Record<string, number> }>(slack, "/shown?percent=10")).body.at;
      if (cpuAtMesh !== undefined && Object.keys(shown).length >= names.length) break;
      await sleep(500);
    }
    const t1 = Date.now();
    const cpuAtMessage = await b.cpuMs();
    const botCpuPercent = ((cpuAtMessage - cpu0) / (t1 - t0)) * 100;
    if (cpuAtMesh === undefined) written = (await control<{ at: Record<string, number> }>(kube, "/written?percent=10")).body.at;
    const recordMs: number[] = [];
    for (const n of names) {
      const r = await store.get(`${n}#1`);
      const e = r?.events.find((x) => (x.kind === "started" || x.kind === "applied") && x.to === 10);
      if (e) recordMs.push(e.at - t0);
    }
    const kubeAsked = (
      await control<{ byKind: Record<string, number>; total: number; connections: number }>(kube, `/requests?since=${Math.floor(t0)}&until=${t1}`)
    ).body;
    const kubeCounts = { ...kubeAsked.byKind, total: kubeAsked.total, "TCP connections (whole run)": kubeAsked.connections };
    const calls = (await control<{ byMethod: Record<string, number>; status429: number }>(slack, `/calls?since=${Math.floor(t0)}&until=${t1}`)).body;
    const jobs: StartsOpenResult["jobs"] = {};
    for (const j of (
      await Promise.all(LANE_NAMES.map((lane) => queue.queues[lane].getJobs(["completed", "failed", "active", "waiting", "delayed", "prioritized"])))
    ).flat()) {
      if (!j?.processedOn || j.timestamp < t0) continue;
      const x = (jobs[j.name] ??= { count: 0, waitMs: [], runMs: [] });
      x.count++;
      if (j.finishedOn) x.runMs.push(j.finishedOn - j.processedOn);
      x.waitMs.push(j.processedOn - (j.timestamp + (j.opts.delay ?? 0)));
    }
    return {
      rollouts: names.length,
      rate: opts.rate,
      channels: channels.length,
      sendMs: run.durationMs,
      ackFailed: run.failed,
      ackMs: run.latencyMs,
      ackP99BySecond: Array.from({ length: Math.ceil(names.length / opts.rate) }, (_, sec) =>
        quant(
          run.latencyByRequest.slice(sec * opts.rate, (sec + 1) * opts.rate).flatMap((x) => (x === undefined ? [] : [x])),
          0.99,
        ),
      ),
      meshMs: names.flatMap((n) => (written[`${n}-v2`] !== undefined ? [written[`${n}-v2`]! - t0] : [])),
      recordMs,
      messageMs: names.flatMap((n) => (shown[`${n}#1`] !== undefined ? [shown[`${n}#1`]! - t0] : [])),
      kube: kubeCounts,
      slack: calls.byMethod,
      slack429: calls.status429,
      jobs,
      botCpuPercent,
      cpuToMeshMs: cpuAtMesh === undefined ? undefined : cpuAtMesh - cpu0,
      cpuToMessageMs: cpuAtMessage - cpu0,
      load1: loadavg()[0]!,
    };
  } catch (err) {
    if (bot) progress(`starts-open: the bot's last log lines:\n${bot.tail()}`);
    throw err;
  } finally {
    await bot?.stop();
    await slack?.close();
    await kube?.close();
    await queue.close();
    await cleanupPrefix(redis, prefix);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  }
}

export function describeStartsOpen(r: StartsOpenResult): string {
  const all = (xs: number[]) =>
    xs.length === r.rollouts ? `all in ${secs(Math.max(...xs))}` : `${xs.length} of ${r.rollouts} (last ${secs(Math.max(0, ...xs))})`;
  return [
    `mesh ${all(r.meshMs)}, record ${all(r.recordMs)}, message ${all(r.messageMs)}; sent in ${secs(r.sendMs)}, ${r.ackFailed} not acked`,
    `kube ${JSON.stringify(r.kube)}`,
    `slack ${JSON.stringify(r.slack)} 429s ${r.slack429}`,
    `jobs ${Object.entries(r.jobs)
      .map(
        ([k, v]) =>
          `${k} ${v.count} (wait p50 ${secs(quant(v.waitMs, 0.5))}, max ${secs(Math.max(...v.waitMs))}; run p50 ${quant(v.runMs, 0.5)} ms, p99 ${quant(v.runMs, 0.99)} ms)`,
      )
      .join("; ")}`,
    `ack p50 ${quant(r.ackMs, 0.5).toFixed(0)} ms, p99 ${quant(r.ackMs, 0.99).toFixed(0)} ms; p99 of each second's commands: ${r.ackP99BySecond.map((x) => x.toFixed(0)).join(", ")} ms`,
    `bot CPU per start: ${r.cpuToMeshMs === undefined ? "n/a" : (r.cpuToMeshMs / r.rollouts).toFixed(1)} ms to the mesh, ${(r.cpuToMessageMs / r.rollouts).toFixed(1)} ms to the message`,
    `bot CPU ${r.botCpuPercent.toFixed(0)}%, load ${r.load1.toFixed(1)}`,
  ].join("\n");
}

function quant(xs: number[], q: number): number {
  return xs.length ? quantile(xs, q) : Number.NaN;
}

/** The issue's target: every first step on the mesh within 20 s of the first command. */
export const FIRST_STEPS_TARGET_MS = 20_000;

/** The summary table's rows (see run.ts): the mesh against the target, the message, and the counts per start. */
export function startsOpenRows(r: StartsOpenResult): Row[] {
  const last = (xs: number[]) => (xs.length ? Math.max(...xs) : Number.NaN);
  const all = (xs: number[]) => (xs.length === r.rollouts ? `all in ${secs(last(xs))}` : `only ${xs.length} of ${r.rollouts} (${secs(last(xs))})`);
  const meshDone = r.meshMs.length === r.rollouts ? last(r.meshMs) : Number.POSITIVE_INFINITY;
  const load = r.load1.toFixed(1);
  const perChannel = Math.ceil(r.rollouts / r.channels);
  const kubeTotal = r.kube.total ?? 0;
  const slackTotal = Object.values(r.slack).reduce((a, b) => a + b, 0);
  const jobsTotal = Object.values(r.jobs).reduce((a, j) => a + j.count, 0);
  const per = (n: number) => (n / r.rollouts).toFixed(1);
  return [
    {
      what: `${r.rollouts} signed /rollout start at ${r.rate}/s open loop over ${r.channels} channels (peers in their own processes) -> first step on the mesh`,
      measured:
        `${all(r.meshMs)} (record ${all(r.recordMs)}); ack p50 ${millis(quant(r.ackMs, 0.5))}, p99 ${millis(quant(r.ackMs, 0.99))}` +
        (r.ackFailed ? `, ${r.ackFailed} not answered within 10 s` : ""),
      target: `<= 20 s: ${meshDone <= FIRST_STEPS_TARGET_MS ? "met" : "MISSED"}`,
      load,
    },
    {
      what: `  the same, until each rollout's message shows its first step`,
      measured: all(r.messageMs),
      target: `Slack: ~1 post/s per channel, ${perChannel} parents per channel: >= ~${perChannel} s`,
      load,
    },
    {
      what: `  the same, per start`,
      measured:
        `bot CPU ${r.cpuToMeshMs === undefined ? "n/a" : millis(r.cpuToMeshMs / r.rollouts)} to the mesh, ${millis(r.cpuToMessageMs / r.rollouts)} to the message; ` +
        `${per(kubeTotal)} Kubernetes requests (${r.kube["TCP connections (whole run)"] ?? "?"} TCP connections in all), ${per(slackTotal)} Slack calls, ${per(jobsTotal)} effect jobs`,
      target: "",
      load,
    },
  ];
}

// Run on its own: node --import tsx test/bench/starts-open.ts [rollouts] [rate] [channels]
if (import.meta.url === `file://${process.argv[1]}`) {
  const [rollouts = "1000", rate = "100", channels = "50"] = process.argv.slice(2);
  const r = await benchStartsOpen({ rollouts: Number(rollouts), rate: Number(rate), channels: Number(channels), build: false, perNamespace: 20 });
  process.stdout.write(`${describeStartsOpen(r)}\n`);
  process.exit(0);
}
