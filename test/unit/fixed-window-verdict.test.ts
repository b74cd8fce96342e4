import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MetricsSettingsSchema } from "../../src/engine/metrics-settings.ts";
// The procedure before issue 16, kept for the bench's side-by-side comparison: it must stay what it was.
import {
  belowFloorZ,
  describeVerdict,
  formatRates,
  NEEDED_CAP,
  normalCdf,
  normalQuantile,
  twoProportionZ,
  verdict,
  type VerdictInput,
} from "../bench/fixed-window-verdict.ts";

const defaults = MetricsSettingsSchema.parse({ preset: "linkerd2" });
const settings = { minSuccessRate: defaults.minSuccessRate, minRequests: defaults.minRequests, confidence: defaults.confidence };
const s = (requests: number, successes: number) => ({ requests, successes });
const none = { noTraffic: true } as const;

describe("normal distribution", () => {
  it("matches table values of the CDF", () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 6);
    expect(normalCdf(1.645)).toBeCloseTo(0.95, 4);
    expect(normalCdf(1.96)).toBeCloseTo(0.975, 4);
    expect(normalCdf(2.326)).toBeCloseTo(0.99, 4);
    expect(normalCdf(3)).toBeCloseTo(0.99865, 5);
    expect(normalCdf(-1.96)).toBeCloseTo(0.025, 4);
    // Far tail, where 1 - erf would lose everything: Φ(-6) = 9.8659e-10.
    expect(normalCdf(-6) / 9.8659e-10).toBeCloseTo(1, 3);
  });

  it("inverts: quantiles for the usual confidence levels", () => {
    expect(normalQuantile(0.95)).toBeCloseTo(1.644854, 5);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
    expect(normalQuantile(0.99)).toBeCloseTo(2.326348, 5);
    expect(normalQuantile(0.999)).toBeCloseTo(3.090232, 5);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326348, 5);
    expect(() => normalQuantile(1)).toThrow(RangeError);
  });

  it("quantile and CDF are inverses across (0, 1)", () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-6, max: 1 - 1e-6, noNaN: true }), (p) => {
        expect(normalCdf(normalQuantile(p))).toBeCloseTo(p, 6);
      }),
    );
  });
});

describe("two-proportion z-test", () => {
  it("gives the textbook pooled statistic", () => {
    // 990/1000 vs 960/1000: pooled p = 0.975, SE = sqrt(0.975*0.025*(2/1000)) = 0.0069821, z = 0.03/SE.
    expect(twoProportionZ(s(1000, 990), s(1000, 960))).toBeCloseTo(4.2967, 3);
    // Classic worked example: 45/100 vs 30/100 -> pooled 0.375, z = 0.15/0.068465 = 2.191.
    expect(twoProportionZ(s(100, 45), s(100, 30))).toBeCloseTo(2.191, 3);
    // Sign says which way: b better than a is negative.
    expect(twoProportionZ(s(100, 30), s(100, 45))).toBeCloseTo(-2.191, 3);
  });

  it("squares to Pearson's chi-square of the 2x2 table", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 5, max: 5000 }),
        fc.integer({ min: 5, max: 5000 }),
        fc.double({ min: 0.05, max: 0.95, noNaN: true }),
        fc.double({ min: 0.05, max: 0.95, noNaN: true }),
        (na, nb, ra, rb) => {
          const a = s(na, Math.round(na * ra));
          const b = s(nb, Math.round(nb * rb));
          const cells = [
            [a.successes, a.requests - a.successes],
            [b.successes, b.requests - b.successes],
          ];
          const n = na + nb;
          const col = [a.successes + b.successes, n - a.successes - b.successes];
          fc.pre(col[0]! > 0 && col[1]! > 0); // chi-square is undefined for an empty column
          const row = [na, nb];
          let chi2 = 0;
          for (let i = 0; i < 2; i++)
            for (let j = 0; j < 2; j++) {
              const e = (row[i]! * col[j]!) / n;
              chi2 += (cells[i]![j]! - e) ** 2 / e;
            }
          const z = twoProportionZ(a, b);
          expect(z * z).toBeCloseTo(chi2, 6);
        },
      ),
    );
  });

  it("continuity correction keeps one failure in a hundred from reading as proof", () => {
    // Against a 99.9% stable, 1 failure in 100 has a one-sided exact (Fisher) p of about 0.11.
    const plain = twoProportionZ(s(10_000, 9_990), s(100, 99));
    const corrected = twoProportionZ(s(10_000, 9_990), s(100, 99), { continuityCorrection: true });
    expect(plain).toBeGreaterThan(normalQuantile(0.99)); // the plain test would cry wolf
    expect(1 - normalCdf(corrected)).toBeGreaterThan(0.05);
    expect(1 - normalCdf(corrected)).toBeLessThan(0.2);
  });

  it("is zero when the versions cannot differ (both perfect)", () => {
    expect(twoProportionZ(s(100, 100), s(50, 50))).toBe(0);
    expect(twoProportionZ(s(100, 0), s(50, 0))).toBe(0);
  });

  it("one-sample floor statistic", () => {
    // 80/100 against a 95% floor: (0.95-0.8)*10/sqrt(0.95*0.05) = 6.882
    expect(belowFloorZ(s(100, 80), 0.95)).toBeCloseTo(6.882, 3);
    expect(belowFloorZ(s(100, 100), 0.95)).toBeLessThan(0);
  });
});

