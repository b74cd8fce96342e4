/**
 * Issue 19's verdict bench through a REAL Prometheus (`npm run bench -- --only verdict-real`).
 *
 *  bot side (the real code, as in production): createSuccessRateSource -> PrometheusSource (HTTP instant
 *  queries: the linkerd2 preset's counters, their timestamp(), the p99) -> readSnapshot (foldCounters, judge)
 *  -> withSnapshot -> shouldAbortBetweenSteps at every reading, decideAutoStep at every step time.
 *
 *  Prometheus side (real): Debian's prometheus scrapes a driven exporter (the linkerd2 proxy's
 *  `response_total` per pod, classification success/failure) and answers the bot's queries: ingestion,
 *  counter resets, series appearing at a pod's first failure, the 5-minute lookback and timestamp() are its own.
 *
 *  world side (simulated, seeded): requests every simulated second, Poisson by the canary's current weight,
 *  failing at the version's rate; shared outages raise both versions' rate alike; pods restart (counters
 *  to zero); a weight write lands 0.2-2 s after the step, so steps fall inside readings.
 *
 *  Time is compressed honestly: the exporter publishes each scrape WITH its simulated timestamp (the
 *  exposition format's optional timestamp, which Prometheus honours by default) and the bot asks Prometheus at
 *  simulated times, so the settings are the production ones (scrape 15 s, lag 0 or 15 s, reading every 15 s,
 *  2-minute steps) while a 15-s scrape takes ~1 s of wall time (Prometheus' real scrape interval, 1 s). The
 *  simulation waits until Prometheus answers with a scrape's samples before any reading that may see it.
 *  What is simulated rather than real: the scrape moments (every 15 simulated s, one phase for all; each
 *  rollout reads at its own random phase) and the clock. All rollouts of all rows run at once, each under its
 *  own namespace label, against one Prometheus.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { decideAutoStep, shouldAbortBetweenSteps } from "../../src/engine/auto.ts";
import { advance, markApplied, markStarted, newRollout, withSnapshot, type Rollout } from "../../src/engine/rollout.ts";
import { TargetSchema, type Target, type TargetInput } from "../../src/engine/target.ts";
import { createSuccessRateSource } from "../../src/metrics/factory.ts";
import type { MetricsSources } from "../../src/metrics/registry.ts";
import type { SuccessRateSource } from "../../src/metrics/source.ts";
import { readSnapshot } from "../../src/queue/jobs/snapshot.ts";
import { startLinkerd1Admin } from "../../sandbox/peers/linkerd1-admin.ts";
import { startPrometheus } from "../../sandbox/peers/prometheus.ts";
import { describeVerdict } from "../../src/slack/views/verdict-text.ts";
import { PROMETHEUS_BIN } from "../support/prometheus.ts";
import { prng } from "../support/prng.ts";
import { newPods, rowMetrics, serve, stickyClients, type Client, type Pod, type RowResult, type SimRow } from "./verdict-sim.ts";

const SCRAPE_SECONDS = 15;
/** Readings in flight at once (Prometheus and the bench share 2 cores). */
const IN_FLIGHT = 24;

type Side = "stable" | "canary";

/** One rollout: its world (pods' counters) and the bot's record of it, stepped one simulated second at a time. */
class RealRollout {
  readonly pods: Record<Side, Pod[]>;
  r: Rollout;
  readonly source: SuccessRateSource;
  weight = 0;
  writes: { at: number; percent: number }[];
  verifications: { at: number; percent: number }[];
  stageStart = Number.POSITIVE_INFINITY;
  stepAt = Number.POSITIVE_INFINITY;
  onTime = true;
  done: "aborted" | "completed" | undefined;
  doneAt = 0;
  nextRead: number;
  readonly outages: [number, number][] = [];
  readonly clients: Client[];
  unavailable = 0;

