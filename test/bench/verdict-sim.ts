/**
 * Issue 19's white-box simulation: seeded automatic rollouts judged by the SAME code the bot runs, on traffic
 * as Prometheus really shows it to the bot.
 *
 *  bot side (the real code): readSnapshot (snapshot.ts: the source's counters at now − lag, folded against the
 *  values kept from the reading before, cut at weight changes, judged) -> withSnapshot (the record) ->
 *  shouldAbortBetweenSteps at every reading, decideAutoStep at every step time (auto.ts); advance / markApplied
 *  (rollout.ts) write the events the cut is taken from.
 *
 *  world side (simulated): requests every second, routed per request with the canary's weight (or per client:
 *  sticky sessions), failing with the version's rate; shared outages raise both versions' rate alike; pods'
 *  counters reset when a pod restarts; the failure series appears at a pod's first failure; Prometheus scrapes
 *  every `scrapeSeconds` at a random phase and an instant query answers the newest sample at or before the
 *  moment asked (5-minute lookback), with the time it was taken; a weight write lands 0.2-2 s after the step
 *  and is read back 0.3 s later, so steps fall inside readings.
 */
import type { Logger } from "pino";
import { decideAutoStep, shouldAbortBetweenSteps } from "../../src/engine/auto.ts";
import { advance, markApplied, markStarted, newRollout, withSnapshot, type Rollout } from "../../src/engine/rollout.ts";
import { TargetSchema, type TargetInput } from "../../src/engine/target.ts";
import type { MetricsSources } from "../../src/metrics/registry.ts";
import type { CounterReading, SeriesCounters } from "../../src/metrics/source.ts";
import { readSnapshot } from "../../src/queue/jobs/snapshot.ts";
import { describeVerdict } from "../../src/slack/views/verdict-text.ts";
import { prng } from "../support/prng.ts";

export type SimRow = {
  label: string;
  /** Requests a second to the service (both versions). */
  rps: number;
  stableError: number;
  canaryError: number;
  steps: number[];
  /** The automatic interval. */
  stepSeconds: number;
  refreshSeconds: number;
  scrapeSeconds: number;
  lagSeconds: number;
  /** Shared outages: on average one every `everySeconds`, lasting `seconds`, both versions failing at `errorRate`. */
  outages?: { everySeconds: number; seconds: number; errorRate: number };
  /** Pod restarts per pod per hour (its counters go back to zero). */
  restartsPerHour?: number;
  /** Sticky sessions: `clients` clients pinned to a version; `bad` of them fail at `badError` whatever the version. */
  sticky?: { clients: number; bad: number; badError: number };
  /** The target's `routing` setting. */
  routing?: "request" | "session";
  confidence?: number;
  pods?: number;
  /** Share of each version's requests slower than 500 ms (the histogram's `le="500"` bucket; needs `latency`). */
  slow?: { stable: number; canary: number };
  /** The target's latency gate: `latency: { thresholdMs: 500 }`. */
  latency?: boolean;
};

export type RowResult = {
  row: SimRow;
  rollouts: number;
  aborted: number;
  /** Rollouts that took every step, each within 1.5× its interval. */
  onTime: number;
  completed: number;
  /** Per aborted rollout: seconds from the start, and readings after the first one following the canary's failure. */
  abortSeconds: number[];
  /** Per aborted rollout: the canary's weight when aborted. */
  abortPercent: number[];
  /** Why rollouts that were not aborted did not complete on time: the last verdict's words, counted. */
  late: Map<string, number>;
};

/** Binomial draw: exact inversion for small means, normal approximation (rounded, clamped) for large. */
export function binomial(n: number, p: number, rand: () => number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  const mean = n * p;
  if (mean < 40 || n * (1 - p) < 40) {
    if (p > 0.5) return n - binomial(n, 1 - p, rand);
    const q = 1 - p;
    let pmf = q ** n;
    let cdf = pmf;
    const u = rand();
    let k = 0;
    while (u > cdf && k < n) {
      pmf *= ((n - k) / (k + 1)) * (p / q);
      cdf += pmf;
      k++;
    }
    return k;
  }
  const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return Math.min(n, Math.max(0, Math.round(mean + z * Math.sqrt(mean * (1 - p)))));
}

export function poisson(mean: number, rand: () => number): number {
  if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())));
  const l = Math.exp(-mean);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rand();
  } while (p > l);
  return k - 1;
}

const quietLog = { warn: () => undefined } as unknown as Logger;

