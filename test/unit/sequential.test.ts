import { describe, expect, it } from "vitest";
import { addInterval, compareRate, emptyLogLik, GRID, GRID_ONE, logRateEvidence, rateInterval, ratioInterval } from "../../src/engine/sequential.ts";

/*
 * Expected values were computed independently with SciPy 1.17 / NumPy 2.4 (not with this code):
 *
 *   from scipy.stats import binom; from scipy.special import logsumexp, betaln; import numpy as np
 *   th = np.exp(0.075 * np.arange(-40, 54)); u = np.log(th)
 *   lp = np.where(u < 0, -np.inf, -(u / 1.5)**2 / 2); lp -= logsumexp(lp)
 *   def ll(iv): return sum(binom.logpmf(x, e, r*th/(r*th+1-r)) - binom.logpmf(x, e, r) for r, e, x in iv)
 *   l = ll(iv); lm = logsumexp(l + lp); inside = np.where(l > lm + np.log(0.01))[0]
 *   M1 = np.exp(lm - l[40]); lower = th[inside[0]-1]; upper = th[inside[-1]+1]
 *
 *   betaln(11, 91) - betaln(1, 1) - 10*np.log(0.05) - 90*np.log(0.95)     # = -0.5237246487
 */

const fold = (intervals: [share: number, errors: number, canaryErrors: number][]) =>
  intervals.reduce((l, [share, errors, x]) => addInterval(l, x, errors, share), emptyLogLik());

describe("the conditional-binomial likelihood ratio", () => {
  it("matches the binomial pmf ratio for one interval (10% share, 12 of 40 errors on the canary)", () => {
    const l = fold([[0.1, 40, 12]]);
    expect(l[GRID_ONE]).toBe(0);
    expect(GRID[GRID_ONE + 9]).toBeCloseTo(1.964033, 5);
    expect(l[GRID_ONE + 9]).toBeCloseTo(4.418596276, 8);
    expect(l[GRID_ONE + 15]).toBeCloseTo(5.940637983, 8);
  });

  it("an interval where one version had no traffic carries no evidence", () => {
    expect(fold([[0, 10, 0]])).toEqual(emptyLogLik());
    expect(fold([[1, 10, 10]])).toEqual(emptyLogLik());
  });
});

describe("the confidence sequence for the error ratio (99%)", () => {
  it("a 3× canary with 15 of 60 errors at a 10% share: not yet proven (M = 77 < 100)", () => {
    const r = ratioInterval(fold([[0.1, 60, 15]]), 0.01);
    expect(r.evidenceAgainstEqual).toBeCloseTo(76.9373444, 5);
    expect(r.lower).toBeCloseTo(0.927743486, 6);
    expect(r.upper).toBeCloseTo(8.166169913, 6);
    expect(r.mle).toBeCloseTo(3.080216849, 6);
  });

  it("each stage's own share counts: 5 of 30 at 5%, then 25 of 50 at 25% proves it worse", () => {
    const r = ratioInterval(
      fold([
        [0.05, 30, 5],
        [0.25, 50, 25],
      ]),
      0.01,
    );
    expect(r.evidenceAgainstEqual).toBeCloseTo(4619.179, 2);
    expect(r.lower).toBeCloseTo(1.25232272, 6);
    expect(r.upper).toBeCloseTo(7.57611094, 6);
  });

  it("equal rates over 1,000 errors pin the ratio between 0.64× and 1.57×", () => {
    const r = ratioInterval(fold([[0.1, 1000, 100]]), 0.01);
    expect(r.evidenceAgainstEqual).toBeCloseTo(0.0874495938, 6);
    expect(r.lower).toBeCloseTo(0.637628152, 6);
    expect(r.upper).toBeCloseTo(1.56831219, 6);
  });

  it("is unbounded above while the canary has every error", () => {
    expect(ratioInterval(fold([[0.5, 3, 3]]), 0.01).upper).toBe(Infinity);
  });
});

describe("the beta-binomial confidence sequence for one rate", () => {
  it("matches the closed form", () => {
    expect(logRateEvidence(10, 100, 0.05)).toBeCloseTo(-0.5237246487, 8);
    // No errors: B(1, n+1) = 1/(n+1), so M(q0) = 1 / ((n+1)(1-q0)^n).
    expect(Math.exp(logRateEvidence(0, 200, 0.05))).toBeCloseTo(1 / (201 * 0.95 ** 200), 6);
  });

  it("a perfect canary is above a 95% floor after 193 requests at 99%", () => {
    expect(compareRate(0, 192, 0.05, 0.01)).toBe("unsure");
    expect(compareRate(0, 193, 0.05, 0.01)).toBe("below");
    expect(compareRate(30, 200, 0.05, 0.01)).toBe("above");
  });

  it("its interval holds the observed rate and shrinks with more requests", () => {
    const small = rateInterval(5, 100, 0.01);
    const big = rateInterval(50, 1000, 0.01);
    expect(small.lower).toBeLessThan(0.05);
    expect(small.upper).toBeGreaterThan(0.05);
    expect(big.upper - big.lower).toBeLessThan(small.upper - small.lower);
    // The ends are where the martingale reaches 1/α.
    expect(logRateEvidence(50, 1000, big.upper)).toBeCloseTo(Math.log(100), 6);
    expect(logRateEvidence(50, 1000, big.lower)).toBeCloseTo(Math.log(100), 6);
  });
});