  constructor(
    readonly row: SimRow,
    readonly ns: string,
    readonly target: Target,
    readonly epochMs: number,
    readonly rand: () => number,
    maxSeconds: number,
  ) {
    this.pods = { stable: newPods(row.pods ?? 2), canary: newPods(row.pods ?? 2) };
    this.source = createSuccessRateSource(target.metrics, {})!;
    this.r = newRollout({
      id: `${ns}#1`,
      target,
      stable: "web-v1",
      canary: "web-v2",
      steps: row.steps,
      startedBy: "U",
      channel: "C",
      testStage: false,
      now: epochMs,
      auto: { intervalMs: row.stepSeconds * 1000, maxWaitMs: 24 * 3600_000, noticeMs: 0 },
    });
    this.writes = [{ at: 1, percent: row.steps[0]! }];
    this.verifications = [{ at: 1.3, percent: row.steps[0]! }];
    this.nextRead = rand() * row.refreshSeconds;
    if (row.outages) for (let t = 0; t < maxSeconds; t++) if (rand() < 1 / row.outages.everySeconds) this.outages.push([t, t + row.outages.seconds]);
    this.clients = stickyClients(row, rand);
  }

  /** The world during simulated second t: writes land, requests are served, pods restart. */
  traffic(t: number): void {
    while (this.writes.length && this.writes[0]!.at <= t) this.weight = this.writes.shift()!.percent / 100;
    const outage = this.outages.some(([a, b]) => t >= a && t < b) ? this.row.outages!.errorRate : 0;
    serve(this.row, this.pods, this.weight, outage, this.clients, this.rand);
  }

  /** This rollout's lines of the exposition, as the linkerd2 proxy names them, stamped with the scrape's time. */
  exposition(tsMs: number): string[] {
    const out: string[] = [];
    for (const [side, deployment] of [
      ["stable", "web-v1"],
      ["canary", "web-v2"],
    ] as const) {
      this.pods[side].forEach((p, i) => {
        const labels = `namespace="${this.ns}",deployment="${deployment}",direction="inbound",pod="${deployment}-${i}"`;
        out.push(`response_total{${labels},classification="success"} ${p.ok} ${tsMs}`);
        if (p.failedSeen) out.push(`response_total{${labels},classification="failure"} ${p.failed} ${tsMs}`);
        // The proxy's latency histogram, where the row has one: the bucket at the gate's 500 ms and `+Inf`.
        if (this.row.latency) {
          out.push(`response_latency_ms_bucket{${labels},le="500"} ${p.fast} ${tsMs}`);
          out.push(`response_latency_ms_bucket{${labels},le="+Inf"} ${p.all} ${tsMs}`);
        }
      });
    }
    return out;
  }

  /** Each version's cumulative counters as one Linkerd 1 client (the router counts per bound client, not per pod). */
  clientTotals(side: Side): { success: number; failures: number } {
    return this.pods[side].reduce((a, p) => ({ success: a.success + p.ok, failures: a.failures + p.failed }), { success: 0, failures: 0 });
  }

  /** The bot's events during [t, t + 1) in time order: verifications, readings, the step. */
  async act(t: number): Promise<void> {
    const row = this.row;
    const events: { at: number; kind: "verify" | "read" | "step" }[] = [];
    for (const v of this.verifications) if (v.at >= t && v.at < t + 1) events.push({ at: v.at, kind: "verify" });
    while (this.nextRead < t + 1) (events.push({ at: this.nextRead, kind: "read" }), (this.nextRead += row.refreshSeconds));
    if (this.stepAt >= t && this.stepAt < t + 1) events.push({ at: this.stepAt, kind: "step" });
    events.sort((a, b) => a.at - b.at);
    const budget = row.stepSeconds * 1.5;
    for (const ev of events) {
      if (this.done) break;
      const nowMs = this.epochMs + Math.round(ev.at * 1000);
      const deps = { metrics: { for: () => this.source } as unknown as MetricsSources, log: quietLog, now: () => nowMs };
      if (ev.kind === "verify") {
        const v = this.verifications.shift()!;
        this.r =
          this.r.status === "starting"
            ? markStarted(this.r, { percent: v.percent, raw: "", initialRaw: "" }, nowMs)
            : markApplied(this.r, v.percent, "", nowMs);
        this.stageStart = ev.at;
        this.stepAt = ev.at + row.stepSeconds;
      } else if (ev.kind === "read" && this.r.status === "active") {
        const before = this.r.snapshot;
        this.r = withSnapshot(this.r, await readSnapshot(deps, this.r));
        if (this.r.snapshot?.verdict.kind === "unavailable") this.unavailable++;
        if (this.r.snapshot && shouldAbortBetweenSteps(before, this.r.snapshot)) this.finish("aborted", ev.at);
      } else if (ev.kind === "step" && this.r.status === "active" && this.r.appliedPercent === this.r.desiredPercent) {
        this.r = withSnapshot(this.r, await readSnapshot(deps, this.r));
        const retryMs = Math.min(30_000, row.stepSeconds * 1000);
        const d = decideAutoStep(this.r, this.r.snapshot, nowMs, { maxWaitMs: 24 * 3600_000, retryMs, describe: describeVerdict });
        if (d.kind === "abort") this.finish("aborted", ev.at);
        else if (d.kind === "finish") this.finish("completed", ev.at);
        else if (d.kind === "advance") {
          if (ev.at - this.stageStart > budget) this.onTime = false;
          const moved = advance(this.r, { kind: "bot", why: "auto" }, this.r.stepIndex, nowMs);
          if (!moved.ok) throw new Error(`advance refused: ${moved.error.code}`);
          this.r = moved.value;
          const land = Math.ceil(ev.at + 0.2 + 1.8 * this.rand());
          this.writes.push({ at: land, percent: d.to });
          this.verifications.push({ at: land + 0.3, percent: d.to });
          this.stepAt = Number.POSITIVE_INFINITY;
        } else this.stepAt = ev.at + retryMs / 1000;
      }
    }
    if (!this.done && this.stepAt !== Number.POSITIVE_INFINITY && t - this.stageStart > budget) this.onTime = false;
  }

