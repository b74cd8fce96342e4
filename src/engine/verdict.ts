/**
 * Is the canary healthy? A pure judgement of the exact counts since the rollout began (evidence.ts), with
 * anytime-valid tests (sequential.ts), so the answer stays honest however often it is recomputed.
 *
 * One α = 1 − confidence is shared by the tests that can abort (Bonferroni: α/2 each for the ratio and
 * the floor; α/3 each when the target has a latency gate, the third being the same ratio test on slow
 * requests), so the chance that a canary failing (and, with the gate, slowing) no more often than stable is
 * ever called worse, over the whole rollout, is at most α.
 *
 * The rules, in order:
 *  1. Worse than stable: the confidence sequence for θ (canary's error rate ÷ stable's) lies above 1 (not for
 *     `routing: session`, whose requests are not independent).
 *  1b. Slower than stable (latency gate): the same confidence sequence, for the canary's rate of requests over
 *     the threshold ÷ stable's, lies above 1, once the histogram counted `latency.minRequests` canary requests.
 *  2. Below the floor `minSuccessRate`: the canary's success rate is confidently below it, and stable's, over
 *     the same intervals, is not below it too (a shared outage is not the canary's fault).
 *  3. Healthy: nothing says worse, at least `minRequests` canary requests, and enough exposure: a canary failing
 *     `maxErrorRatio`× as often as stable and at least `maxErrorIncrease` more would have been called worse by
 *     now with probability `power`; with the latency gate, likewise for slow requests (a canary with
 *     `maxErrorRatio`× stable's share of requests over the threshold would have been called slower), once the
 *     histogram counted `latency.minRequests` canary requests. When stable never had traffic (or routing is
 *     per session), the floor alone: confidently above it.
 *  4. Otherwise waiting, with how many more canary requests rule 3 needs at the rates seen.
 *
 * Data only (numbers and codes); the words are in slack/views/verdict-text.ts.
 */
import { foldCounts, STALE_READS, type Evidence } from "./evidence.ts";
import type { VerdictSettings } from "./metrics-settings.ts";
import { addInterval, compareRate, emptyLogLik, logRateEvidence, rateInterval, ratioInterval } from "./sequential.ts";

export type SampleLike = { requests: number; successes: number; p99Ms?: number } | { noTraffic: true };
export type VerdictInput = { stable: SampleLike; canary: SampleLike } | { error: string };

/**
 * Canary's error rate as a multiple of stable's: the observed value (absent while stable had no errors) and
 * its confidence sequence (`upper` absent while unbounded: records are JSON, which has no Infinity).
 */
export type RatioFinding = { estimate?: number; lower: number; upper?: number };

/** Slow requests (over the threshold) per version since the evidence began. */
export type SlowFinding = {
  thresholdMs: number;
  canarySlow: number;
  canaryRequests: number;
  stableSlow: number;
  stableRequests: number;
  ratio?: RatioFinding;
};

/** The regression the evidence must be able to catch before a step (rule 3). */
export type Detect = { ratio: number; increase: number; power: number };

export type Observed = {
  canaryRate: number;
  canaryRequests: number;
  /** Absent while stable had no traffic. */
  stableRate?: number;
  stableRequests?: number;
  canaryP99Ms?: number;
  stableP99Ms?: number;
  /** Absent while neither version had an error with both taking traffic. */
  ratio?: RatioFinding;
  /** The latency gate's counts: requests over `thresholdMs` per version, and the slow-rate ratio's confidence sequence. */
  slow?: SlowFinding;
  /** Confidence sequence for the canary's success rate. */
  canarySuccess: { lower: number; upper: number };
  /** Start of the evidence (ms): the counts are since then. */
  since?: number;
  confidence: number;
  minSuccessRate: number;
};

