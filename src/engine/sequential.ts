/**
 * Anytime-valid statistics for canary analysis: tests whose error guarantee holds however often (and
 * whenever) the counts are looked at, because each is a test martingale and Ville's inequality bounds the
 * chance that a nonnegative martingale of mean 1 ever exceeds 1/α by α.
 *
 * 1. Canary vs stable error rates (Lindon and Malek, "Anytime-Valid Inference for Multinomial Count Data",
 *    NeurIPS 2022: Netflix's "Sequential Testing Keeps the World Streaming Netflix", part 2, on counts).
 *    Within one interval where the canary took a share ρ of the requests, the share of that interval's errors
 *    that came from the canary is Binomial(errors, p(θ)) with p(θ) = ρθ / (ρθ + 1 − ρ), θ being the ratio of
 *    the canary's per-request error rate to stable's. This assumes that ρ is constant within the interval (the
 *    evidence cuts intervals at every weight change) and that each request is routed on its own (sticky
 *    sessions are not: see `routing`). (Given the request counts it is in fact hypergeometric, which is less
 *    spread than that binomial in the convex order (Hoeffding 1963), so the likelihood ratios below stay
 *    supermartingales: still valid.) The log-likelihood ratio against θ = 1 adds up over intervals, so it is
 *    kept on a fixed grid of θ and every interval's own ρ is accounted for exactly. A mixture of those ratios
 *    over a prior on the grid is a test martingale for any θ0 on the grid, and inverting it gives a confidence sequence for θ.
 * 2. A canary's (or stable's) error rate alone: the beta-binomial mixture martingale (Robbins), inverted into
 *    a confidence sequence. Used for the floor.
 *
 * Pure and engine-only: the bot, the bench and the tests all call these same functions.
 */

// ---------------------------------------------------------------------------------------------
// The θ grid

/** Grid spacing in log θ: 1.078× between points, so intervals are reported within 8%. */
export const GRID_STEP = 0.075;
const GRID_MIN_K = -40; // θ ≈ 0.05
const GRID_MAX_K = 53; // θ ≈ 53
/**
 * The mixture's prior: half-normal on log θ ≥ 0, spread 1.5 (a 4.5× regression is one standard deviation
 * away). Its mass sits on regressions, which must be caught fast; the confidence sequence is valid for any
 * fixed prior, it is only less sharp on the improvement side (θ < 1), which no decision uses. Chosen with
 * the bench (`npm run bench -- --only verdict`): it catches 5× as soon as the old z-test did.
 */
const PRIOR_SD = 1.5;

/** θ at every grid point, ascending; index `-GRID_MIN_K` is θ = 1 exactly. */
export const GRID: readonly number[] = Array.from({ length: GRID_MAX_K - GRID_MIN_K + 1 }, (_, i) => Math.exp((i + GRID_MIN_K) * GRID_STEP));
export const GRID_ONE = -GRID_MIN_K;

const LOG_PRIOR: readonly number[] = (() => {
  const raw = GRID.map((t) => (t < 1 ? -Infinity : -((Math.log(t) / PRIOR_SD) ** 2) / 2));
  const norm = logSumExp(raw);
  return raw.map((x) => x - norm);
})();

export function logSumExp(xs: readonly number[]): number {
  let max = -Infinity;
  for (const x of xs) if (x > max) max = x;
  if (max === -Infinity) return -Infinity;
  let s = 0;
  for (const x of xs) s += Math.exp(x - max);
  return max + Math.log(s);
}

/** An all-zero log-likelihood ratio (no evidence yet). */
export function emptyLogLik(): number[] {
  return GRID.map(() => 0);
}

/**
 * Add one interval: `canaryErrors` of `errors` came from the canary, which took `share` of the requests.
 * Intervals where one version had no traffic (share 0 or 1) carry no information about θ and change nothing.
 */
export function addInterval(logLik: readonly number[], canaryErrors: number, errors: number, share: number): number[] {
  if (!(share > 0 && share < 1) || !(errors > 0)) return [...logLik];
  return logLik.map((l, k) => {
    const t = GRID[k]!;
    return l + canaryErrors * Math.log(t) - errors * Math.log(1 - share + share * t);
  });
}