/** One pod's counters: responses by outcome (the failure series exists from its first failure on), and its latency histogram. */
export type Pod = { ok: number; failed: number; failedSeen: boolean; all: number; fast: number };
type Sample = { t: number; values: Map<string, { requests: number; successes: number }> };
type Side = "stable" | "canary";

export function newPods(n: number): Pod[] {
  return Array.from({ length: n }, () => ({ ok: 0, failed: 0, failedSeen: false, all: 0, fast: 0 }));
}

/** A restarted pod: every counter back to zero, and no failure series until its next failure. */
export function restart(p: Pod): void {
  Object.assign(p, { ok: 0, failed: 0, failedSeen: false, all: 0, fast: 0 });
}

/** One version's requests of a second spread over its pods, with their errors and slow requests. */
function spread(pods: Pod[], requests: number, errors: number, slow: number, rand: () => number): void {
  let left = requests;
  let leftErr = errors;
  let leftSlow = slow;
  for (let i = 0; i < pods.length; i++) {
    const last = i === pods.length - 1;
    const share = last ? 1 : 1 / (pods.length - i);
    const n = binomial(left, share, rand);
    const e = last ? leftErr : Math.min(n, binomial(leftErr, share, rand));
    // Slow requests are drawn only where a row has them, so rows without keep their random draws.
    const sl = slow === 0 ? 0 : last ? leftSlow : Math.min(n, binomial(leftSlow, share, rand));
    const p = pods[i]!;
    p.ok += n - e;
    p.failed += e;
    p.all += n;
    p.fast += n - sl;
    if (e > 0) p.failedSeen = true;
    left -= n;
    leftErr -= e;
    leftSlow -= sl;
  }
}

/** Clients of a sticky route: each pinned by its draw `u` against the canary's weight; the bad ones fail at their own rate. */
export type Client = { u: number; bad: boolean };

export function stickyClients(row: SimRow, rand: () => number): Client[] {
  return row.sticky ? Array.from({ length: row.sticky.clients }, (_, c) => ({ u: rand(), bad: c < row.sticky!.bad })) : [];
}

/**
 * One second of the world: requests routed per request by the canary's weight (or per client on a sticky
 * route), failing at the version's rate (at least the shared outage's), slow at the version's share; then pods
 * restart at random.
 */
export function serve(row: SimRow, pods: Record<Side, Pod[]>, weight: number, outage: number, clients: Client[], rand: () => number): void {
  const rate = (base: number) => Math.max(base, outage);
  const slowOf = (side: Side, n: number) => (row.slow ? binomial(n, row.slow[side], rand) : 0);
  if (row.sticky) {
    const per = row.rps / row.sticky.clients;
    for (const c of clients) {
      const n = poisson(per, rand);
      const side = c.u < weight ? "canary" : "stable";
      const p = c.bad ? row.sticky.badError : rate(side === "canary" ? row.canaryError : row.stableError);
      spread(pods[side], n, binomial(n, p, rand), slowOf(side, n), rand);
    }
  } else {
    const n = poisson(row.rps, rand);
    const nc = binomial(n, weight, rand);
    spread(pods.canary, nc, binomial(nc, rate(row.canaryError), rand), slowOf("canary", nc), rand);
    spread(pods.stable, n - nc, binomial(n - nc, rate(row.stableError), rand), slowOf("stable", n - nc), rand);
  }
  if (row.restartsPerHour) for (const side of ["stable", "canary"] as const) for (const p of pods[side]) if (rand() < row.restartsPerHour / 3600) restart(p);
}

/** The settings a row's target gets (both benches). */
export function rowMetrics(row: SimRow): Pick<TargetInput["metrics"] & object, "routing" | "confidence" | "latency"> {
  return {
    ...(row.routing ? { routing: row.routing } : {}),
    ...(row.confidence ? { confidence: row.confidence } : {}),
    ...(row.latency ? { latency: { thresholdMs: 500 } } : {}),
  };
}

/** One simulated world: pods' counters, and Prometheus' samples of them. */
class World {
  readonly pods: Record<Side, Pod[]>;
  readonly samples: Sample[] = [];
  constructor(pods: number) {
    this.pods = { stable: newPods(pods), canary: newPods(pods) };
  }

  scrape(t: number): void {
    const values = new Map<string, { requests: number; successes: number }>();
    for (const side of ["stable", "canary"] as const) {
      this.pods[side].forEach((p, i) => {
        values.set(`${side}/${i}/success`, { requests: p.ok, successes: p.ok });
        // The failure series exists from a pod's first failure on.
        if (p.failedSeen) values.set(`${side}/${i}/failure`, { requests: p.failed, successes: 0 });
        // The histogram as the latency gate reads it: `+Inf` (every request) and the bucket at 500 ms.
        values.set(`${side}/${i}/histogram`, { requests: p.all, successes: p.fast });
      });
    }
    this.samples.push({ t, values });
  }

