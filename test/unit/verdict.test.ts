import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { foldReading } from "../../src/engine/evidence.ts";
import { MetricsSettingsSchema } from "../../src/engine/metrics-settings.ts";
import { judge, NEEDED_CAP, verdict, type VerdictInput } from "../../src/engine/verdict.ts";
import { describeVerdict, formatRates, formatRatio } from "../../src/slack/views/verdict-text.ts";

const d = MetricsSettingsSchema.parse({ preset: "linkerd2" });
const settings = {
  minSuccessRate: d.minSuccessRate,
  minRequests: d.minRequests,
  confidence: d.confidence,
  maxErrorRatio: d.maxErrorRatio,
  maxErrorIncrease: d.maxErrorIncrease,
};
const s = (requests: number, successes: number) => ({ requests, successes });
const none = { noTraffic: true } as const;
const one = (input: VerdictInput, over: Partial<typeof settings> = {}) => verdict(input, { ...settings, ...over });

describe("the anytime-valid verdict", () => {
  it("worse than stable, with the ratio and its 99% interval", () => {
    // 155 of 5,000 canary requests failed vs 400 of 40,000 on stable: 3.1× (grid interval, see sequential.test.ts).
    const v = one({ stable: s(40_000, 39_600), canary: s(5_000, 4_845) });
    expect(v).toMatchObject({ kind: "worse", basis: "stable", confidence: 0.99 });
    if (v.kind !== "worse") throw new Error("unreachable");
    expect(v.pValue).toBeLessThan(0.01);
    expect(describeVerdict(v)).toBe("canary 96.9% vs stable 99.0%, worse: canary errors 3.1× stable's (99% interval 2.1×–4.5×) over 5,000 canary requests");
  });

  it("a broken canary is called worse before minRequests: the test is valid at any sample size", () => {
    expect(one({ stable: s(1_000, 999), canary: s(20, 0) })).toMatchObject({ kind: "worse", basis: "stable" });
  });

  it("one failure among a hundred canary requests is not proof against a 99.9% stable", () => {
    expect(one({ stable: s(10_000, 9_990), canary: s(100, 99) }).kind).not.toBe("worse");
  });

  it("below the floor when stable has no traffic, with the canary's interval", () => {
    const v = one({ stable: none, canary: s(200, 150) });
    expect(v).toMatchObject({ kind: "worse", basis: "floor" });
    expect(describeVerdict(v)).toBe("canary 75.0%, below the 95% floor (canary 99% interval 62.4%–85.2%) over 200 canary requests (stable has no traffic)");
  });

  it("healthy once the ratio is confidently under the tolerance", () => {
    const v = one({ stable: s(100_000, 99_000), canary: s(10_000, 9_900) });
    expect(v).toMatchObject({ kind: "healthy", basis: "ratio" });
    expect(describeVerdict(v)).toBe(
      "canary 99.0% vs stable 99.0%, healthy over 10,000 canary requests: canary errors 1.0× stable's (99% interval 0.63×–1.5×), within the 1.5× tolerance",
    );
    // The same rates with a tenth of the traffic cannot rule out 1.5× yet: no "healthy" for lack of evidence.
    expect(one({ stable: s(10_000, 9_900), canary: s(1_000, 990) }).kind).toBe("not-enough-traffic");
  });

  it("healthy for a service with too few errors for a ratio, by the absolute increase", () => {
    const v = one({ stable: s(100_000, 100_000), canary: s(10_000, 10_000) });
    expect(v).toMatchObject({ kind: "healthy", basis: "increase" });
    expect(describeVerdict(v)).toBe(
      "canary 100% vs stable 100%, healthy over 10,000 canary requests: 99% sure the canary fails at most 0.2 percentage points more often than stable",
    );
  });

  it("healthy by the floor alone when stable never had traffic", () => {
    expect(one({ stable: none, canary: s(193, 193) })).toMatchObject({ kind: "healthy", basis: "floor" });
    expect(one({ stable: none, canary: s(192, 192) }).kind).toBe("not-enough-traffic");
  });

  it("with the floor off, equal rates are judged by the ratio however low", () => {
    expect(one({ stable: s(100_000, 80_000), canary: s(10_000, 8_000) }, { minSuccessRate: 0 }).kind).toBe("healthy");
  });

  it("not enough traffic: no canary requests at all", () => {
    const v = one({ stable: s(1_000, 999), canary: none });
    expect(v).toMatchObject({ kind: "not-enough-traffic", needed: 50, canaryRequests: 0 });
    expect(describeVerdict(v)).toBe("not enough traffic yet: about 50 more canary requests needed (no canary requests so far)");
  });

  it("not enough traffic: the estimate is what the same rules need if the rates hold", () => {
    const stable = s(40_000, 39_600);
    const canary = s(1_000, 990);
    const v = one({ stable, canary });
    if (v.kind !== "not-enough-traffic") throw new Error(`expected not enough traffic, got ${v.kind}`);
    expect(v.needed).toBeGreaterThan(1_000);
    expect(v.needed).toBeLessThan(100_000);
    // Feed the rates seen (counts rounded to whole requests): with 5% more than `needed` it decides, with 10% fewer not.
    const at = (extra: number) => {
      const k = (canary.requests + extra) / canary.requests;
      return one({ stable: s(stable.requests * k, stable.successes * k), canary: s(canary.requests * k, canary.successes * k) }).kind;
    };
    expect(at(v.needed * 1.05)).toBe("healthy");
    expect(at(v.needed * 0.9)).toBe("not-enough-traffic");
    expect(describeVerdict(v)).toMatch(
      /^not enough traffic yet: about [\d,]+ more canary requests needed \(canary 99\.0% of 1,000 so far, canary errors 1\.0× stable's \(99% interval [\d.]+×–[\d.]+×\)\)$/,
    );
  });

  it("not enough traffic: sitting exactly on the floor is capped and said so", () => {
    const v = one({ stable: none, canary: s(1_000, 950) });
    expect(v).toMatchObject({ kind: "not-enough-traffic", needed: NEEDED_CAP });
    expect(describeVerdict(v)).toBe(
      "not enough traffic yet: the rates seen sit too close to a limit to tell at any realistic volume (canary 95.0% of 1,000 so far)",
    );
  });

  it("unavailable carries the source's reason", () => {
    const v = one({ error: "Prometheus at http://prom:9090 did not answer" });
    expect(v).toEqual({ kind: "unavailable", reason: "Prometheus at http://prom:9090 did not answer" });
    expect(describeVerdict(v)).toBe("metrics unavailable: Prometheus at http://prom:9090 did not answer");
  });

  it("judges the counts since the rollout began, each interval at its own share", () => {
    // 3× the errors at 5%, then at 25%: neither reading alone proves it, together they do.
    const first = foldReading(undefined, 0, 60_000, s(9_500, 9_405), s(500, 485));
    expect(judge(first, settings).kind).toBe("not-enough-traffic");
    expect(judge(foldReading(undefined, 60_000, 120_000, s(1_500, 1_485), s(500, 485)), settings).kind).toBe("not-enough-traffic");
    const second = foldReading(first, 60_000, 120_000, s(1_500, 1_485), s(500, 485));
    expect(judge(second, settings)).toMatchObject({ kind: "worse", basis: "stable" });
  });

  it("passes latency through", () => {
    const v = one({ stable: { requests: 100_000, successes: 100_000, p99Ms: 12 }, canary: { requests: 10_000, successes: 10_000, p99Ms: 140 } });
    expect(v).toMatchObject({ kind: "healthy", canaryP99Ms: 140, stableP99Ms: 12 });
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
          const v = one({ stable, canary: s(nc, Math.ceil(nc * canaryRate)) });
          expect(v.kind === "worse" && v.basis === "stable").toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("words", () => {
  it("ratios: two significant figures, interval ends rounded outwards", () => {
    expect(formatRatio(3.14)).toBe("3.1");
    expect(formatRatio(1.84, "down")).toBe("1.8");
    expect(formatRatio(5.11, "up")).toBe("5.2");
    expect(formatRatio(2, "down")).toBe("2.0");
    expect(formatRatio(0.634, "down")).toBe("0.63");
    expect(formatRatio(1234)).toBe("1200");
  });

  it("rates: decimals only when needed to tell two apart, never rounding up to 100%", () => {
    expect(formatRates(0.961, 0.999)).toEqual(["96.1%", "99.9%"]);
    expect(formatRates(0.9991, 0.9998)).toEqual(["99.91%", "99.98%"]);
    expect(formatRates(0.99996)).toEqual(["99.9%", undefined]);
  });
});
