import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Redis } from "ioredis";
import { EffectLanes } from "../../src/queue/lanes.ts";
import { startKubeApiPeer, type KubeApiPeer, type RequestRecord } from "../../sandbox/peers/kube-api.ts";
import { RolloutStore } from "../../src/store/rollout-store.ts";
import { cleanupPrefix, randomPrefix, REDIS_URL } from "../support/redis.ts";
import { sleep } from "../support/wait.ts";
import { buildDist, spawnBuiltBot, type BotChild } from "./bot-child.ts";
import { benchPatch, type PatchResult } from "./kubectl.ts";
import { openLoop, sendSigned, type OpenLoopResult } from "./open-loop.ts";
import { BENCH_CHANNELS, control, startSlackProcess, type SlackProcess } from "./slack-process.ts";
import { max, millis, progress, quantile, secs } from "./stats.ts";

/**
 * Issue 13's scale measurements, on the production entry point: the bot is `node dist/src/main.js` in its own
 * process (bot-child.ts), Slack is the peer in another process (slack-peer-process.ts), and the bench process
 * holds the Kubernetes API peer and the load generator. Everything the bot is asked goes in as Slack sends it:
 * signed slash commands and block_actions clicks over HTTP.
 *
 * In order, on one bot process:
 *  1. RSS at 0 rollouts, once started and settled.
 *  2. A probe rollout (`bench-probe`), then ack latency at `ackRate`/s of `/rollout status bench-probe`,
 *     open loop (open-loop.ts), with only the probe active: "idle".
 *  3. `rollouts` real `/rollout start` commands, each a distinct target (svc-0001..), 16 in flight, timed from
 *     the first send to the last rollout whose first step (10%) the bot verified on the mesh (the record's
 *     "started" event, written once it read the TrafficSplit back at 10%).
 *  4. Once the queue is idle again: the same ack measurement with all of them active.
 *  5. Steady state over `slackSeconds`: Slack Web API calls by method at the peer, the bot's CPU; then its RSS.
 *  6. `clicks` Advance clicks (10% -> 50%) on distinct rollouts, open loop at `clickRate`/s: scheduled send ->
 *     the PUT/PATCH carrying 50% arriving at the Kubernetes API peer.
 *  7. The same change by `kubectl patch` (kubectl.ts), for the ratio.
 */

/** What can be measured on its own (`--only`); every one needs the rollouts started (that is "starts"). */
export const SCALE_PHASES = ["ack", "click", "rss", "starts", "slack"] as const;
export type ScalePhase = (typeof SCALE_PHASES)[number];

export type ScaleOptions = {
  phases: ReadonlySet<ScalePhase>;
  rollouts: number;
  /**
   * Targets per namespace. The SMI router finds a target's TrafficSplit by listing every split in the
   * namespace (unless the target names it), on each read and write: with all 1,000 in one namespace that list
   * is the bot's main cost and its queue never catches up. 20 is the default, `--per-namespace 1000` shows it.
   */
  perNamespace: number;
  ackRate: number;
  ackSeconds: number;
  clicks: number;
  clickRate: number;
  slackSeconds: number;
  kubectlRuns: number;
  build: boolean;
  /**
   * Issue 24: spread the targets over this many other clusters (c-01..), each a Kubernetes API peer of its own
   * declared in the targets file's `clusters:` with its kubeconfig file; 0 (the default): the bot's own only.
   * The probe stays in the bot's own cluster. Issue 24's other row, a 10-cluster wave of one target, is
   * wave.ts (`--only wave`).
   */
  clusters?: number;
};

type Load = { load1: number };
export type AckPhase = Load & { active: number; rate: number; sent: number; latencyMs: number[]; failed: number; sendLagMs: number[]; botCpuPercent: number };

export type ScaleResult = {
  rollouts: number;
  /** Other clusters the rollouts were spread over (0: the bot's own cluster only). */
  clusters: number;
  memory: { idleMiB: number; activeMiB: number; peakMiB: number; idleHeapMiB: number; activeHeapMiB: number; activeHeapTotalMiB: number };
  ackIdle?: AckPhase;
  ackActive?: AckPhase;
  /** backlogAfter: jobs still ready (not taken) 2 minutes after the last first step, when the bot fell behind. */
  starts: Load & { count: number; wallMs: number; toFirstStepMs: number[]; ackMs: number[]; backlogAfter: number };
  slack?: Load & { windowMs: number; byMethod: Record<string, number>; status429: number; promQueries: number; botCpuPercent: number };
  clicks?: Load & { rate: number; toWriteMs: number[]; ackFailed: number; noWrite: number };
  patch?: PatchResult;
};