export type Verdict =
  | ({
      kind: "healthy";
      /** What the step rests on: enough exposure to catch `detect`, or (no stable traffic, sticky routing) the floor. */
      basis: "power" | "floor";
      detect: Detect;
      maxErrorRatio: number;
      maxErrorIncrease: number;
    } & Observed)
  | ({
      kind: "worse";
      /** What the canary was compared with: stable's errors, the configured floor, or stable's slow requests (latency gate). */
      basis: "stable" | "floor" | "latency";
      /** Anytime-valid p-value (Bonferroni-adjusted over the tests sharing α): smaller is stronger evidence. */
      pValue: number;
    } & Observed)
  | ({
      kind: "not-enough-traffic";
      /** Further canary requests before rule 3 is met, if the rates seen so far hold. */
      needed: number;
      /** At the canary's recent rate, how long those take (s); absent without a rate. */
      neededSeconds?: number;
      /**
       * What the step waits for, with the latency gate on: exposure on slow requests only (`latency`), or on
       * errors and slow requests alike (`both`); absent when errors alone are what is missing.
       */
      waitingFor?: "latency" | "both";
      detect: Detect;
      maxErrorRatio: number;
    } & Partial<Observed> & { canaryRequests: number; confidence: number; minSuccessRate: number })
  | {
      kind: "unavailable";
      /** The source's error, as it said it. */
      reason?: string;
      /** No new sample in this many readings in a row, since then (ms): a scrape outage, or a query selecting nothing. */
      noData?: { reads: number; since: number };
    };

/** Cap for `needed` when no realistic volume would be enough (an error rate near 100%). */
export const NEEDED_CAP = 1_000_000_000;

type Latency = { canaryP99Ms?: number; stableP99Ms?: number };
type Decided = { kind: "worse"; basis: "stable" | "floor" | "latency"; pValue: number } | { kind: "healthy"; basis: "power" | "floor" };

const DEFAULT_POWER = 0.5;

function detectOf(s: VerdictSettings): Detect {
  return { ratio: s.maxErrorRatio, increase: s.maxErrorIncrease, power: s.power ?? DEFAULT_POWER };
}

/** How many tests share α: the ratio and the floor, and the latency ratio when the target has the gate. */
export function testsSharingAlpha(s: Pick<VerdictSettings, "latency">): number {
  return s.latency ? 3 : 2;
}

/** Standard normal quantile for p in [0.5, 1) (Abramowitz & Stegun 26.2.23: error under 4.5e-4). */
export function normalQuantile(p: number): number {
  const t = Math.sqrt(-2 * Math.log(1 - p));
  return t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t);
}

/**
 * Could this much traffic have caught the regression `detect` names? The canary's and stable's request counts
 * as they are, stable's error rate as seen, the canary's at max(ratio × stable's, stable's + increase): the
 * ratio test at level `a` on the `power`-quantile of the canary's share of errors it would then have seen
 * (one interval at the overall share: steps change the share, which this approximates).
 */
export function exposed(nc: number, ns: number, stableErrorRate: number, d: Detect, a: number): boolean {
  if (!(nc > 0 && ns > 0)) return false;
  const q = Math.min(0.999, Math.max(d.ratio * stableErrorRate, stableErrorRate + d.increase));
  const mc = nc * q;
  const errors = mc + ns * stableErrorRate;
  const pi = mc / errors;
  const quantile = Math.max(0, errors * pi - normalQuantile(d.power) * Math.sqrt(errors * pi * (1 - pi)));
  return ratioInterval(addInterval(emptyLogLik(), quantile, errors, nc / (nc + ns)), a).lower > 1;
}

/** Rules 1-4 on the evidence as it stands; undefined when they do not decide yet. */
function decide(e: Evidence, s: VerdictSettings): Decided | undefined {
  const k = testsSharingAlpha(s);
  const a = (1 - s.confidence) / k;
  const c = e.canary;
  const st = e.stable;
  if (s.routing !== "session" && s.latency && e.slow && e.slow.canary.requests >= s.latency.minRequests) {
    const slow = ratioInterval(e.slow.logLik, a);
    if (slow.lower > 1) return { kind: "worse", basis: "latency", pValue: Math.min(1, k / slow.evidenceAgainstEqual) };
  }
  if (c.requests <= 0) return undefined;
  if (s.routing !== "session") {
    const ratio = ratioInterval(e.logLik, a);
    if (ratio.lower > 1) return { kind: "worse", basis: "stable", pValue: Math.min(1, k / ratio.evidenceAgainstEqual) };
  }
  const floorError = 1 - s.minSuccessRate;
  // Once stable has had traffic, the floor looks at the intervals where both versions had some (at 100% a shared
  // outage could not be told from the canary's own failure), and stands down when stable, over those same
  // intervals and weighted like the canary's traffic (evidence.stableLike), is below the floor too.
  const f = st.requests > 0 && e.compared ? e.compared : c;
  const stableAlsoBelow =
    st.requests > 0 && (e.stableLike !== undefined && f.requests > 0 ? e.stableLike / f.requests > floorError : st.errors / st.requests > floorError);
  if (s.minSuccessRate > 0 && f.requests > 0 && !stableAlsoBelow && compareRate(f.errors, f.requests, floorError, a) === "above") {
    return { kind: "worse", basis: "floor", pValue: Math.min(1, k * Math.exp(-logRateEvidence(f.errors, f.requests, floorError))) };
  }
  if (c.requests < s.minRequests) return undefined;
  if (st.requests <= 0 || s.routing === "session") {
    // Stable never had traffic (a plan that starts at 100%), or requests are not independent: the floor alone.
    const floor = s.minSuccessRate > 0 ? compareRate(c.errors, c.requests, floorError, a) : "below";
    return floor === "below" ? { kind: "healthy", basis: "floor" } : undefined;
  }
  if (!exposed(c.requests, st.requests, st.errors / st.requests, detectOf(s), a)) return undefined;
  return latencyExposed(e, s, a, 1) ? { kind: "healthy", basis: "power" } : undefined;
}

