/**
 * Issue 16's simulation: seeded canary rollouts judged by the SAME code the bot runs, old procedure and new
 * side by side on the same simulated traffic.
 *
 *  new: readSnapshot (snapshot.ts: the interval since the last reading, folded into the stored evidence,
 *       judged) -> withSnapshot (the record) -> shouldAbortBetweenSteps at every reading, decideAutoStep at
 *       every step time (auto.ts).
 *  old: the fixed-window verdict (fixed-window-verdict.ts, kept from before) on the last `windowSeconds` at
 *       every reading; two "worse" in a row abort between steps, one aborts at a step.
 *
 * Traffic: `rps` requests a second, each to the canary with probability `weight`, each failing with the
 * version's error rate, independently; drawn per block of `block` seconds (the readings' granularity).
 * The canary's weight stays at `weight` (a step is a decision point: advance or not), so rows are comparable.
 */
import type { Logger } from "pino";
import { decideAutoStep, shouldAbortBetweenSteps } from "../../src/engine/auto.ts";
import { newRollout, withSnapshot, type Rollout, type StoredSnapshot } from "../../src/engine/rollout.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import type { MetricsSources } from "../../src/metrics/registry.ts";
import type { Sample, Snapshot } from "../../src/metrics/source.ts";
import { readSnapshot } from "../../src/queue/jobs/snapshot.ts";
import { describeVerdict } from "../../src/slack/views/verdict-text.ts";
import { prng } from "../support/prng.ts";
import { verdict as oldVerdict } from "./fixed-window-verdict.ts";

export type SimRow = {
  label: string;
  rps: number;
  weight: number;
  stableError: number;
  canaryError: number;
  durationSeconds: number;
  windowSeconds: number;
  refreshSeconds: number;
  stepSeconds: number;
  /**
   * The new procedure's `windowSeconds`, when not the old one's. For the new verdict the window is the
   * shortest interval it folds in (readings tile time rather than overlap), so a reading every 5 s is
   * `windowSeconds: 5` there (Prometheus then needs a scrape interval of at most ~2 s).
   */
  newWindowSeconds?: number;
  confidence?: number;
};

export type ProcedureResult = {
  aborted: number;
  /** Per aborted rollout: seconds and canary requests from the start to the abort. */
  abortSeconds: number[];
  abortRequests: number[];
  /** Step decisions that advanced (healthy), of all step decisions of rollouts not aborted by then. */
  advanced: number;
  stepDecisions: number;
};

export type RowResult = { row: SimRow; rollouts: number; old: ProcedureResult; new: ProcedureResult };