const USER = "UBENCH";
const PROBE = "bench-probe";
const load1 = () => loadavg()[0]!;
const svc = (i: number) => `svc-${String(i).padStart(4, "0")}`;
const startText = (name: string) => `start ${name} --to ${name}-v2`;

/**
 * Every target the bench starts, each read through the linkerd2 preset every 30 s (the default refresh) from
 * the instant Prometheus: the readings, the renders they cause and their Slack updates are the background
 * load a real fleet of rollouts puts on the bot.
 */
function targetsYaml(
  names: string[],
  perNamespace: number,
  prometheusUrl: string,
  clusters: Map<string, string> = new Map(),
  clusterOf = (_n: string): string | undefined => undefined,
): string {
  const one = (n: string, i: number) => {
    const cluster = clusterOf(n);
    return `  - { name: ${n},${cluster ? ` cluster: ${cluster},` : ""} namespace: bench-${Math.floor(i / perNamespace)}, stable: ${n}-v1, steps: [10, 50, 100], metrics: { source: prometheus, prometheusUrl: "${prometheusUrl}", preset: linkerd2 } }`;
  };
  const declared = [...clusters].map(([name, path]) => `  - { name: ${name}, kubeconfig: "${path}" }`);
  return `${declared.length ? `clusters:\n${declared.join("\n")}\n` : ""}targets:\n${names.map(one).join("\n")}\n`;
}

