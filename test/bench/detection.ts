import type { Rollout } from "../../src/engine/rollout.ts";
import { PRESETS, PrometheusSource } from "../../src/metrics/prometheus.ts";
import { startMeshMetrics, type MeshMetrics } from "../../sandbox/peers/mesh-metrics.ts";
import { startPrometheus, type PrometheusServer } from "../../sandbox/peers/prometheus.ts";
import { PROMETHEUS_BIN } from "../support/prometheus.ts";
import { CHANNEL, startHarness, type Harness } from "../support/bot-harness.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { max, median, progress, secs } from "./stats.ts";

/**
 * Detection-to-revert: from the moment Prometheus shows the canary below its floor to the moment the
 * revert (canary weight 0) reaches the Kubernetes API.
 *
 * Real Prometheus scraping the mesh-metrics peer every second, the real bot (Bolt, Redis, BullMQ, the SMI
 * router against the Kubernetes API peer), an automatic rollout whose interval (10m) is far beyond the
 * run: only the between-steps check (snapshot job + shouldAbortBetweenSteps) can catch the failure.
 *
 * Why it is bounded by about two refresh intervals (refreshSeconds = 5, the schema minimum):
 *  - readings are taken at wall-clock slot boundaries (every 5 s); the first reading after the crossing
 *    comes 0..5 s later and stores verdict "worse";
 *  - one unhealthy reading never aborts (a reading every few seconds would sooner or later call a healthy
 *    canary "worse" by chance once): shouldAbortBetweenSteps wants two "worse" readings in a row, so the
 *    abort waits for the next slot, 5 s after the first;
 *  - the abort is then a compare-and-set plus a reconcile job that writes the split (tens of ms).
 * So detection-to-revert ~ U(0, 5 s) + 5 s + processing: 5..10 s, p50 ~7.5 s. A "worse" verdict may
 * also come a little *before* the floor is crossed: the two-proportion test against stable can convict a
 * canary at 97% long before its rate falls under 95%; then threshold->worse is negative.
 */

export type DetectionRun = {
  run: number;
  /** The bench's own PromQL poll (every 250 ms) first saw the canary's success rate below minSuccessRate. */
  crossingAt: number;
  /** The first reading the bot stored with verdict "worse" (its `at`: when it asked Prometheus). */
  firstWorseAt: number;
  /** What convicted it first: "stable" (two-proportion test) or "floor". */
  firstWorseBasis: string;
  /** The abort-requested event on the record. */
  abortAt: number;
  /** The Kubernetes API peer received the PUT of the TrafficSplit with the canary at 0. */
  putAt: number;
};

export type DetectionResult = {
  runs: DetectionRun[];
  totalMs: number[];
  thresholdToWorseMs: number[];
  worseToAbortMs: number[];
  abortToPutMs: number[];
};

const REFRESH_SECONDS = 5;
const WINDOW_SECONDS = 5;
const MIN_SUCCESS_RATE = 0.95;
const ERROR_RATE = 0.3;
const POLL_MS = 250;

function targetYaml(i: number, promUrl: string): string {
  return `
  - name: web-d${i}
    namespace: det${i}
    stable: web-v1
    steps: [10, 50, 100]
    smi: { trafficSplit: web-d${i}, apexService: web }
    auto: { maxWait: 1m, notice: 2s }
    metrics: { source: prometheus, prometheusUrl: "${promUrl}", preset: linkerd2, scrapeIntervalSeconds: 1, windowSeconds: ${WINDOW_SECONDS}, refreshSeconds: ${REFRESH_SECONDS}, minSuccessRate: ${MIN_SUCCESS_RATE}, minRequests: 20, confidence: 0.99, maxErrorIncrease: 0.05 }`;
}