  private finish(how: "aborted" | "completed", at: number): void {
    this.done = how;
    this.doneAt = at;
  }
}

const quietLog = { warn: () => undefined } as unknown as Logger;

/** Where the bot reads: settings for a row's targets, and publishing the world's counters each simulated second. */
type Backend = {
  epochMs: number;
  metrics(row: SimRow): TargetInput["metrics"];
  publish(t: number, rollouts: RealRollout[]): Promise<void>;
};

/** Run `rows` × `perRow` rollouts at once against one backend; one result per row. */
async function runRows(rows: SimRow[], perRow: number, seed: number, backend: Backend): Promise<{ results: RowResult[]; unavailable: number }> {
  const started = Date.now();
  const { epochMs } = backend;
  const rollouts: RealRollout[] = [];
  let maxSeconds = 0;
  for (const row of rows) maxSeconds = Math.max(maxSeconds, Math.ceil(row.steps.length * row.stepSeconds * 1.5 + 120));
  rows.forEach((row, ri) => {
    // Seeded by the row's label, so a row gives the same rollouts whichever rows run beside it (--rows).
    const rand = prng(seed + [...row.label].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 0));
    for (let i = 0; i < perRow; i++) {
      const ns = `r${ri}-${i}`;
      const target = TargetSchema.parse({ name: "web", namespace: ns, metrics: backend.metrics(row) } satisfies TargetInput);
      rollouts.push(new RealRollout(row, ns, target, epochMs, rand, maxSeconds));
    }
  });
  for (let t = 0; t < maxSeconds; t++) {
    const live = rollouts.filter((x) => !x.done);
    if (!live.length) break;
    for (const x of live) x.traffic(t);
    await backend.publish(t, rollouts);
    // Readings run concurrently across rollouts (each rollout's own events stay in order).
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < live.length) await live[next++]!.act(t);
      }),
    );
    if (t % 120 === 0) process.stderr.write(`  simulated ${t} s: ${live.length} rollouts running, ${((Date.now() - started) / 1000).toFixed(0)} s wall\n`);
  }
  const results = rows.map((row, ri) => {
    const mine = rollouts.slice(ri * perRow, (ri + 1) * perRow);
    const res: RowResult = { row, rollouts: perRow, aborted: 0, onTime: 0, completed: 0, abortSeconds: [], abortPercent: [], late: new Map() };
    for (const x of mine) {
      if (x.done === "aborted") {
        res.aborted++;
        res.abortSeconds.push(x.doneAt);
        res.abortPercent.push(x.r.appliedPercent ?? 0);
      } else if (x.done === "completed") {
        res.completed++;
        if (x.onTime) res.onTime++;
      }
      if (x.done !== "aborted" && (x.done !== "completed" || !x.onTime)) {
        const why = x.r.snapshot
          ? describeVerdict(x.r.snapshot.verdict)
              .replace(/[\d,.]+/g, "#")
              .slice(0, 90)
          : "no reading";
        res.late.set(why, (res.late.get(why) ?? 0) + 1);
      }
    }
    return res;
  });
  return { results, unavailable: rollouts.reduce((s, x) => s + x.unavailable, 0) };
}