  /** An instant query at `e` (s): each series' newest sample at or before it, within Prometheus' 5-minute lookback. */
  query(e: number, side: Side, histogram = false): SeriesCounters {
    const out: SeriesCounters = {};
    for (let i = this.samples.length - 1; i >= 0; i--) {
      const s = this.samples[i]!;
      if (s.t > e) continue;
      if (s.t < e - 300) break;
      // The group is the pod: a restart resets all of a pod's series at once (the source reads it from `pod`).
      for (const [k, v] of s.values)
        if (k.startsWith(`${side}/`) && k.endsWith("/histogram") === histogram)
          out[k] = { ...v, at: Math.round(s.t * 1000), group: k.slice(0, k.lastIndexOf("/")) };
      break; // every series is in every scrape here (none goes stale on its own)
    }
    return out;
  }
}

export async function simulateRow(row: SimRow, rollouts: number, seed: number): Promise<RowResult> {
  const metrics = {
    preset: "linkerd2" as const,
    prometheusUrl: "http://sim:9090",
    windowSeconds: Math.max(60, 2 * row.scrapeSeconds),
    refreshSeconds: row.refreshSeconds,
    scrapeIntervalSeconds: row.scrapeSeconds,
    lagSeconds: row.lagSeconds,
    ...rowMetrics(row),
  };
  const target = TargetSchema.parse({ name: "sim", metrics } satisfies TargetInput);
  const policy = { maxWaitMs: 24 * 3600_000, retryMs: Math.min(30_000, row.stepSeconds * 1000), describe: describeVerdict };
  const res: RowResult = { row, rollouts, aborted: 0, onTime: 0, completed: 0, abortSeconds: [], abortPercent: [], late: new Map() };
  const rand = prng(seed);
  const budget = row.stepSeconds * 1.5;
  const maxSeconds = Math.ceil(row.steps.length * budget + 120);
  for (let i = 0; i < rollouts; i++) {
    const world = new World(row.pods ?? 2);
    const scrapePhase = rand() * row.scrapeSeconds;
    const readPhase = rand() * row.refreshSeconds;
    let nowMs = 0;
    const source = {
      kind: "sim",
      counters: async (_t: unknown, _p: unknown, at: number): Promise<CounterReading> => {
        const e = (at - row.lagSeconds * 1000) / 1000;
        const latency = row.latency ? { latency: { stable: world.query(e, "stable", true), canary: world.query(e, "canary", true) } } : {};
        return { at: at - row.lagSeconds * 1000, stable: world.query(e, "stable"), canary: world.query(e, "canary"), ...latency };
      },
    };
    const deps = { metrics: { for: () => source } as unknown as MetricsSources, log: quietLog, now: () => nowMs };
    let r: Rollout = newRollout({
      id: "sim#1",
      target,
      stable: "sim-v1",
      canary: "sim-v2",
      steps: row.steps,
      startedBy: "U",
      channel: "C",
      testStage: false,
      now: 0,
      auto: { intervalMs: row.stepSeconds * 1000, maxWaitMs: policy.maxWaitMs, noticeMs: 0 },
    });
    // The first step lands 1 s after the start and is read back 0.3 s later.
    let weight = 0;
    const writes: { at: number; percent: number }[] = [{ at: 1, percent: row.steps[0]! }];
    const verifications: { at: number; percent: number }[] = [{ at: 1.3, percent: row.steps[0]! }];
    let stageStart = Number.POSITIVE_INFINITY;
    let stepAt = Number.POSITIVE_INFINITY;
    let onTime = true;
    let done: "aborted" | "completed" | undefined;
    // Shared outages and pod restarts, drawn up front.
    const outages: [number, number][] = [];
    if (row.outages) for (let t = 0; t < maxSeconds; t++) if (rand() < 1 / row.outages.everySeconds) outages.push([t, t + row.outages.seconds]);
    const clients = stickyClients(row, rand);
    let nextRead = readPhase;
    let nextScrape = scrapePhase;
    for (let t = 0; t < maxSeconds && !done; t++) {
      // The mesh: writes land, verifications are recorded.
      while (writes.length && writes[0]!.at <= t) weight = writes.shift()!.percent / 100;
      serve(row, world.pods, weight, outages.some(([a, b]) => t >= a && t < b) ? row.outages!.errorRate : 0, clients, rand);
      // Everything between t and t + 1, in time order: scrapes, verifications, readings, the step.
      const events: { at: number; kind: "scrape" | "verify" | "read" | "step" }[] = [];
      while (nextScrape < t + 1) (events.push({ at: nextScrape, kind: "scrape" }), (nextScrape += row.scrapeSeconds));
      for (const v of verifications) if (v.at >= t && v.at < t + 1) events.push({ at: v.at, kind: "verify" });
      while (nextRead < t + 1) (events.push({ at: nextRead, kind: "read" }), (nextRead += row.refreshSeconds));
      if (stepAt >= t && stepAt < t + 1) events.push({ at: stepAt, kind: "step" });
      events.sort((a, b) => a.at - b.at);
      for (const ev of events) {
        if (done) break;
        nowMs = Math.round(ev.at * 1000);
        if (ev.kind === "scrape") world.scrape(ev.at);
        else if (ev.kind === "verify") {
          const v = verifications.shift()!;
          r = r.status === "starting" ? markStarted(r, { percent: v.percent, raw: "", initialRaw: "" }, nowMs) : markApplied(r, v.percent, "", nowMs);
          stageStart = ev.at;
          stepAt = ev.at + row.stepSeconds;
        } else if (ev.kind === "read" && r.status === "active") {
          const before = r.snapshot;
          r = withSnapshot(r, await readSnapshot(deps, r));
          if (r.snapshot && shouldAbortBetweenSteps(before, r.snapshot)) done = "aborted";
        } else if (ev.kind === "step" && r.status === "active" && r.appliedPercent === r.desiredPercent) {
          r = withSnapshot(r, await readSnapshot(deps, r));
          const d = decideAutoStep(r, r.snapshot, nowMs, policy);
          if (d.kind === "abort") done = "aborted";
          else if (d.kind === "finish") done = "completed";
          else if (d.kind === "advance") {
            if (ev.at - stageStart > budget) onTime = false;
            const moved = advance(r, { kind: "bot", why: "auto" }, r.stepIndex, nowMs);
            if (!moved.ok) throw new Error(`advance refused: ${moved.error.code}`);
            r = moved.value;
            const land = ev.at + 0.2 + 1.8 * rand();
            writes.push({ at: Math.ceil(land), percent: d.to });
            verifications.push({ at: Math.ceil(land) + 0.3, percent: d.to });
            stepAt = Number.POSITIVE_INFINITY;
          } else stepAt = ev.at + policy.retryMs / 1000;
        }
      }
      if (!done && stepAt !== Number.POSITIVE_INFINITY && t - stageStart > budget) onTime = false;
    }
    if (done === "aborted") {
      if (process.env.SIM_DEBUG)
        process.stderr.write(
          `abort: ${describeVerdict(r.snapshot!.verdict)} | ${JSON.stringify({ ...r.snapshot!.evidence, logLik: undefined, last: undefined })}\n`,
        );
      res.aborted++;
      res.abortSeconds.push(nowMs / 1000);
      res.abortPercent.push(r.appliedPercent ?? 0);
    } else if (done === "completed") {
      res.completed++;
      if (onTime) res.onTime++;
    }
    if (done !== "aborted" && (done !== "completed" || !onTime)) {
      const why = r.snapshot
        ? describeVerdict(r.snapshot.verdict)
            .replace(/[\d,.]+/g, "#")
            .slice(0, 90)
        : "no reading";
      res.late.set(why, (res.late.get(why) ?? 0) + 1);
    }
  }
  return res;
}