describe("verdict", () => {
  const judge = (input: VerdictInput, over: Partial<typeof settings> = {}) => verdict(input, { ...settings, ...over });

  it("healthy: as good as stable and confidently above the floor", () => {
    const v = judge({ stable: s(10_000, 9_990), canary: s(1_000, 999) });
    expect(v).toMatchObject({ kind: "healthy", canaryRequests: 1000, stableRequests: 10_000 });
    if (v.kind !== "healthy") throw new Error("unreachable");
    expect(v.canaryRate).toBeCloseTo(0.999, 6);
    expect(v.stableRate).toBeCloseTo(0.999, 6);
    expect(describeVerdict(v)).toBe("canary 99.9% vs stable 99.9%, healthy over 1,000 canary requests");
  });

  it("worse than stable: canary 96.1% vs 99.9% at 99% confidence", () => {
    const v = judge({ stable: s(10_000, 9_990), canary: s(1_000, 961) });
    expect(v).toMatchObject({ kind: "worse", basis: "stable", confidence: 0.99 });
    if (v.kind !== "worse") throw new Error("unreachable");
    expect(v.pValue).toBeLessThan(0.01);
    expect(describeVerdict(v)).toBe("canary 96.1% vs stable 99.9%, worse with 99% confidence");
  });

  it("one failure among a hundred canary requests is not proof against a 99.9% stable", () => {
    const v = judge({ stable: s(10_000, 9_990), canary: s(100, 99) });
    expect(v.kind).not.toBe("worse");
    // ...but two are (exact one-sided p about 0.006).
    expect(judge({ stable: s(10_000, 9_990), canary: s(100, 98) })).toMatchObject({ kind: "worse", basis: "stable" });
  });

  it("a small gap that is not significant is not called worse", () => {
    // 998/1000 vs 9990/10000: z (corrected) is about 0.6.
    expect(judge({ stable: s(10_000, 9_990), canary: s(1_000, 998) }).kind).toBe("healthy");
  });

  it("worse by the floor when stable has no traffic (the 100% step)", () => {
    const v = judge({ stable: none, canary: s(200, 150) });
    expect(v).toMatchObject({ kind: "worse", basis: "floor" });
    expect(describeVerdict(v)).toBe("canary 75.0%, below the 95% floor with 99% confidence (stable has no traffic)");
  });

  it("worse by the floor even when stable is just as bad", () => {
    const v = judge({ stable: s(1_000, 800), canary: s(1_000, 800) });
    expect(v).toMatchObject({ kind: "worse", basis: "floor" });
    expect(describeVerdict(v)).toBe("canary 80.0% vs stable 80.0%, below the 95% floor with 99% confidence");
  });

  it("with the floor off, equal rates are healthy however low", () => {
    expect(judge({ stable: s(1_000, 800), canary: s(1_000, 800) }, { minSuccessRate: 0 }).kind).toBe("healthy");
  });

  it("not enough traffic: no canary requests at all", () => {
    const v = judge({ stable: s(1_000, 999), canary: none });
    expect(v).toMatchObject({ kind: "not-enough-traffic", needed: 50, canaryRequests: 0 });
    expect(describeVerdict(v)).toBe("not enough traffic yet: about 50 more canary requests needed (no canary requests so far)");
  });

  it("not enough traffic: below minRequests, even when every request failed", () => {
    const v = judge({ stable: s(1_000, 999), canary: s(20, 0) }, { minSuccessRate: 0 });
    expect(v).toMatchObject({ kind: "not-enough-traffic", needed: 30 });
  });

  it("not enough traffic: a perfect canary needs ~103 requests to be sure it is above a 95% floor", () => {
    // z(0.99)^2 * 0.95/0.05 = 102.8
    const v = judge({ stable: s(10_000, 9_990), canary: s(60, 60) });
    expect(v).toMatchObject({ kind: "not-enough-traffic", needed: 103 - 60 });
    expect(judge({ stable: s(10_000, 9_990), canary: s(103, 103) }).kind).toBe("healthy");
  });

  it("not enough traffic: close to the floor needs many more, said roughly", () => {
    const v = judge({ stable: none, canary: s(200, 192) });
    expect(v.kind).toBe("not-enough-traffic");
    if (v.kind !== "not-enough-traffic") throw new Error("unreachable");
    // 2.326^2 * 0.95 * 0.05 / 0.01^2 = 2571 in all
    expect(v.needed).toBe(2571 - 200);
    expect(describeVerdict(v)).toBe("not enough traffic yet: about 2,400 more canary requests needed (canary 96.0% of 200 so far)");
  });

  it("not enough traffic: sitting exactly on the floor is capped and said so", () => {
    const v = judge({ stable: none, canary: s(1_000, 950) });
    expect(v).toMatchObject({ kind: "not-enough-traffic" });
    if (v.kind !== "not-enough-traffic") throw new Error("unreachable");
    expect(v.needed).toBe(NEEDED_CAP);
    expect(describeVerdict(v)).toBe("not enough traffic yet: the canary's success rate sits right at the 95% floor");
  });

  it("unavailable carries the source's reason", () => {
    const v = judge({ error: "Prometheus at http://prom:9090 did not answer (connect ECONNREFUSED 10.0.0.1:9090)" });
    expect(v).toEqual({ kind: "unavailable", reason: "Prometheus at http://prom:9090 did not answer (connect ECONNREFUSED 10.0.0.1:9090)" });
    expect(describeVerdict(v)).toBe("metrics unavailable: Prometheus at http://prom:9090 did not answer (connect ECONNREFUSED 10.0.0.1:9090)");
  });

  it("a stricter confidence needs stronger evidence", () => {
    // 994/1000 vs 9990/10000: corrected z is about 3.52 (p 0.0002); z(0.9999) is 3.72.
    const input = { stable: s(10_000, 9_990), canary: s(1_000, 994) };
    expect(judge(input, { confidence: 0.99 }).kind).toBe("worse");
    expect(judge(input, { confidence: 0.9999 }).kind).not.toBe("worse");
  });

  it("passes latency through and tolerates successes above requests from rounding", () => {
    const v = judge({ stable: { requests: 1000, successes: 1000, p99Ms: 12 }, canary: { requests: 500, successes: 501, p99Ms: 140 } });
    expect(v).toMatchObject({ kind: "healthy", canaryRate: 1, canaryP99Ms: 140, stableP99Ms: 12 });
  });

  it("never calls a canary that did at least as well as stable worse than stable", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 50, max: 100_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (nc, ns, rs, extra) => {
          const stable = s(ns, Math.floor(ns * rs));
          const stableRate = stable.successes / ns;
          const canaryRate = stableRate + (1 - stableRate) * extra;
          const v = judge({ stable, canary: s(nc, Math.ceil(nc * canaryRate)) });
          expect(v.kind === "worse" && v.basis === "stable").toBe(false);
        },
      ),
    );
  });
});

describe("formatRates", () => {
  it("adds decimals only when needed to tell two rates apart, never rounding up to 100%", () => {
    expect(formatRates(0.961, 0.999)).toEqual(["96.1%", "99.9%"]);
    expect(formatRates(0.9991, 0.9998)).toEqual(["99.91%", "99.98%"]);
    expect(formatRates(0.99996)).toEqual(["99.9%", undefined]);
    expect(formatRates(1, 0)).toEqual(["100%", "0%"]);
  });
});