export type RealVerdicts = { results: RowResult[]; unavailable: number; wallMs: number };

/** Prometheus rows: a real Prometheus scraping the driven exporter, every scrape stamped with its simulated time. */
export async function realVerdictRows(rows: SimRow[], perRow: number, seed: number): Promise<RealVerdicts> {
  const started = Date.now();
  let body = "";
  const scraped: (() => void)[] = [];
  const exporter: Server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    res.end(body);
    for (const f of scraped.splice(0)) f();
  });
  await new Promise<void>((resolve) => exporter.listen(0, "127.0.0.1", resolve));
  const port = (exporter.address() as AddressInfo).port;
  const prom = await startPrometheus({ scrapeTargets: [`127.0.0.1:${port}`], scrapeIntervalSeconds: 1, binary: PROMETHEUS_BIN });
  try {
    await prom.whenScraping(30_000);
    const query = async (promql: string, atMs: number) => {
      const res = await fetch(`${prom.url}/api/v1/query?${new URLSearchParams({ query: promql, time: (atMs / 1000).toFixed(3) })}`);
      const json = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
      return json.data?.result?.[0]?.value[1];
    };
    // Simulated time starts 50 minutes ago: Prometheus takes samples back to an hour before the newest it
    // holds (its own `up` is stamped now), and the run's simulated span (~17 minutes) stays inside that.
    const epochMs = Math.floor(Date.now() / 1000) * 1000 - 50 * 60_000;
    const out = await runRows(rows, perRow, seed, {
      epochMs,
      metrics: (row) => {
        if (row.scrapeSeconds !== SCRAPE_SECONDS) throw new Error(`the real bench scrapes every ${SCRAPE_SECONDS} simulated s`);
        return {
          preset: "linkerd2" as const,
          prometheusUrl: prom.url,
          windowSeconds: Math.max(60, 2 * row.scrapeSeconds),
          refreshSeconds: row.refreshSeconds,
          scrapeIntervalSeconds: row.scrapeSeconds,
          lagSeconds: row.lagSeconds,
          ...rowMetrics(row),
        };
      },
      publish: async (t, all) => {
        if (t % SCRAPE_SECONDS !== 0) return;
        // Publish this scrape and wait until Prometheus answers with it: no reading may run ahead of ingestion.
        const tsMs = epochMs + t * 1000;
        body = [`sim_clock ${t} ${tsMs}`, ...all.flatMap((x) => x.exposition(tsMs)), ""].join("\n");
        await new Promise<void>((resolve) => scraped.push(resolve));
        const deadline = Date.now() + 180_000; // generous: on a shared machine Prometheus may lag minutes behind
        while ((await query("sim_clock", tsMs)) !== String(t)) {
          if (Date.now() > deadline) throw new Error(`Prometheus did not ingest the scrape at simulated ${t} s`);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
    });
    return { ...out, wallMs: Date.now() - started };
  } finally {
    await prom.stop();
    await new Promise((r) => exporter.close(r));
  }
}

/**
 * Linkerd 1 rows: the Linkerd 1 admin peer (GET /admin/metrics.json, live cumulative counters per bound client)
 * read by the bot's Linkerd1AdminSource. The admin has no scrape: its counters are set every simulated second.
 * The source stamps a reading max(now, wall clock), so simulated time runs a day ahead of the wall clock.
 */
export async function linkerd1VerdictRows(rows: SimRow[], perRow: number, seed: number): Promise<RealVerdicts> {
  const started = Date.now();
  const admin = await startLinkerd1Admin();
  try {
    const clientId = (ns: string, version: string) => `#/io.l5d.k8s/${ns}/http/${version}`;
    const out = await runRows(rows, perRow, seed, {
      epochMs: Math.floor(Date.now() / 1000) * 1000 + 24 * 3600_000,
      metrics: (row) => ({ source: "linkerd1" as const, linkerd1AdminUrl: admin.url, refreshSeconds: row.refreshSeconds, lagSeconds: 0 }),
      publish: async (_t, all) => {
        for (const x of all) {
          const s = x.clientTotals("stable");
          const c = x.clientTotals("canary");
          admin.setClient("http", clientId(x.ns, "web-v1"), { success: s.success, failures: s.failures });
          admin.setClient("http", clientId(x.ns, "web-v2"), { success: c.success, failures: c.failures });
        }
      },
    });
    return { ...out, wallMs: Date.now() - started };
  } finally {
    await admin.stop();
  }
}

const STEPS_5 = [5, 10, 25, 50, 100];
const base = { stableError: 0.01, canaryError: 0.01, steps: STEPS_5, stepSeconds: 120, refreshSeconds: 15, scrapeSeconds: SCRAPE_SECONDS };
const outages = { everySeconds: 300, seconds: 30, errorRate: 0.3 };
const sticky = { clients: 200, bad: 3, badError: 0.2 };

/** Issue 19's regimes through real Prometheus: every healthy row has shared outages and mid-reading weight changes. */
export const REAL_VERDICT_ROWS: SimRow[] = [
  { label: "healthy 1% both, 400 req/s (20 at 5%), shared outages, lag 0", rps: 400, ...base, lagSeconds: 0, outages },
  { label: "healthy 1% both, 400 req/s (20 at 5%), shared outages, lag 15 s", rps: 400, ...base, lagSeconds: 15, outages },
  { label: "healthy 1% both, 2,000 req/s, shared outages + pod restarts (6/h), lag 15 s", rps: 2000, ...base, lagSeconds: 15, outages, restartsPerHour: 6 },
  { label: "healthy 1% both, 20 req/s service (1 at 5%), shared outages, lag 15 s", rps: 20, ...base, lagSeconds: 15, outages },
  { label: "healthy 1% both, 200 req/s service (10 at 5%), shared outages, lag 15 s", rps: 200, ...base, lagSeconds: 15, outages },
  { label: "healthy, sticky sessions (200 clients, 3 at 20%), 400 req/s, routing: request", rps: 400, ...base, lagSeconds: 0, sticky },
  { label: "healthy, sticky sessions (200 clients, 3 at 20%), 400 req/s, routing: session", rps: 400, ...base, lagSeconds: 0, sticky, routing: "session" },
  {
    label: "healthy, latency gate: 1% over 500 ms both, 400 req/s (20 at 5%), shared outages, lag 15 s",
    rps: 400,
    ...base,
    lagSeconds: 15,
    outages,
    latency: true,
    slow: { stable: 0.01, canary: 0.01 },
  },
  {
    label: "slow canary, latency gate: 3% over 500 ms vs 1%, no extra errors, 400 req/s (20 at 5%), lag 15 s",
    rps: 400,
    ...base,
    lagSeconds: 15,
    latency: true,
    slow: { stable: 0.01, canary: 0.03 },
  },
  { label: "5× canary (5% vs 1%), 400 req/s, lag 15 s", rps: 400, ...base, canaryError: 0.05, lagSeconds: 15 },
  { label: "2× canary (2% vs 1%), 400 req/s, lag 0", rps: 400, ...base, canaryError: 0.02, lagSeconds: 0 },
  { label: "2× canary (2% vs 1%), 2,000 req/s, lag 15 s", rps: 2000, ...base, canaryError: 0.02, lagSeconds: 15 },
  { label: "+5 points (6% vs 1%), 400 req/s (20 at 5%), lag 15 s", rps: 400, ...base, canaryError: 0.06, lagSeconds: 15 },
];

const l1 = { ...base, lagSeconds: 0, scrapeSeconds: 1 };
/** The same regimes read from the Linkerd 1 admin peer (live counters: no scrape, no lag, no per-pod resets). */
export const LINKERD1_VERDICT_ROWS: SimRow[] = [
  { label: "Linkerd 1: healthy 1% both, 400 req/s (20 at 5%), shared outages", rps: 400, ...l1, outages },
  { label: "Linkerd 1: healthy 1% both, 2,000 req/s, shared outages", rps: 2000, ...l1, outages },
  { label: "Linkerd 1: 5× canary (5% vs 1%), 400 req/s", rps: 400, ...l1, canaryError: 0.05 },
  { label: "Linkerd 1: 2× canary (2% vs 1%), 400 req/s", rps: 400, ...l1, canaryError: 0.02 },
  { label: "Linkerd 1: +5 points (6% vs 1%), 400 req/s (20 at 5%)", rps: 400, ...l1, canaryError: 0.06 },
];