/** Clopper-Pearson style upper 95% bound for k of n, by the Wilson score (close enough for a bench table). */
export function upper95(k: number, n: number): number {
  if (n === 0) return 1;
  const z = 1.96;
  const p = k / n;
  const centre = p + (z * z) / (2 * n);
  const spread = z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return Math.min(1, (centre + spread) / (1 + (z * z) / n));
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function formatVerdictTable(results: RowResult[]): string {
  const lines = [
    "| regime | rollouts | aborted (upper 95%) | took every step within 1.5× its interval (lower 95%) | abort at (median s, weight) |",
    "|---|---|---|---|---|",
  ];
  for (const x of results) {
    const medianAt = x.abortSeconds.length ? [...x.abortSeconds].sort((a, b) => a - b)[Math.floor(x.abortSeconds.length / 2)]! : Number.NaN;
    const medianPct = x.abortPercent.length ? [...x.abortPercent].sort((a, b) => a - b)[Math.floor(x.abortPercent.length / 2)]! : Number.NaN;
    lines.push(
      `| ${x.row.label} | ${x.rollouts} | ${x.aborted} (${pct(x.aborted / x.rollouts)}, ≤ ${pct(upper95(x.aborted, x.rollouts))}) | ${x.onTime} (${pct(x.onTime / x.rollouts)}, ≥ ${pct(1 - upper95(x.rollouts - x.onTime, x.rollouts))}) | ${Number.isNaN(medianAt) ? "-" : `${medianAt.toFixed(0)} s at ${medianPct}%`} |`,
    );
  }
  return lines.join("\n");
}

const STEPS_5 = [5, 10, 25, 50, 100];
const healthy = { stableError: 0.01, canaryError: 0.01, steps: STEPS_5, stepSeconds: 120, refreshSeconds: 15, scrapeSeconds: 15 };

/** The regimes of issue 19, at Prometheus' common 15 s scrape with and without a 15 s lag. */
export const VERDICT_ROWS: SimRow[] = [
  { label: "healthy, 1% both, 20 req/s canary at 5% (400 req/s), 2 min steps, lag 0", rps: 400, ...healthy, lagSeconds: 0 },
  { label: "healthy, 1% both, 20 req/s canary at 5%, 2 min steps, lag 15 s", rps: 400, ...healthy, lagSeconds: 15 },
  { label: "healthy, 1% both, 200 req/s, 2 min steps, lag 15 s", rps: 200, ...healthy, lagSeconds: 15 },
  {
    label: "healthy, 2,000 req/s, shared outages (30 s at 30%, every 5 min), lag 15 s",
    rps: 2000,
    ...healthy,
    lagSeconds: 15,
    outages: { everySeconds: 300, seconds: 30, errorRate: 0.3 },
  },
  {
    label: "healthy, 200 req/s, shared outages + pod restarts (6/h), lag 0",
    rps: 200,
    ...healthy,
    lagSeconds: 0,
    outages: { everySeconds: 300, seconds: 30, errorRate: 0.3 },
    restartsPerHour: 6,
  },
  {
    label: "healthy, sticky sessions (200 clients, 3 at 20%), routing: request",
    rps: 400,
    ...healthy,
    lagSeconds: 0,
    sticky: { clients: 200, bad: 3, badError: 0.2 },
  },
  {
    label: "healthy, sticky sessions (200 clients, 3 at 20%), routing: session",
    rps: 400,
    ...healthy,
    lagSeconds: 0,
    sticky: { clients: 200, bad: 3, badError: 0.2 },
    routing: "session",
  },
  {
    label: "healthy, 2,000 req/s, shared outages + pod restarts (6/h), lag 15 s",
    rps: 2000,
    ...healthy,
    lagSeconds: 15,
    outages: { everySeconds: 300, seconds: 30, errorRate: 0.3 },
    restartsPerHour: 6,
  },
  {
    label: "healthy, latency gate: 1% over 500 ms both, 400 req/s (20 at 5%), shared outages + pod restarts (6/h), lag 15 s",
    rps: 400,
    ...healthy,
    lagSeconds: 15,
    outages: { everySeconds: 300, seconds: 30, errorRate: 0.3 },
    restartsPerHour: 6,
    latency: true,
    slow: { stable: 0.01, canary: 0.01 },
  },
  {
    label: "slow canary, latency gate: 3% over 500 ms vs 1%, no extra errors, 400 req/s (20 at 5%), lag 15 s",
    rps: 400,
    ...healthy,
    lagSeconds: 15,
    latency: true,
    slow: { stable: 0.01, canary: 0.03 },
  },
  { label: "5× canary (5% vs 1%), 200 req/s, lag 15 s", rps: 200, ...healthy, canaryError: 0.05, lagSeconds: 15 },
  { label: "2× canary (2% vs 1%), 400 req/s, lag 0", rps: 400, ...healthy, canaryError: 0.02, lagSeconds: 0 },
  { label: "+5 points (6% vs 1%), 20 req/s at 5%, lag 15 s", rps: 400, ...healthy, canaryError: 0.06, lagSeconds: 15 },
  // Last, so the rows above keep their seeds: where counters cannot show a reset (a pod restarted again within a
  // scrape of its start counts past its old value), as a crash-looping pod does.
  {
    label: "healthy, 2,000 req/s, shared outages + pod restarts (60/h: a crash loop), lag 15 s",
    rps: 2000,
    ...healthy,
    lagSeconds: 15,
    outages: { everySeconds: 300, seconds: 30, errorRate: 0.3 },
    restartsPerHour: 60,
  },
];