export type RatioInterval = {
  /** Lower end of the confidence sequence for θ (0 when the grid's lowest point is inside). */
  lower: number;
  /** Upper end (Infinity when the grid's highest point is inside). */
  upper: number;
  /** The grid θ with the highest likelihood. */
  mle: number;
  /** The mixture martingale for θ = 1: "worse" once it reaches 1/α. */
  evidenceAgainstEqual: number;
};

/**
 * The confidence sequence {θ : mixture / L(θ) < 1/α}. log L is concave in log θ, so the set is one run of
 * grid points; its ends are widened to the next grid point outside, so the true (continuous) set is inside.
 */
export function ratioInterval(logLik: readonly number[], alpha: number): RatioInterval {
  const logMix = logSumExp(logLik.map((l, k) => l + LOG_PRIOR[k]!));
  const cut = logMix + Math.log(alpha);
  let lo = -1;
  let hi = -1;
  let best = 0;
  logLik.forEach((l, k) => {
    if (l > cut) {
      if (lo < 0) lo = k;
      hi = k;
    }
    if (l > logLik[best]!) best = k;
  });
  return {
    lower: lo <= 0 ? 0 : GRID[lo - 1]!,
    upper: hi >= GRID.length - 1 || hi < 0 ? Infinity : GRID[hi + 1]!,
    mle: GRID[best]!,
    evidenceAgainstEqual: Math.exp(logMix - logLik[GRID_ONE]!),
  };
}

/** Scale accumulated evidence as if `factor` times as much traffic had been seen at the same rates. */
export function scaleLogLik(logLik: readonly number[], factor: number): number[] {
  return logLik.map((l) => l * factor);
}

// ---------------------------------------------------------------------------------------------
// One rate alone: the beta-binomial confidence sequence

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9: about 15 significant digits). */
export function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
    9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

function logBeta(a: number, b: number): number {
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}

/** Uniform prior on the rate: no preference for any service's usual level. */
const PRIOR_A = 1;
const PRIOR_B = 1;

/**
 * log of the beta-binomial mixture martingale for "the error rate is q0", after `errors` of `n`:
 * ∫ L(q) dBeta(q) / L(q0).
 */
export function logRateEvidence(errors: number, n: number, q0: number): number {
  return rateEvidence(errors, n)(q0);
}

/** The same as a function of q0, with the mixture (which does not depend on q0) computed once. */
function rateEvidence(errors: number, n: number): (q0: number) => number {
  const ok = n - errors;
  const num = logBeta(PRIOR_A + errors, PRIOR_B + ok) - logBeta(PRIOR_A, PRIOR_B);
  return (q0) => num - ((errors > 0 ? errors * Math.log(q0) : 0) + (ok > 0 ? ok * Math.log(1 - q0) : 0));
}

/** The confidence sequence {q : evidence(q) < 1/α} for an error rate, found by bisection on each side. */
export function rateInterval(errors: number, n: number, alpha: number): { lower: number; upper: number } {
  if (!(n > 0)) return { lower: 0, upper: 1 };
  const cut = Math.log(1 / alpha);
  const mle = errors / n;
  const evidence = rateEvidence(errors, n);
  const outside = (q: number) => evidence(q) >= cut;
  const edge = (inside: number, out: number) => {
    // Bisect between a point inside the set and one outside it; returns the outer end (conservative).
    // 50 halvings: far below any difference a decision or a message turns on.
    for (let i = 0; i < 50; i++) {
      const mid = (inside + out) / 2;
      if (outside(mid)) out = mid;
      else inside = mid;
    }
    return out;
  };
  const lower = mle <= 0 || !outside(Number.MIN_VALUE) ? 0 : edge(mle, 0);
  const upper = mle >= 1 || !outside(1 - 1e-12) ? 1 : edge(mle, 1);
  return { lower, upper };
}

/** Is the error rate confidently above `q0` ("above"), below it ("below"), or not yet known? */
export function compareRate(errors: number, n: number, q0: number, alpha: number): "above" | "below" | "unsure" {
  if (!(n > 0)) return "unsure";
  if (logRateEvidence(errors, n, q0) < Math.log(1 / alpha)) return "unsure";
  return errors / n > q0 ? "above" : "below";
}