export async function benchDetection(opts: { runs: number }): Promise<DetectionResult> {
  let mesh: MeshMetrics | undefined;
  let prom: PrometheusServer | undefined;
  let h: Harness | undefined;
  try {
    mesh = await startMeshMetrics();
    for (let i = 1; i <= opts.runs; i++) {
      mesh.setTraffic({ namespace: `det${i}`, deployment: "web-v1", rps: 200, errorRate: 0, latencyMs: 8 });
      mesh.setTraffic({ namespace: `det${i}`, deployment: "web-v2", rps: 60, errorRate: 0, latencyMs: 9 });
    }
    prom = await startPrometheus({ scrapeTargets: [mesh.hostPort], scrapeIntervalSeconds: 1, binary: PROMETHEUS_BIN });
    const yaml = `targets:${Array.from({ length: opts.runs }, (_, k) => targetYaml(k + 1, prom!.url)).join("")}\n`;
    h = await startHarness({ targetsYaml: yaml });
    progress("detection: waiting for Prometheus to scrape the mesh (its first scrape comes ~5 s after start)");
    await prom.whenScraping(30_000);
    // The runs are independent rollouts in their own namespaces, so they overlap (staggered) to keep the
    // bench short; five near-idle rollouts do not load the bot.
    const runs = await Promise.all(Array.from({ length: opts.runs }, (_, k) => oneRun(h!, mesh!, prom!, k + 1)));
    return {
      runs,
      totalMs: runs.map((r) => r.putAt - r.crossingAt),
      thresholdToWorseMs: runs.map((r) => r.firstWorseAt - r.crossingAt),
      worseToAbortMs: runs.map((r) => r.abortAt - r.firstWorseAt),
      abortToPutMs: runs.map((r) => r.putAt - r.abortAt),
    };
  } finally {
    await h?.close();
    await prom?.stop();
    await mesh?.stop();
  }
}

