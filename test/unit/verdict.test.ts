import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { foldCounts } from "../../src/engine/evidence.ts";
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
  power: d.power,
  routing: d.routing,
};
const s = (requests: number, successes: number) => ({ requests, successes });
const none = { noTraffic: true } as const;
const one = (input: VerdictInput, over: Partial<typeof settings> = {}) => verdict(input, { ...settings, ...over });

describe("the anytime-valid verdict", () => {
  it("worse than stable, with the ratio and its interval at the ratio test's half of α", () => {
    // 155 of 5,000 canary requests failed vs 400 of 40,000 on stable: 3.1×.
    const v = one({ stable: s(40_000, 39_600), canary: s(5_000, 4_845) });
    expect(v).toMatchObject({ kind: "worse", basis: "stable", confidence: 0.99 });
    if (v.kind !== "worse") throw new Error("unreachable");
    expect(v.pValue).toBeLessThan(0.01);
    expect(describeVerdict(v)).toBe(
      "canary 96.9% vs stable 99.0%, worse: canary errors 3.1× stable's (99% interval 1.9×–4.5×) over 5,000 canary requests since 00:00 UTC",
    );
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
    expect(describeVerdict(v)).toMatch(
      /^canary 75\.0%, below the 95% floor \(canary 99% interval [\d.]+%–[\d.]+%\) over 200 canary requests \(stable has no traffic\) since 00:00 UTC$/,
    );
  });

  it("the floor does not abort when stable, over the same intervals, is below it too (a shared outage)", () => {
    expect(one({ stable: s(20_000, 17_000), canary: s(2_000, 1_700) }).kind).not.toBe("worse");
    // The same canary against a healthy stable is worse.
    expect(one({ stable: s(20_000, 19_900), canary: s(2_000, 1_700) }).kind).toBe("worse");
  });

  it("healthy once nothing says worse and a 2× regression would more likely than not have been caught", () => {
    const v = one({ stable: s(100_000, 99_000), canary: s(10_000, 9_900) });
    expect(v).toMatchObject({ kind: "healthy", basis: "power", detect: { ratio: 2, increase: 0.01, power: 0.5 } });
    expect(describeVerdict(v)).toBe(
      "canary 99.0% vs stable 99.0%, healthy: no sign of harm over 10,000 canary and 100,000 stable requests since 00:00 UTC, enough to have caught a 2× regression (with 50% power); canary errors 1.0× stable's (99% interval 0.63×–1.6×)",
    );
  });

  it("a service with few errors: healthy once a regression of one point would have been caught", () => {
    const v = one({ stable: s(100_000, 100_000), canary: s(10_000, 10_000) });
    expect(v).toMatchObject({ kind: "healthy", basis: "power" });
    expect(describeVerdict(v)).toContain("enough to have caught a regression of 1 percentage point (with 50% power)");
  });

  it("healthy by the floor alone when stable never had traffic", () => {
    expect(one({ stable: none, canary: s(208, 208) })).toMatchObject({ kind: "healthy", basis: "floor" });
    expect(one({ stable: none, canary: s(207, 207) }).kind).toBe("not-enough-traffic");
  });

  it("routing per session: no ratio aborts, judged by the floor alone", () => {
    expect(one({ stable: s(40_000, 39_600), canary: s(5_000, 4_845) }, { routing: "session" }).kind).toBe("healthy");
    expect(one({ stable: s(40_000, 39_600), canary: s(5_000, 4_500) }, { routing: "session" })).toMatchObject({ kind: "worse", basis: "floor" });
  });

  it("waiting: no canary requests at all", () => {
    const v = one({ stable: s(1_000, 999), canary: none });
    expect(v).toMatchObject({ kind: "not-enough-traffic", needed: 50, canaryRequests: 0 });
    expect(describeVerdict(v)).toBe(
      "needs ~50 more canary requests to rule out a regression of 1 percentage point; no canary requests yet (0 canary and 1,000 stable requests since 00:00 UTC)",
    );
  });

  it("waiting: the estimate is what rule 3 needs if the rates hold, with how long at the current rate", () => {
    const stable = s(40_000, 39_600);
    const canary = s(1_000, 990);
    const v = one({ stable, canary });
    if (v.kind !== "not-enough-traffic") throw new Error(`expected waiting, got ${v.kind}`);
    expect(v.needed).toBeGreaterThan(1_000);
    expect(v.needed).toBeLessThan(10_000);
    const at = (extra: number) => {
      const k = (canary.requests + extra) / canary.requests;
      return one({ stable: s(stable.requests * k, stable.successes * k), canary: s(canary.requests * k, canary.successes * k) }).kind;
    };
    expect(at(v.needed * 1.05)).toBe("healthy");
    expect(at(v.needed * 0.9)).toBe("not-enough-traffic");
    expect(describeVerdict(v)).toMatch(
      /^needs ~[\d,]+ more canary requests to rule out a 2× regression; so far canary 99\.0% vs stable 99\.0% over 1,000 canary and 40,000 stable requests since 00:00 UTC, canary errors 1\.0× stable's \(99% interval [\d.]+×–[\d.]+×\)$/,
    );
    // Folded over time, the message says how long at the rate of the last interval: 1,000 canary requests in 60 s.
    const e = foldCounts(undefined, 0, 60_000, stable, canary);
    const timed = judge(e, settings);
    expect(timed).toMatchObject({ kind: "not-enough-traffic", neededSeconds: Math.ceil(v.needed / (1000 / 60)) });
    expect(describeVerdict(timed)).toMatch(/^needs ~[\d,]+ more canary requests to rule out a 2× regression: about \d+ (s|min) at the current rate; /);
  });

  it("waiting: a canary sitting exactly on the floor with no stable is capped and said so", () => {
    const v = one({ stable: none, canary: s(1_000, 950) });
    expect(v).toMatchObject({ kind: "not-enough-traffic", needed: NEEDED_CAP });
    expect(describeVerdict(v)).toBe(
      "no realistic volume of traffic would be enough at the rates seen (so far canary 95.0% over 1,000 canary and 0 stable requests since 00:00 UTC)",
    );
  });

  it("unavailable carries the source's reason", () => {
    const v = one({ error: "Prometheus at http://prom:9090 did not answer" });
    expect(v).toEqual({ kind: "unavailable", reason: "Prometheus at http://prom:9090 did not answer" });
    expect(describeVerdict(v)).toBe("metrics unavailable: Prometheus at http://prom:9090 did not answer");
  });

  it("judges the counts since the rollout began, each interval at its own share", () => {
    // 3× the errors at 5%, then at 25%: neither interval alone proves it, together they do.
    const first = foldCounts(undefined, 0, 60_000, s(9_500, 9_405), s(500, 485));
    expect(judge(first, settings).kind).toBe("not-enough-traffic");
    expect(judge(foldCounts(undefined, 60_000, 120_000, s(1_500, 1_485), s(500, 485)), settings).kind).not.toBe("worse");
    const second = foldCounts(first, 60_000, 120_000, s(1_500, 1_485), s(500, 485));
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