/**
 * Rule 3's part for the latency gate, at the counts scaled by `k`: the histogram has counted
 * `latency.minRequests` canary requests, and a canary with `detect` times stable's share of slow requests (at
 * least `maxErrorIncrease` more) would have been called slower with probability `power`, exactly as for errors.
 * True without a gate, or with `routing: session` (the gate is off there).
 */
function latencyExposed(e: Evidence, s: VerdictSettings, a: number, k: number): boolean {
  if (!s.latency || s.routing === "session") return true;
  const w = e.slow;
  if (!w || w.stable.requests <= 0) return false;
  if (k * w.canary.requests < s.latency.minRequests) return false;
  return exposed(k * w.canary.requests, k * w.stable.requests, w.stable.errors / w.stable.requests, detectOf(s), a);
}

/**
 * How many more canary requests until rule 3 holds, if traffic goes on in the same proportions: the smallest
 * factor k at which the scaled counts pass.
 */
export function requestsNeeded(e: Evidence, s: VerdictSettings, on: "errors" | "latency" = "errors"): number {
  const n = on === "latency" ? (e.slow?.canary.requests ?? 0) : e.canary.requests;
  if (n <= 0) return on === "latency" ? Math.max(s.minRequests, s.latency?.minRequests ?? 0) : s.minRequests;
  const a = (1 - s.confidence) / testsSharingAlpha(s);
  const d = detectOf(s);
  const pass = (k: number) => {
    if (on === "latency") return latencyExposed(e, s, a, k);
    if (k * n < s.minRequests) return false;
    if (e.stable.requests <= 0 || s.routing === "session") {
      return s.minSuccessRate <= 0 || compareRate(e.canary.errors * k, n * k, 1 - s.minSuccessRate, a) === "below";
    }
    return exposed(n * k, e.stable.requests * k, e.stable.errors / e.stable.requests, d, a);
  };
  let hi = 2;
  while (!pass(hi)) {
    if (hi * n >= NEEDED_CAP) return NEEDED_CAP;
    hi *= 2;
  }
  let lo = hi / 2;
  // To 1%: the message rounds to two significant figures anyway.
  for (let i = 0; i < 30 && hi - lo > 0.01 * lo; i++) {
    const mid = (lo + hi) / 2;
    if (pass(mid)) hi = mid;
    else lo = mid;
  }
  return Math.max(1, Math.ceil((hi - 1) * n));
}

function ratioFinding(logLik: readonly number[], a: number, c: { n: number; x: number }, st: { n: number; x: number }): RatioFinding | undefined {
  const r = ratioInterval(logLik, a);
  if (!(r.lower > 0 || Number.isFinite(r.upper))) return undefined;
  return {
    ...(st.x > 0 && st.n > 0 && c.n > 0 ? { estimate: c.x / c.n / (st.x / st.n) } : {}),
    lower: r.lower,
    ...(Number.isFinite(r.upper) ? { upper: r.upper } : {}),
  };
}

function slowFinding(e: Evidence, thresholdMs: number, a: number): SlowFinding {
  const w = e.slow!;
  const ratio = ratioFinding(w.logLik, a, { n: w.canary.requests, x: w.canary.errors }, { n: w.stable.requests, x: w.stable.errors });
  return {
    thresholdMs,
    canarySlow: w.canary.errors,
    canaryRequests: w.canary.requests,
    stableSlow: w.stable.errors,
    stableRequests: w.stable.requests,
    ...(ratio ? { ratio } : {}),
  };
}