export async function benchScale(opts: ScaleOptions): Promise<ScaleResult> {
  if (opts.build) {
    progress("scale: npm run build (the bot runs from dist/, as in the image)");
    await buildDist();
  }
  const prefix = randomPrefix("scale");
  const signingSecret = randomBytes(12).toString("hex");
  const botToken = `xoxb-bench-${randomBytes(6).toString("hex")}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const store = new RolloutStore(redis, prefix);
  const queue = new EffectLanes(redis, store.keys.bullPrefix());
  let slack: SlackProcess | undefined;
  let kube: KubeApiPeer | undefined;
  const others = new Map<string, KubeApiPeer>();
  let bot: BotChild | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const dir = await mkdtemp(join(tmpdir(), "bench-scale-"));
  try {
    slack = await startSlackProcess(botToken, BENCH_CHANNELS);
    kube = await startKubeApiPeer({ smiFlavour: "nginx", implicitWorkloads: true });
    for (let c = 1; c <= (opts.clusters ?? 0); c++) {
      const name = `c-${String(c).padStart(2, "0")}`;
      others.set(name, await startKubeApiPeer({ cluster: name, smiFlavour: "nginx", implicitWorkloads: true }));
    }
    const names = Array.from({ length: opts.rollouts }, (_, i) => svc(i + 1));
    // Round robin over the other clusters: each name is a target in one of them (`svc-0001@c-01`).
    const clusterNames = [...others.keys()];
    const clusterOf = (n: string) => (clusterNames.length && n !== PROBE ? clusterNames[(Number(n.slice(4)) - 1) % clusterNames.length] : undefined);
    const keyOf = (n: string) => (clusterOf(n) ? `${n}@${clusterOf(n)}` : n);
    const peerOf = (n: string) => (clusterOf(n) ? others.get(clusterOf(n)!)! : kube!);
    const targetsPath = join(dir, "targets.yaml");
    const kubeconfigs = new Map([...others].map(([name, peer]) => [name, peer.kubeconfigPath]));
    await writeFile(targetsPath, targetsYaml([PROBE, ...names], opts.perNamespace, slack.prometheusUrl, kubeconfigs, clusterOf));
    bot = await spawnBuiltBot({
      signingSecret,
      slack: { botToken, apiUrl: slack.apiUrl },
      kube,
      redisUrl: REDIS_URL,
      prefix,
      extra: { ROLLOUT_TARGETS: targetsPath },
    });
    const b = bot;
    const s = slack;
    const k = kube;
    await sleep(5_000);
    const idle = await b.memory();
    progress(`scale: bot pid ${b.pid} ready; RSS ${idle.rssMiB.toFixed(0)} MiB with no rollouts`);

    // ---- 2. the probe, and ack latency with (almost) nothing running
    const [probeBody] = await slashBodies(s, [{ channelId: BENCH_CHANNELS[0]!, text: startText(PROBE) }]);
    if ((await sendSigned(agent, b.eventsUrl, signingSecret, probeBody!)) !== 200) throw new Error(`the probe's start was not acknowledged: ${b.tail()}`);
    await untilFirstStep(store, [`${PROBE}#1`], 60_000);
    const ack = async (active: number): Promise<AckPhase> => {
      const count = Math.round(opts.ackRate * opts.ackSeconds);
      const bodies = await slashBodies(
        s,
        Array.from({ length: count }, () => ({ channelId: BENCH_CHANNELS[0]!, text: `status ${PROBE}` })),
      );
      progress(`scale: ack latency, ${count} signed \`/rollout status\` at ${opts.ackRate}/s, open loop, ${active} active`);
      const cpu0 = await b.cpuMs();
      const r: OpenLoopResult = await openLoop({ url: b.eventsUrl, signingSecret, bodies, ratePerSecond: opts.ackRate });
      const botCpuPercent = (((await b.cpuMs()) - cpu0) / r.durationMs) * 100;
      return { active, rate: opts.ackRate, sent: count, latencyMs: r.latencyMs, failed: r.failed, sendLagMs: r.sendLagMs, botCpuPercent, load1: load1() };
    };
    const ackIdle = opts.phases.has("ack") ? await ack(1) : undefined;

    // ---- 3. N real starts, to their first step verified on the mesh
    const bodies = await slashBodies(
      s,
      names.map((n, i) => ({ channelId: BENCH_CHANNELS[i % BENCH_CHANNELS.length]!, text: `start ${keyOf(n)} --to ${n}-v2` })),
    );
    progress(`scale: ${names.length} \`/rollout start\` commands, 16 in flight`);
    const firstSent = Date.now();
    const ackMs: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < bodies.length) {
          const i = next++;
          const t = performance.now();
          const status = await sendSigned(agent, b.eventsUrl, signingSecret, bodies[i]!);
          if (status !== 200) throw new Error(`start ${names[i]} answered ${status}: ${b.tail()}`);
          ackMs.push(performance.now() - t);
        }
      }),
    );
    const ids = names.map((n) => `${keyOf(n)}#1`);
    const firstSteps = await untilFirstStep(store, ids, Math.max(120_000, opts.rollouts * 300));
    const lastStep = Math.max(...firstSteps.values());
    const starts = {
      count: ids.length,
      wallMs: lastStep - firstSent,
      toFirstStepMs: [...firstSteps.values()].map((at) => at - firstSent),
      ackMs,
      load1: load1(),
      backlogAfter: 0,
    };
    progress(`scale: ${ids.length} starts at their first step ${secs(starts.wallMs)} after the first was sent`);
    // Settled: the work the starts caused is done (a bot that cannot keep up is reported, not waited for forever).
    const backlog = await untilQueueIdle(queue, 120_000);
    starts.backlogAfter = backlog;
    if (backlog) progress(`scale: the bot's queue did not go idle in 2 minutes: ${backlog} jobs ready; measuring anyway`);
    await sleep(5_000);

    // ---- 4. ack latency with all of them active
    const ackActive = opts.phases.has("ack") ? await ack(ids.length + 1) : undefined;

    // ---- 5. steady state: Slack calls, CPU, then memory
    let slackRow: ScaleResult["slack"];
    if (opts.phases.has("slack")) {
      progress(`scale: steady state for ${opts.slackSeconds} s (Slack calls by method, the bot's CPU)`);
      type Calls = { byMethod: Record<string, number>; status429: number; promQueries: number };
      const [t0, cpu0, before] = [Date.now(), await b.cpuMs(), await control<Calls>(s, "/calls?since=0&until=0")];
      await sleep(opts.slackSeconds * 1000);
      const [t1, cpu1] = [Date.now(), await b.cpuMs()];
      const calls = await control<Calls>(s, `/calls?since=${t0}&until=${t1}`);
      slackRow = {
        windowMs: t1 - t0,
        byMethod: calls.body.byMethod,
        status429: calls.body.status429,
        promQueries: calls.body.promQueries - before.body.promQueries,
        botCpuPercent: ((cpu1 - cpu0) / (t1 - t0)) * 100,
        load1: load1(),
      };
    }
    const active = await b.memory();
    progress(`scale: RSS ${active.rssMiB.toFixed(0)} MiB with ${ids.length + 1} active (peak ${active.peakMiB.toFixed(0)} MiB)`);
    // Only now: writing a snapshot takes native memory that the process keeps, which would count in a later RSS.
    await b.heapSnapshot();

    const result: ScaleResult = {
      rollouts: ids.length,
      clusters: others.size,
      memory: {
        idleMiB: idle.rssMiB,
        activeMiB: active.rssMiB,
        peakMiB: active.peakMiB,
        idleHeapMiB: idle.heapUsedMiB,
        activeHeapMiB: active.heapUsedMiB,
        activeHeapTotalMiB: active.heapTotalMiB,
      },
      starts,
      ...(ackIdle && ackActive ? { ackIdle, ackActive } : {}),
      ...(slackRow ? { slack: slackRow } : {}),
    };
    if (!opts.phases.has("click")) return result;

    // ---- 6. clicks: Advance on distinct rollouts, scheduled send -> the write at the Kubernetes API
    const clicked = names.slice(0, Math.min(opts.clicks, names.length));
    const clickBodies: string[] = [];
    for (const [i, n] of clicked.entries()) {
      const res = await control<{ body: string }>(s, "/click", {
        userId: USER,
        channelId: BENCH_CHANNELS[i % BENCH_CHANNELS.length]!,
        rolloutId: `${keyOf(n)}#1`,
        label: "Advance to 50%",
      });
      if (res.status !== 200) throw new Error(`no Advance button to click on ${keyOf(n)}#1's message`);
      clickBodies.push(res.body.body);
    }
    progress(`scale: ${clicked.length} Advance clicks at ${opts.clickRate}/s, open loop`);
    // Each click's write is looked for at its own cluster's API (and only there).
    const peers = [k, ...others.values()];
    const fromRequest = new Map(peers.map((peer) => [peer, peer.requests.length]));
    const clickRun = await openLoop({ url: b.eventsUrl, signingSecret, bodies: clickBodies, ratePerSecond: opts.clickRate });
    const writes = new Map<string, number>();
    await Promise.all(
      peers.map(async (peer) => {
        const mine = clicked.filter((n) => peerOf(n) === peer);
        if (mine.length) for (const [svc, at] of await untilWritten(peer, fromRequest.get(peer)!, mine, 50, 60_000)) writes.set(svc, at);
      }),
    );
    const toWriteMs: number[] = [];
    let noWrite = 0;
    for (const [i, n] of clicked.entries()) {
      const at = writes.get(`${n}-v2`);
      if (at === undefined) noWrite++;
      else toWriteMs.push(at - clickRun.scheduledAt[i]!);
    }
    const clicks = { rate: opts.clickRate, toWriteMs, ackFailed: clickRun.failed, noWrite, load1: load1() };

    // ---- 7. the same change by kubectl
    progress(`scale: the same change by kubectl patch, ${opts.kubectlRuns} runs`);
    const patch = await benchPatch(k, opts.kubectlRuns);
    return { ...result, clicks, patch };
  } catch (err) {
    if (bot) progress(`scale: the bot's last log lines:\n${bot.tail()}`);
    throw err;
  } finally {
    agent.destroy();
    await bot?.stop();
    await slack?.close();
    await kube?.close();
    for (const peer of others.values()) await peer.close();
    await queue.close();
    await cleanupPrefix(redis, prefix);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  }
}

