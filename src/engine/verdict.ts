/**
 * Is the canary healthy? A pure judgement of the counts since the rollout began (evidence.ts), with
 * anytime-valid tests (sequential.ts), so the answer stays honest however often it is recomputed: the chance
 * that a canary failing no more often than stable is ever called worse, over the whole rollout, is at most
 * 1 − confidence.
 *
 * The rules, in order (α = 1 − confidence):
 *  1. Worse than stable: the confidence sequence for θ (canary's error rate ÷ stable's) lies above 1.
 *  2. Below the floor `minSuccessRate`: the canary's success rate is confidently below it.
 *  3. Healthy: at least `minRequests` canary requests, confidently above the floor, and confidently not worse
 *     than the tolerance: θ < `maxErrorRatio`, or (for services with too few errors for a ratio) the canary's
 *     error rate exceeds stable's by less than `maxErrorIncrease` (each rate's sequence at α/2). When stable
 *     never had traffic, the floor alone.
 *  4. Otherwise not enough traffic, with how many more canary requests the same rules need at the rates seen.
 *
 * Data only (numbers and codes); the words are in slack/views/verdict-text.ts.
 */
import { foldReading, type Evidence } from "./evidence.ts";
import type { VerdictSettings } from "./metrics-settings.ts";
import { compareRate, logRateEvidence, rateInterval, ratioInterval, scaleLogLik } from "./sequential.ts";

export type SampleLike = { requests: number; successes: number; p99Ms?: number } | { noTraffic: true };
export type VerdictInput = { stable: SampleLike; canary: SampleLike } | { error: string };

/**
 * Canary's error rate as a multiple of stable's: the observed value (absent while stable had no errors) and
 * its confidence sequence (`upper` absent while unbounded: records are JSON, which has no Infinity).
 */
export type RatioFinding = { estimate?: number; lower: number; upper?: number };

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
  /** Confidence sequence for the canary's success rate. */
  canarySuccess: { lower: number; upper: number };
  confidence: number;
  minSuccessRate: number;
};

export type Verdict =
  | ({
      kind: "healthy";
      /** What ruled out a material regression: the ratio, or (too few errors for one) the absolute increase. */
      basis: "ratio" | "increase" | "floor";
      maxErrorRatio: number;
      maxErrorIncrease: number;
    } & Observed)
  | ({
      kind: "worse";
      /** What the canary was compared with: the stable version, or the configured floor. */
      basis: "stable" | "floor";
      /** Anytime-valid p-value (1 / the test martingale): smaller is stronger evidence. */
      pValue: number;
    } & Observed)
  | ({
      kind: "not-enough-traffic";
      /** Further canary requests before these rules decide, if the rates seen so far hold. */
      needed: number;
      maxErrorRatio: number;
    } & Partial<Observed> & { canaryRequests: number; confidence: number; minSuccessRate: number })
  | { kind: "unavailable"; reason: string };

/** Cap for `needed` when the rates seen sit so close to a boundary that no realistic volume would tell. */
export const NEEDED_CAP = 1_000_000_000;

type Latency = { canaryP99Ms?: number; stableP99Ms?: number };
type Decided = Exclude<Verdict["kind"], "not-enough-traffic" | "unavailable">;

/** Rules 1-3 on the evidence as it stands; undefined when they do not decide yet. */
function decide(e: Evidence, s: VerdictSettings): { kind: Decided; basis: string; pValue?: number } | undefined {
  const alpha = 1 - s.confidence;
  const c = e.canary;
  if (c.requests <= 0) return undefined;
  const ratio = ratioInterval(e.logLik, alpha);
  if (ratio.lower > 1) return { kind: "worse", basis: "stable", pValue: Math.min(1, 1 / ratio.evidenceAgainstEqual) };
  const floorError = 1 - s.minSuccessRate;
  const floor = s.minSuccessRate > 0 ? compareRate(c.errors, c.requests, floorError, alpha) : "below";
  if (floor === "above") return { kind: "worse", basis: "floor" };
  if (c.requests < s.minRequests || floor !== "below") return undefined;
  if (ratio.upper < s.maxErrorRatio) return { kind: "healthy", basis: "ratio" };
  // Stable never had traffic (a plan that starts at 100%): the floor is all there is to judge by.
  if (e.stable.requests <= 0) return { kind: "healthy", basis: "floor" };
  if (e.stable.requests > 0) {
    const canaryErr = rateInterval(c.errors, c.requests, alpha / 2);
    const stableErr = rateInterval(e.stable.errors, e.stable.requests, alpha / 2);
    if (canaryErr.upper - stableErr.lower < s.maxErrorIncrease) return { kind: "healthy", basis: "increase" };
  }
  return undefined;
}