export function judge(e: Evidence | undefined, s: VerdictSettings, latency: Latency = {}): Verdict {
  if (e && (e.stale ?? 0) >= STALE_READS) return { kind: "unavailable", noData: { reads: e.stale!, since: e.staleSince ?? e.until } };
  const base = { minSuccessRate: s.minSuccessRate, confidence: s.confidence, ...(e ? { since: e.since } : {}) };
  const detect = detectOf(s);
  if (!e || e.canary.requests <= 0) {
    return {
      kind: "not-enough-traffic",
      needed: s.minRequests,
      canaryRequests: 0,
      ...(e && e.stable.requests > 0 ? { stableRate: 1 - e.stable.errors / e.stable.requests, stableRequests: e.stable.requests } : {}),
      detect,
      maxErrorRatio: s.maxErrorRatio,
      ...base,
    };
  }
  const k = testsSharingAlpha(s);
  const a = (1 - s.confidence) / k;
  const c = e.canary;
  const st = e.stable;
  const slow = s.latency && e.slow ? slowFinding(e, s.latency.thresholdMs, a) : undefined;
  const success = rateInterval(c.errors, c.requests, a);
  const ratio = ratioFinding(e.logLik, a, { n: c.requests, x: c.errors }, { n: st.requests, x: st.errors });
  const observed: Observed = {
    canaryRate: 1 - c.errors / c.requests,
    canaryRequests: c.requests,
    ...(st.requests > 0 ? { stableRate: 1 - st.errors / st.requests, stableRequests: st.requests } : {}),
    ...(latency.canaryP99Ms !== undefined ? { canaryP99Ms: latency.canaryP99Ms } : {}),
    ...(latency.stableP99Ms !== undefined ? { stableP99Ms: latency.stableP99Ms } : {}),
    ...(ratio ? { ratio } : {}),
    ...(slow ? { slow } : {}),
    canarySuccess: { lower: 1 - success.upper, upper: 1 - success.lower },
    ...base,
  };
  const d = decide(e, s);
  if (d?.kind === "worse") return { ...d, ...observed };
  if (d?.kind === "healthy") return { ...d, detect, maxErrorRatio: s.maxErrorRatio, maxErrorIncrease: s.maxErrorIncrease, ...observed };
  const forErrors = requestsNeeded(e, s);
  // The latency gate's exposure, when errors alone would not hold the step or would hold it less long.
  const gate = s.latency && s.routing !== "session" && st.requests > 0;
  const forLatency = gate && !latencyExposed(e, s, a, 1) ? requestsNeeded(e, s, "latency") : 0;
  const errorsReady = gate && c.requests >= s.minRequests && exposed(c.requests, st.requests, st.errors / st.requests, detect, a);
  const needed = Math.max(errorsReady ? 0 : forErrors, forLatency);
  const waitingFor = forLatency > 0 ? (errorsReady ? "latency" : "both") : undefined;
  const rate = e.recent && e.recent.seconds > 0 ? e.recent.canary / e.recent.seconds : undefined;
  return {
    kind: "not-enough-traffic",
    needed,
    ...(waitingFor ? { waitingFor } : {}),
    ...(rate && rate > 0 && needed < NEEDED_CAP ? { neededSeconds: Math.ceil(needed / rate) } : {}),
    detect,
    maxErrorRatio: s.maxErrorRatio,
    ...observed,
  };
}

/**
 * One span's counts judged on their own, as if they were the whole rollout so far: for a person's ad-hoc look
 * and for tests. The bot judges the folded evidence with `judge`.
 */
export function verdict(input: VerdictInput, s: VerdictSettings): Verdict {
  if ("error" in input) return { kind: "unavailable", reason: input.error };
  const counts = (x: SampleLike) => ("noTraffic" in x ? undefined : x);
  // No rate to speak of for a span read on its own: "how long" is left out.
  const { recent: _recent, ...e } = foldCounts(undefined, 0, 1, counts(input.stable), counts(input.canary));
  const p99 = (x: SampleLike) => ("noTraffic" in x ? undefined : x.p99Ms);
  const c = p99(input.canary);
  const st = p99(input.stable);
  return judge(e, s, { ...(c !== undefined ? { canaryP99Ms: c } : {}), ...(st !== undefined ? { stableP99Ms: st } : {}) });
}