async function slashBodies(slack: SlackProcess, asks: { channelId: string; text: string }[]): Promise<string[]> {
  const res = await control<{ bodies: string[] }>(slack, "/slash", { requests: asks.map((a) => ({ userId: USER, ...a })) });
  if (res.status !== 200) throw new Error(`the Slack peer could not shape ${asks.length} slash commands`);
  return res.body.bodies;
}

/** Wait until every rollout's record shows its first step (10%) verified on the mesh; returns when each was (ms epoch). */
async function untilFirstStep(store: RolloutStore, ids: string[], timeoutMs: number): Promise<Map<string, number>> {
  const done = new Map<string, number>();
  const until = Date.now() + timeoutMs;
  while (done.size < ids.length) {
    for (const id of ids) {
      if (done.has(id)) continue;
      // The first step, once read back from the mesh, is recorded as the "started" event (later ones as "applied").
      const r = await store.get(id);
      const verified = r?.appliedPercent === 10 ? r.events.find((e) => (e.kind === "started" || e.kind === "applied") && e.to === 10) : undefined;
      if (verified) done.set(id, verified.at);
    }
    if (done.size === ids.length) break;
    if (Date.now() > until) {
      const stuck = ids.find((id) => !done.has(id))!;
      const r = await store.get(stuck);
      throw new Error(
        `${ids.length - done.size} of ${ids.length} rollouts never reached their first step; ${stuck}: ${r ? `${r.status}, ${r.events.map((e) => e.kind).join(" ")}` : "no record"}`,
      );
    }
    await sleep(500);
  }
  return done;
}

