/**
 * THE OLD PROCEDURE (before issue 16), kept for the bench only so the comparison stays reproducible: a
 * fixed-window z-test per reading. Not used by the bot.
 *
 * Is the canary healthy? A pure judgement of one success-rate snapshot, so every replica, every
 * re-render and every test reaches the same answer from the same numbers.
 *
 * The rules, in order:
 *  1. Fewer than `minRequests` canary requests: not enough traffic (and how many more to expect).
 *  2. Canary significantly worse than stable: a one-sided two-proportion z-test at `confidence`
 *     (pooled, with a continuity correction so a single failure among a few hundred requests
 *     does not read as proof against a 99.9% stable; that is where the plain z-test overclaims).
 *  3. Canary significantly below the floor `minSuccessRate` (one-sample score test, i.e. the upper
 *     end of the canary's Wilson interval is below the floor): worse, whatever stable does.
 *     This is what still judges the canary when stable has no traffic (the 100% step).
 *  4. Canary not yet confidently above the floor: not enough traffic, with an estimate of how many
 *     requests at the observed rate would settle it.
 *  5. Otherwise healthy: no evidence the canary is worse, and it is confidently above the floor.
 *
 * Engine code imports nothing outside engine/, so the snapshot shape is restated structurally here;
 * metrics/source.ts's `Snapshot` is assignable to `VerdictInput`.
 */
import { formatLevel, formatRates } from "../../src/slack/views/verdict-text.ts";
import type { MetricsSettings } from "../../src/engine/metrics-settings.ts";

export type VerdictSettings = Pick<MetricsSettings, "minSuccessRate" | "minRequests" | "confidence">;

export type SampleLike = { requests: number; successes: number; p99Ms?: number } | { noTraffic: true };
export type VerdictInput = { stable: SampleLike; canary: SampleLike } | { error: string };

type Observed = {
  canaryRate: number;
  canaryRequests: number;
  /** Absent when stable had no traffic in the window. */
  stableRate?: number;
  stableRequests?: number;
  canaryP99Ms?: number;
  stableP99Ms?: number;
};

export type Verdict =
  | ({ kind: "healthy"; minSuccessRate: number } & Observed)
  | ({
      kind: "worse";
      /** What the canary was compared with: the stable version, or the configured floor. */
      basis: "stable" | "floor";
      /** The confidence level the claim is made at (the configured one). */
      confidence: number;
      /** One-sided p-value actually reached (smaller = stronger evidence). */
      pValue: number;
      reason: string;
      minSuccessRate: number;
    } & Observed)
  | {
      kind: "not-enough-traffic";
      /** Approximate further canary requests before a verdict is possible (at the rates seen so far). */
      needed: number;
      canaryRequests: number;
      canaryRate?: number;
      stableRate?: number;
      minSuccessRate: number;
    }
  | { kind: "unavailable"; reason: string };

/** Cap for `needed` when the canary sits so close to the floor that no realistic volume would tell. */
export const NEEDED_CAP = 1_000_000_000;

// ---------------------------------------------------------------------------------------------
// Normal distribution

/**
 * Complementary error function, Chebyshev fit from Numerical Recipes (`erfcc`): fractional error
 * below 1.2e-7 everywhere, so tail probabilities (p-values) stay accurate, unlike 1 - erf(x).
 */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Standard normal CDF Φ(x). */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/**
 * Inverse standard normal CDF (the z for a confidence level): Acklam's rational approximation,
 * relative error 1.15e-9. (No Halley polish: `normalCdf` is the less accurate of the two.)
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile needs 0 < p < 1, got ${p}`);
  const [a0, a1, a2, a3, a4, a5] = [
    -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239,
  ] as const;
  const [b0, b1, b2, b3, b4] = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1] as const;
  const [c0, c1, c2, c3, c4, c5] = [
    -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783,
  ] as const;
  const [d0, d1, d2, d3] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416] as const;
  const pLow = 0.02425;
  if (p < pLow) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  } else if (p <= 1 - pLow) {
    const q = p - 0.5;
    const r = q * q;
    return ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) / (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
}

// ---------------------------------------------------------------------------------------------
// Tests

export type Counts = { requests: number; successes: number };

/**
 * Pooled two-proportion z statistic for "`b` has a lower success rate than `a`" (positive when b
 * looks worse). With `continuityCorrection` the difference is shrunk by ½(1/nA + 1/nB) (Yates),
 * which keeps the normal approximation honest when failures are rare.
 */
export function twoProportionZ(a: Counts, b: Counts, opts: { continuityCorrection?: boolean } = {}): number {
  const pa = a.successes / a.requests;
  const pb = b.successes / b.requests;
  let diff = pa - pb;
  if (opts.continuityCorrection) {
    const cc = 0.5 * (1 / a.requests + 1 / b.requests);
    diff = diff > 0 ? Math.max(0, diff - cc) : Math.min(0, diff + cc);
  }
  const pooled = (a.successes + b.successes) / (a.requests + b.requests);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / a.requests + 1 / b.requests));
  // se is 0 only when both versions are all-success or all-failure: then they do not differ.
  if (se === 0) return 0;
  return diff / se;
}

/** One-sample score statistic for "the true rate is below `floor`" (positive when below). */
export function belowFloorZ(c: Counts, floor: number): number {
  const p = c.successes / c.requests;
  return ((floor - p) * Math.sqrt(c.requests)) / Math.sqrt(floor * (1 - floor));
}