/** Binomial draw: exact inversion for small means, normal approximation (rounded, clamped) for large. */
export function binomial(n: number, p: number, rand: () => number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  const mean = n * p;
  if (mean < 40 || n * (1 - p) < 40) {
    if (p > 0.5) return n - binomial(n, 1 - p, rand);
    // Inversion: walk the pmf from 0 (expected steps ~ the mean).
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

type Block = { sr: number; se: number; cr: number; ce: number };

function traffic(row: SimRow, block: number, rand: () => number): Block[] {
  const blocks: Block[] = [];
  const per = Math.round(row.rps * block);
  for (let t = 0; t < row.durationSeconds; t += block) {
    const cr = binomial(per, row.weight, rand);
    const sr = per - cr;
    blocks.push({ sr, se: binomial(sr, row.stableError, rand), cr, ce: binomial(cr, row.canaryError, rand) });
  }
  return blocks;
}

/** Counts over (t - seconds, t]; nothing before the rollout began. */
function windowAt(blocks: Block[], block: number, t: number, seconds: number): { stable: Sample; canary: Sample } {
  const sum: Block = { sr: 0, se: 0, cr: 0, ce: 0 };
  for (let i = Math.max(0, Math.round((t - seconds) / block)); i < Math.round(t / block) && i < blocks.length; i++) {
    const b = blocks[i]!;
    sum.sr += b.sr;
    sum.se += b.se;
    sum.cr += b.cr;
    sum.ce += b.ce;
  }
  const sample = (r: number, e: number): Sample => (r > 0 ? { requests: r, successes: r - e } : { noTraffic: true });
  return { stable: sample(sum.sr, sum.se), canary: sample(sum.cr, sum.ce) };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

const quietLog = { warn: () => undefined } as unknown as Logger;

function emptyResult(): ProcedureResult {
  return { aborted: 0, abortSeconds: [], abortRequests: [], advanced: 0, stepDecisions: 0 };
}

function canaryRequestsUntil(blocks: Block[], block: number, t: number): number {
  let n = 0;
  for (let i = 0; i < Math.round(t / block) && i < blocks.length; i++) n += blocks[i]!.cr;
  return n;
}

export async function simulateRow(row: SimRow, rollouts: number, seed: number): Promise<RowResult> {
  const block = gcd(gcd(row.refreshSeconds, row.windowSeconds), row.stepSeconds);
  const metrics = {
    preset: "linkerd2" as const,
    prometheusUrl: "http://sim:9090",
    windowSeconds: row.newWindowSeconds ?? row.windowSeconds,
    refreshSeconds: row.refreshSeconds,
    ...(row.confidence ? { confidence: row.confidence } : {}),
  };
  const target = TargetSchema.parse({ name: "sim", metrics });
  const settings = target.metrics!;
  const percent = Math.round(row.weight * 100);
  const base: Rollout = {
    ...newRollout({
      id: "sim#1",
      target,
      stable: "sim-v1",
      canary: "sim-v2",
      steps: [percent, 100],
      startedBy: "U",
      channel: "C",
      testStage: false,
      now: 0,
      auto: { intervalMs: row.stepSeconds * 1000, maxWaitMs: 24 * 3600_000, noticeMs: 0 },
    }),
    status: "active",
    appliedPercent: percent,
  };
  const policy = { maxWaitMs: 24 * 3600_000, retryMs: 30_000, describe: describeVerdict };
  const out = { old: emptyResult(), new: emptyResult() };
  const rand = prng(seed);
  for (let i = 0; i < rollouts; i++) {
    const blocks = traffic(row, block, rand);
    let now = 0;
    const source = {
      kind: "sim",
      snapshot: async (_t: unknown, _p: unknown, seconds: number): Promise<Snapshot> => ({
        ...windowAt(blocks, block, now / 1000, seconds),
        windowSeconds: seconds,
        at: now,
      }),
    };
    const deps = { metrics: { for: () => source } as unknown as MetricsSources, log: quietLog, now: () => now };
    let r = base;
    let oldPrev: string | undefined;
    let oldDone = false;
    let newDone = false;
    const abort = (res: ProcedureResult, t: number) => {
      res.aborted++;
      res.abortSeconds.push(t);
      res.abortRequests.push(canaryRequestsUntil(blocks, block, t));
    };
    for (let t = row.refreshSeconds; t <= row.durationSeconds && !(oldDone && newDone); t += row.refreshSeconds) {
      now = t * 1000;
      const isStep = t % row.stepSeconds === 0;
      if (!newDone) {
        const reading: StoredSnapshot = await readSnapshot(deps, r);
        if (isStep) {
          const d = decideAutoStep(r, reading, now, policy);
          out.new.stepDecisions++;
          if (d.kind === "advance" || d.kind === "finish") out.new.advanced++;
          if (d.kind === "abort") {
            abort(out.new, t);
            newDone = true;
          }
        } else if (shouldAbortBetweenSteps(r.snapshot, reading)) {
          abort(out.new, t);
          newDone = true;
        }
        r = withSnapshot(r, reading);
      }
      if (!oldDone) {
        const kind = oldVerdict(windowAt(blocks, block, t, row.windowSeconds), settings).kind;
        if (isStep) out.old.stepDecisions++;
        if (isStep && kind === "healthy") out.old.advanced++;
        if ((isStep && kind === "worse") || (!isStep && kind === "worse" && oldPrev === "worse")) {
          abort(out.old, t);
          oldDone = true;
        }
        oldPrev = kind;
      }
    }
  }
  return { row, rollouts, ...out };
}

// ---------------------------------------------------------------------------------------------
// The table

function quantile(xs: number[], q: number, total: number): number | undefined {
  // Rollouts never aborted count as "later than the whole run": a quantile among them is not reached.
  const sorted = [...xs].sort((a, b) => a - b);
  const idx = Math.ceil(q * total) - 1;
  return idx < sorted.length ? sorted[Math.max(0, idx)] : undefined;
}

function pct(x: number, n: number): string {
  return `${((100 * x) / n).toFixed(1)}%`;
}

function delay(res: ProcedureResult, n: number): string {
  const s = (q: number) => quantile(res.abortSeconds, q, n);
  const r = (q: number) => quantile(res.abortRequests, q, n);
  const one = (q: number) => (s(q) === undefined ? "not caught" : `${s(q)} s / ${r(q)!.toLocaleString("en-US")}`);
  return `${one(0.5)} | ${one(0.9)}`;
}

export function formatVerdictTable(results: RowResult[]): string {
  const lines: string[] = [];
  lines.push(
    "| scenario | rollouts | aborted (old) | aborted (new) | steps advanced (old) | steps advanced (new) | to abort, median (old) | p90 (old) | median (new) | p90 (new) |",
  );
  lines.push("|---|---|---|---|---|---|---|---|---|---|");
  for (const x of results) {
    const n = x.rollouts;
    const adv = (p: ProcedureResult) => (p.stepDecisions ? pct(p.advanced, p.stepDecisions) : "-");
    const healthy = x.row.canaryError === x.row.stableError;
    lines.push(
      `| ${x.row.label} | ${n} | ${pct(x.old.aborted, n)} | ${pct(x.new.aborted, n)} | ${adv(x.old)} | ${adv(x.new)} | ${healthy ? "- | -" : delay(x.old, n)} | ${healthy ? "- | -" : delay(x.new, n)} |`,
    );
  }
  return lines.join("\n");
}

const H = 3600;
const M = 60;
/** The rows of `npm run bench -- --only verdict`. */
export const VERDICT_ROWS: SimRow[] = [
  {
    label: "healthy: 50 req/s, 10%, 0.5% both, 1 h (60 s window, reading 30 s, step 10 min)",
    rps: 50,
    weight: 0.1,
    stableError: 0.005,
    canaryError: 0.005,
    durationSeconds: H,
    windowSeconds: 60,
    refreshSeconds: 30,
    stepSeconds: 10 * M,
  },
  {
    label: "healthy: 200 req/s, 10%, 1% both, 1 h (60 s / 30 s / 10 min)",
    rps: 200,
    weight: 0.1,
    stableError: 0.01,
    canaryError: 0.01,
    durationSeconds: H,
    windowSeconds: 60,
    refreshSeconds: 30,
    stepSeconds: 10 * M,
  },
  {
    label: "healthy: 200 req/s, 10%, 1% both, 10 min (10 s window (new: 5 s), reading 5 s, step 30 s)",
    rps: 200,
    weight: 0.1,
    stableError: 0.01,
    canaryError: 0.01,
    durationSeconds: 10 * M,
    windowSeconds: 10,
    newWindowSeconds: 5,
    refreshSeconds: 5,
    stepSeconds: 30,
  },
  {
    label: "healthy: 200 req/s, 10%, 1% both, 1 h (10 s / 5 s / 10 min)",
    rps: 200,
    weight: 0.1,
    stableError: 0.01,
    canaryError: 0.01,
    durationSeconds: H,
    windowSeconds: 10,
    newWindowSeconds: 5,
    refreshSeconds: 5,
    stepSeconds: 10 * M,
  },
  {
    label: "healthy: 1,000 req/s, 5%, 0.1% both, 1 h (60 s / 30 s / 10 min)",
    rps: 1000,
    weight: 0.05,
    stableError: 0.001,
    canaryError: 0.001,
    durationSeconds: H,
    windowSeconds: 60,
    refreshSeconds: 30,
    stepSeconds: 10 * M,
  },
  {
    label: "healthy: 20 req/s, 50%, 3% both, 1 h (10 s / 5 s / 10 min)",
    rps: 20,
    weight: 0.5,
    stableError: 0.03,
    canaryError: 0.03,
    durationSeconds: H,
    windowSeconds: 10,
    newWindowSeconds: 5,
    refreshSeconds: 5,
    stepSeconds: 10 * M,
  },
  {
    label: "2× errors: 200 req/s, 10%, 1% vs 2%, 1 h (60 s / 30 s / 10 min)",
    rps: 200,
    weight: 0.1,
    stableError: 0.01,
    canaryError: 0.02,
    durationSeconds: H,
    windowSeconds: 60,
    refreshSeconds: 30,
    stepSeconds: 10 * M,
  },
  {
    label: "5× errors: 200 req/s, 10%, 1% vs 5%, 1 h (60 s / 30 s / 10 min)",
    rps: 200,
    weight: 0.1,
    stableError: 0.01,
    canaryError: 0.05,
    durationSeconds: H,
    windowSeconds: 60,
    refreshSeconds: 30,
    stepSeconds: 10 * M,
  },
  {
    label: "+5 points: 200 req/s, 10%, 1% vs 6%, 1 h (60 s / 30 s / 10 min)",
    rps: 200,
    weight: 0.1,
    stableError: 0.01,
    canaryError: 0.06,
    durationSeconds: H,
    windowSeconds: 60,
    refreshSeconds: 30,
    stepSeconds: 10 * M,
  },
  {
    label: "5× errors: 200 req/s, 10%, 1% vs 5%, 10 min (10 s / 5 s / 30 s)",
    rps: 200,
    weight: 0.1,
    stableError: 0.01,
    canaryError: 0.05,
    durationSeconds: 10 * M,
    windowSeconds: 10,
    newWindowSeconds: 5,
    refreshSeconds: 5,
    stepSeconds: 30,
  },
  {
    label: "5× errors: 50 req/s, 10%, 0.5% vs 2.5%, 1 h (60 s / 30 s / 10 min)",
    rps: 50,
    weight: 0.1,
    stableError: 0.005,
    canaryError: 0.025,
    durationSeconds: H,
    windowSeconds: 60,
    refreshSeconds: 30,
    stepSeconds: 10 * M,
  },
  {
    label: "+5 points: 50 req/s, 10%, 0.5% vs 5.5%, 1 h (10 s / 5 s / 10 min)",
    rps: 50,
    weight: 0.1,
    stableError: 0.005,
    canaryError: 0.055,
    durationSeconds: H,
    windowSeconds: 10,
    newWindowSeconds: 5,
    refreshSeconds: 5,
    stepSeconds: 10 * M,
  },
];