/** Wait for the bot's lanes to have nothing ready or running; resolves to 0, or to what was still ready at the timeout. */
async function untilQueueIdle(queue: Pick<EffectLanes<unknown, string>, "getJobCounts">, timeoutMs: number): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const c = await queue.getJobCounts("waiting", "active", "prioritized");
    const ready = (c.waiting ?? 0) + (c.prioritized ?? 0);
    if (ready + (c.active ?? 0) === 0) return 0;
    if (Date.now() > until) return ready;
    await sleep(250);
  }
}

/** The first write (from request index `from` on) giving each `<name>-v2` backend `percent`; by service name. */
async function untilWritten(kube: KubeApiPeer, from: number, names: string[], percent: number, timeoutMs: number): Promise<Map<string, number>> {
  const want = new Set(names.map((n) => `${n}-v2`));
  const seen = new Map<string, number>();
  let scanned = from;
  const until = Date.now() + timeoutMs;
  while (seen.size < want.size && Date.now() < until) {
    for (; scanned < kube.requests.length; scanned++) {
      const q = kube.requests[scanned]!;
      if (!q.mutating || q.resource !== "trafficsplits" || q.status >= 300) continue;
      for (const [service, weight] of backendsIn(q)) if (want.has(service) && weight === percent && !seen.has(service)) seen.set(service, q.at);
    }
    await sleep(200);
  }
  return seen;
}

function backendsIn(q: RequestRecord): [string, number][] {
  const backends = (q.body as { spec?: { backends?: { service?: unknown; weight?: unknown }[] } } | undefined)?.spec?.backends ?? [];
  return backends.map((x) => [String(x.service), Number(x.weight)]);
}

/** One row of the results table: what, measured, the issue's target (and whether it was met), load average. */
export type Row = { what: string; measured: string; target: string; load: string };

const p = (xs: number[], q: number) => millis(quantile(xs, q));
const loadOf = (l: Load) => l.load1.toFixed(1);
const met = (ok: boolean) => (ok ? "met" : "MISSED");