/** Requests at rate `p` for the score test against `floor` to reach `z` (either direction). */
function requestsToTell(p: number, floor: number, z: number): number {
  const gap = Math.abs(p - floor);
  if (gap === 0) return NEEDED_CAP;
  return Math.min(NEEDED_CAP, Math.ceil((z * z * floor * (1 - floor)) / (gap * gap)));
}

// ---------------------------------------------------------------------------------------------
// The verdict

function counts(s: SampleLike): (Counts & { p99Ms?: number }) | undefined {
  if ("noTraffic" in s) return undefined;
  if (!(s.requests > 0) || !Number.isFinite(s.requests)) return undefined;
  // Sources round extrapolated counters; never let successes exceed requests.
  const successes = Math.min(Math.max(0, s.successes), s.requests);
  return { requests: s.requests, successes, ...(s.p99Ms !== undefined ? { p99Ms: s.p99Ms } : {}) };
}

export function verdict(input: VerdictInput, settings: VerdictSettings): Verdict {
  if ("error" in input) return { kind: "unavailable", reason: input.error };
  const { minRequests, minSuccessRate: floor, confidence } = settings;
  const zCrit = normalQuantile(confidence);
  const stable = counts(input.stable);
  const canary = counts(input.canary);
  const stableRate = stable ? stable.successes / stable.requests : undefined;

  if (!canary) {
    return {
      kind: "not-enough-traffic",
      needed: minRequests,
      canaryRequests: 0,
      ...(stableRate !== undefined ? { stableRate } : {}),
      minSuccessRate: floor,
    };
  }
  const canaryRate = canary.successes / canary.requests;
  const observed: Observed = {
    canaryRate,
    canaryRequests: canary.requests,
    ...(stable ? { stableRate: stableRate!, stableRequests: stable.requests } : {}),
    ...(canary.p99Ms !== undefined ? { canaryP99Ms: canary.p99Ms } : {}),
    ...(stable?.p99Ms !== undefined ? { stableP99Ms: stable.p99Ms } : {}),
  };
  const notEnough = (totalNeeded: number): Verdict => ({
    kind: "not-enough-traffic",
    needed: totalNeeded >= NEEDED_CAP ? NEEDED_CAP : Math.max(1, Math.ceil(totalNeeded - canary.requests)),
    canaryRequests: canary.requests,
    canaryRate,
    ...(stableRate !== undefined ? { stableRate } : {}),
    minSuccessRate: floor,
  });
  // What the floor alone would need at this rate: so the estimate before minRequests is not
  // followed by another "not enough" straight after.
  const floorNeeds = floor > 0 ? requestsToTell(canaryRate, floor, zCrit) : 0;

  if (canary.requests < minRequests) return notEnough(Math.max(minRequests, floorNeeds));

  if (stable) {
    const z = twoProportionZ(stable, canary, { continuityCorrection: true });
    if (z >= zCrit) {
      return { kind: "worse", basis: "stable", confidence, pValue: 1 - normalCdf(z), reason: "worse than stable", minSuccessRate: floor, ...observed };
    }
  }
  if (floor > 0) {
    const z = belowFloorZ(canary, floor);
    if (z >= zCrit) {
      return {
        kind: "worse",
        basis: "floor",
        confidence,
        pValue: 1 - normalCdf(z),
        reason: `below the ${formatLevel(floor)} floor`,
        minSuccessRate: floor,
        ...observed,
      };
    }
    // Neither confidently below nor confidently above the floor yet.
    if (-z < zCrit) return notEnough(Math.max(minRequests, floorNeeds));
  }
  return { kind: "healthy", minSuccessRate: floor, ...observed };
}

// ---------------------------------------------------------------------------------------------
// Words (the rate and level formats are the bot's own, so old and new read alike)

export { formatLevel, formatRates };

function roughly(n: number): string {
  // "about 337" claims a precision the estimate does not have: two significant figures, rounded up.
  if (n < 100) return String(n);
  const mag = 10 ** (Math.floor(Math.log10(n)) - 1);
  return (Math.ceil(n / mag) * mag).toLocaleString("en-US");
}

export function describeVerdict(v: Verdict): string {
  switch (v.kind) {
    case "unavailable":
      return `metrics unavailable: ${v.reason}`;
    case "not-enough-traffic": {
      if (v.needed >= NEEDED_CAP) {
        return `not enough traffic yet: the canary's success rate sits right at the ${formatLevel(v.minSuccessRate)} floor`;
      }
      const so =
        v.canaryRate === undefined
          ? "no canary requests so far"
          : `canary ${formatRates(v.canaryRate)[0]} of ${v.canaryRequests.toLocaleString("en-US")} so far`;
      return `not enough traffic yet: about ${roughly(v.needed)} more canary requests needed (${so})`;
    }
    case "healthy":
    case "worse": {
      const [c, s] = formatRates(v.canaryRate, v.stableRate);
      const head = s === undefined ? `canary ${c}` : `canary ${c} vs stable ${s}`;
      const noStable = s === undefined ? " (stable has no traffic)" : "";
      if (v.kind === "healthy") {
        return `${head}, healthy over ${v.canaryRequests.toLocaleString("en-US")} canary requests${noStable}`;
      }
      return `${head}, ${v.basis === "stable" ? "worse" : v.reason} with ${formatLevel(v.confidence)} confidence${noStable}`;
    }
  }
}