function scaled(e: Evidence, k: number): Evidence {
  const t = (x: { requests: number; errors: number }) => ({ requests: x.requests * k, errors: x.errors * k });
  return { ...e, canary: t(e.canary), stable: t(e.stable), logLik: scaleLogLik(e.logLik, k) };
}

/**
 * How many more canary requests until rules 1-3 decide, if traffic goes on at the rates seen: every count and
 * the log-likelihood grow in proportion, so this is the smallest factor k at which `decide` answers.
 */
export function requestsNeeded(e: Evidence, s: VerdictSettings): number {
  const n = e.canary.requests;
  if (n <= 0) return s.minRequests;
  let hi = 2;
  while (!decide(scaled(e, hi), s)) {
    if (hi * n >= NEEDED_CAP) return NEEDED_CAP;
    hi *= 2;
  }
  let lo = hi / 2;
  // To 1%: the message rounds to two significant figures anyway.
  for (let i = 0; i < 30 && hi - lo > 0.01 * lo; i++) {
    const mid = (lo + hi) / 2;
    if (decide(scaled(e, mid), s)) hi = mid;
    else lo = mid;
  }
  return Math.max(1, Math.ceil((hi - 1) * n));
}

export function judge(e: Evidence | undefined, s: VerdictSettings, latency: Latency = {}): Verdict {
  const base = { minSuccessRate: s.minSuccessRate, confidence: s.confidence };
  if (!e || e.canary.requests <= 0) {
    return {
      kind: "not-enough-traffic",
      needed: s.minRequests,
      canaryRequests: 0,
      ...(e && e.stable.requests > 0 ? { stableRate: 1 - e.stable.errors / e.stable.requests, stableRequests: e.stable.requests } : {}),
      maxErrorRatio: s.maxErrorRatio,
      ...base,
    };
  }
  const alpha = 1 - s.confidence;
  const c = e.canary;
  const st = e.stable;
  const r = ratioInterval(e.logLik, alpha);
  const informative = r.lower > 0 || Number.isFinite(r.upper);
  const success = rateInterval(c.errors, c.requests, alpha);
  const observed: Observed = {
    canaryRate: 1 - c.errors / c.requests,
    canaryRequests: c.requests,
    ...(st.requests > 0 ? { stableRate: 1 - st.errors / st.requests, stableRequests: st.requests } : {}),
    ...(latency.canaryP99Ms !== undefined ? { canaryP99Ms: latency.canaryP99Ms } : {}),
    ...(latency.stableP99Ms !== undefined ? { stableP99Ms: latency.stableP99Ms } : {}),
    ...(informative
      ? {
          ratio: {
            ...(st.errors > 0 && st.requests > 0 ? { estimate: c.errors / c.requests / (st.errors / st.requests) } : {}),
            lower: r.lower,
            ...(Number.isFinite(r.upper) ? { upper: r.upper } : {}),
          },
        }
      : {}),
    canarySuccess: { lower: 1 - success.upper, upper: 1 - success.lower },
    ...base,
  };
  const d = decide(e, s);
  if (d?.kind === "worse") {
    const pValue = d.pValue ?? Math.min(1, Math.exp(-logFloorEvidence(e, s)));
    return { kind: "worse", basis: d.basis as "stable" | "floor", pValue, ...observed };
  }
  if (d?.kind === "healthy") {
    return {
      kind: "healthy",
      basis: d.basis as "ratio" | "increase" | "floor",
      maxErrorRatio: s.maxErrorRatio,
      maxErrorIncrease: s.maxErrorIncrease,
      ...observed,
    };
  }
  return { kind: "not-enough-traffic", needed: requestsNeeded(e, s), maxErrorRatio: s.maxErrorRatio, ...observed };
}

/** The floor's test martingale at the floor itself (its inverse is the anytime p-value). */
function logFloorEvidence(e: Evidence, s: VerdictSettings): number {
  return logRateEvidence(e.canary.errors, e.canary.requests, 1 - s.minSuccessRate);
}

/**
 * One reading judged on its own, as if it were the whole rollout so far: for a person's ad-hoc look and for
 * tests. The bot judges the folded evidence with `judge`.
 */
export function verdict(input: VerdictInput, s: VerdictSettings): Verdict {
  if ("error" in input) return { kind: "unavailable", reason: input.error };
  const e = foldReading(undefined, 0, 1, input.stable, input.canary);
  const p99 = (x: SampleLike) => ("noTraffic" in x ? undefined : x.p99Ms);
  const c = p99(input.canary);
  const st = p99(input.stable);
  return judge(e, s, { ...(c !== undefined ? { canaryP99Ms: c } : {}), ...(st !== undefined ? { stableP99Ms: st } : {}) });
}