export function scaleRows(r: ScaleResult, phases: ReadonlySet<ScalePhase>): Row[] {
  const rows: Row[] = [];
  const active = `${r.rollouts + 1} active${r.clusters ? ` over ${r.clusters} other clusters` : ""}`;
  if (phases.has("ack")) {
    for (const [a, target] of [
      [r.ackIdle!, "(issue 13 measured 10 ms p99 idle)"],
      [r.ackActive!, `p99 <= 20 ms at 1,000 active: ${met(quantile(r.ackActive!.latencyMs, 0.99) <= 20)}`],
    ] as const)
      rows.push({
        what: `ack, signed /rollout status at ${a.rate}/s open loop, ${a.active} active${r.clusters && a.active > 1 ? ` over ${r.clusters} other clusters` : ""}`,
        measured: `p50 ${p(a.latencyMs, 0.5)}, p99 ${p(a.latencyMs, 0.99)}, max ${millis(max(a.latencyMs))}${a.failed ? `, ${a.failed} not 200` : ""} (sender lag p99 ${p(a.sendLagMs, 0.99)}; bot CPU ${a.botCpuPercent.toFixed(0)}%)`,
        target,
        load: loadOf(a),
      });
  }
  if (phases.has("click")) {
    const c = r.clicks!;
    const bot50 = quantile(c.toWriteMs, 0.5);
    rows.push({
      what: `click -> mesh write, ${c.toWriteMs.length} Advance clicks at ${c.rate}/s, ${active}`,
      measured: `p50 ${p(c.toWriteMs, 0.5)}, p99 ${p(c.toWriteMs, 0.99)}, max ${millis(max(c.toWriteMs))}${c.noWrite ? `, ${c.noWrite} never written` : ""}${c.ackFailed ? `, ${c.ackFailed} not acked` : ""}`,
      target: `p99 <= 50 ms: ${met(quantile(c.toWriteMs, 0.99) <= 50)}`,
      load: loadOf(c),
    });
    const k = r.patch!;
    rows.push({
      what: `the same change by ${k.tool}, ${k.toWriteMs.length} runs`,
      measured: `to the write: p50 ${p(k.toWriteMs, 0.5)}, max ${millis(max(k.toWriteMs))}; to exit p50 ${p(k.toExitMs, 0.5)}`,
      target: `${(quantile(k.toWriteMs, 0.5) / bot50).toFixed(1)}x the click's p50`,
      load: loadOf(c),
    });
  }
  if (phases.has("rss")) {
    rows.push({
      what: "RSS of node dist/src/main.js (VmRSS)",
      measured:
        `${r.memory.idleMiB.toFixed(0)} MiB at 0, ${r.memory.activeMiB.toFixed(0)} MiB at ${active} (peak ${r.memory.peakMiB.toFixed(0)} MiB); ` +
        `V8 heap used ${r.memory.idleHeapMiB.toFixed(0)} -> ${r.memory.activeHeapMiB.toFixed(0)} MiB of ${r.memory.activeHeapTotalMiB.toFixed(0)}`,
      target: `<= 256 MiB: ${met(r.memory.activeMiB <= 256)}`,
      load: r.slack ? loadOf(r.slack) : "",
    });
  }
  if (phases.has("starts")) {
    const s = r.starts;
    rows.push({
      what: `${s.count} signed /rollout start (distinct targets, 16 in flight) -> first step verified on the mesh`,
      measured:
        `all in ${secs(s.wallMs)} (${(s.count / (s.wallMs / 1000)).toFixed(0)}/s); ack p50 ${p(s.ackMs, 0.5)}, p99 ${p(s.ackMs, 0.99)}` +
        (s.backlogAfter ? `; ${s.backlogAfter} jobs still waiting 2 min later` : ""),
      target: "",
      load: loadOf(s),
    });
  }
  if (phases.has("slack")) {
    const sl = r.slack!;
    const perMin = (n: number) => (n * 60_000) / sl.windowMs;
    const total = Object.values(sl.byMethod).reduce((a, b) => a + b, 0);
    const methods = Object.entries(sl.byMethod)
      .sort((a, b) => b[1] - a[1])
      .map(([m, n]) => `${m} ${perMin(n).toFixed(0)}`)
      .join(", ");
    rows.push({
      what: `Slack Web API calls per minute, ${active}, steady state (${secs(sl.windowMs, 0)})`,
      measured: `${perMin(total).toFixed(0)}/min (${methods || "none"}); ${sl.status429} answered 429; meanwhile ${perMin(sl.promQueries).toFixed(0)} PromQL queries/min, bot CPU ${sl.botCpuPercent.toFixed(0)}%`,
      target: "real Slack: ~50 chat.update/min, ~1 chat.postMessage/s per channel",
      load: loadOf(sl),
    });
  }
  return rows;
}

/** The rows as a fixed-width text table. */
export function formatTable(rows: Row[]): string {
  const head: Row = { what: "measurement", measured: "result", target: "target", load: "load" };
  const all = [head, ...rows];
  const w = (k: keyof Row) => Math.max(...all.map((x) => x[k].length));
  const line = (x: Row) => `${x.what.padEnd(w("what"))} | ${x.measured.padEnd(w("measured"))} | ${x.target.padEnd(w("target"))} | ${x.load}`.trimEnd();
  return [line(head), "-".repeat(line(head).length), ...rows.map(line)].join("\n");
}