async function oneRun(h: Harness, mesh: MeshMetrics, prom: PrometheusServer, i: number): Promise<DetectionRun> {
  const name = `web-d${i}`;
  const ns = `det${i}`;
  await sleep((i - 1) * 1_300);
  await h.driver.slash({ userId: "UBENCH", channelId: CHANNEL, text: `start ${name} --to web-v2 --auto 10m` });
  const id = `${name}#1`;
  // Running at 10% with a healthy reading stored: the state a failure interrupts.
  const started = await waitFor(
    async () => {
      const r = await h.bot.store.get(id);
      return r?.status === "active" && r.appliedPercent === 10 && r.snapshot?.verdict.kind === "healthy" ? r : undefined;
    },
    { timeoutMs: 40_000, intervalMs: 100, what: `${id} active at 10% with a healthy reading` },
  );
  const settings = started.target.metrics!;
  const source = new PrometheusSource({ url: prom.url, queries: settings.queries ?? PRESETS[settings.preset!] });
  // The canary's success rate over the last window, from the same counters the bot reads (two readings' difference).
  const canaryRate = async (at: number): Promise<number | undefined> => {
    const [before, now] = await Promise.all([
      source.series(started.target, started.canary, at - settings.windowSeconds * 1000),
      source.series(started.target, started.canary, at),
    ]);
    const sum = (c: typeof now.counters, k: "requests" | "successes") => Object.values(c).reduce((n, x) => n + x[k], 0);
    const requests = sum(now.counters, "requests") - sum(before.counters, "requests");
    return requests > 0 ? (sum(now.counters, "successes") - sum(before.counters, "successes")) / requests : undefined;
  };
  // Before the flip the bench's own query must agree the canary is above the floor.
  await waitFor(async () => ((await canaryRate(Date.now())) ?? 0) >= settings.minSuccessRate, {
    timeoutMs: 20_000,
    intervalMs: POLL_MS,
    what: "a healthy canary in Prometheus",
  });
  // A random phase against the bot's 5-second reading slots, so the runs sample the whole interval.
  await sleep(Math.random() * REFRESH_SECONDS * 1000);

  let done = false;
  let crossingAt: number | undefined;
  const snapshots = new Map<number, Rollout["snapshot"]>();
  const promPoll = (async () => {
    while (!done && crossingAt === undefined) {
      const at = Date.now();
      const rate = await canaryRate(at).catch(() => undefined);
      if (rate !== undefined && rate < settings.minSuccessRate) crossingAt = at;
      else await sleep(Math.max(0, POLL_MS - (Date.now() - at)));
    }
  })();
  const recordPoll = (async () => {
    while (!done) {
      const r = await h.bot.store.get(id);
      if (r?.snapshot && !snapshots.has(r.snapshot.at)) snapshots.set(r.snapshot.at, r.snapshot);
      await sleep(50);
    }
  })();

  const flipAt = Date.now();
  mesh.setTraffic({ namespace: ns, deployment: "web-v2", rps: 60, errorRate: ERROR_RATE, latencyMs: 9 });
  const aborted = await waitFor(
    async () => {
      const r = await h.bot.store.get(id);
      return r?.status === "aborted" ? r : undefined;
    },
    { timeoutMs: 40_000, intervalMs: 50, what: `${id} aborted automatically` },
  );
  // The crossing, if the bot was faster than our poll, is still recorded before we stop.
  await waitFor(() => crossingAt !== undefined, { timeoutMs: 10_000, what: "the PromQL threshold crossing" });
  done = true;
  await Promise.all([promPoll, recordPoll]);

  const abortEvent = aborted.events.find((e) => e.kind === "abort-requested");
  if (!abortEvent || abortEvent.actor.kind !== "bot") throw new Error(`${id}: not aborted by the bot: ${JSON.stringify(abortEvent)}`);
  const firstWorse = [...snapshots.values()].filter((s) => s!.at >= flipAt && s!.verdict.kind === "worse").sort((a, b) => a!.at - b!.at)[0];
  if (!firstWorse) throw new Error(`${id}: no "worse" reading was seen on the record`);
  const put = h.kube.requests.find(
    (q) =>
      q.method === "PUT" &&
      q.resource === "trafficsplits" &&
      q.namespace === ns &&
      q.name === name &&
      q.at >= abortEvent.at &&
      q.status === 200 &&
      canaryWeightIn(q.body) === 0,
  );
  if (!put) throw new Error(`${id}: no PUT of TrafficSplit ${ns}/${name} after the abort`);
  const split = h.kube.get("trafficsplits", ns, name)?.spec as { backends: { service: string; weight: number }[] } | undefined;
  const canaryWeight = split?.backends.find((b) => b.service === "web-v2")?.weight;
  if (canaryWeight !== 0) throw new Error(`${id}: the split holds ${canaryWeight} on the canary after the revert`);
  const run: DetectionRun = {
    run: i,
    crossingAt: crossingAt!,
    firstWorseAt: firstWorse.at,
    firstWorseBasis: firstWorse.verdict.kind === "worse" ? firstWorse.verdict.basis : "?",
    abortAt: abortEvent.at,
    putAt: put.at,
  };
  progress(
    `detection run ${i}: flip->threshold ${secs(run.crossingAt - flipAt)}, threshold->worse ${secs(run.firstWorseAt - run.crossingAt)} (vs ${run.firstWorseBasis}), ` +
      `worse->abort ${secs(run.abortAt - run.firstWorseAt)}, abort->PUT ${secs(run.putAt - run.abortAt, 2)}; total ${secs(run.putAt - run.crossingAt)}`,
  );
  return run;
}

/** The canary's weight in a TrafficSplit body the bot wrote (the peer keeps the body of each write). */
function canaryWeightIn(body: unknown): number | undefined {
  const backends = (body as { spec?: { backends?: { service?: string; weight?: unknown }[] } } | undefined)?.spec?.backends;
  const w = backends?.find((b) => b.service === "web-v2")?.weight;
  return typeof w === "number" ? w : typeof w === "string" ? Number(w) : undefined;
}

export function formatDetection(r: DetectionResult): string {
  return (
    `detection-to-revert (${r.runs.length} runs): p50 ${secs(median(r.totalMs))}, max ${secs(max(r.totalMs))}  ` +
    `[median threshold->worse ${secs(median(r.thresholdToWorseMs))}, worse->abort ${secs(median(r.worseToAbortMs))}, abort->PUT ${secs(median(r.abortToPutMs), 2)}]`
  );
}
