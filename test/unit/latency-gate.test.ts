import { describe, expect, it } from "vitest";
import { foldCounters, type CounterReading, type Evidence, type FoldOptions, type SeriesCounters } from "../../src/engine/evidence.ts";
import { MetricsSettingsSchema, type MetricsSettings } from "../../src/engine/metrics-settings.ts";
import { GRID, GRID_ONE } from "../../src/engine/sequential.ts";
import { judge, testsSharingAlpha } from "../../src/engine/verdict.ts";
import { describeVerdict } from "../../src/slack/views/verdict-text.ts";
import { markStarted, newRollout, type StoredSnapshot } from "../../src/engine/rollout.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { snapshotText } from "../../src/slack/views/snapshot-block.ts";
import { chartAltText, chartSvg } from "../../src/slack/views/chart.ts";
import { readingPoint } from "../../src/store/readings.ts";
import { prng } from "../support/prng.ts";

/** Series name -> [requests, successes] (for a histogram: [+Inf bucket, bucket at the threshold]), all sampled at `at`. */
const series = (at: number, xs: Record<string, [number, number]>): SeriesCounters =>
  Object.fromEntries(Object.entries(xs).map(([k, [requests, successes]]) => [k, { requests, successes, at }]));
type Side = Record<string, [number, number]>;
const read = (at: number, counters: { stable: Side; canary: Side }, hist: { stable: Side; canary: Side }): CounterReading => ({
  at,
  stable: series(at, counters.stable),
  canary: series(at, counters.canary),
  latency: { stable: series(at, hist.stable), canary: series(at, hist.canary) },
});
const opts: FoldOptions = { changes: [], staleAfterMs: 45_000 };
const fold = (readings: CounterReading[], o: FoldOptions = opts) => readings.reduce<Evidence | undefined>((e, r) => foldCounters(e, r, o), undefined)!;

const messages = (input: unknown) => {
  const r = MetricsSettingsSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => i.message);
};
const settings = (latency: unknown = { thresholdMs: 500 }): MetricsSettings => MetricsSettingsSchema.parse({ preset: "linkerd2", latency });

describe("latency gate settings", () => {
  it("takes a threshold that is a bucket boundary of the preset's histogram, with a minimum-sample guard of 100", () => {
    expect(settings().latency).toEqual({ thresholdMs: 500, minRequests: 100 });
    expect(messages({ preset: "istio", latency: { thresholdMs: 250 } })).toEqual([]);
  });

  it("refuses a threshold between boundaries, naming the nearest ones: slow requests could not be counted exactly", () => {
    expect(messages({ preset: "linkerd2", latency: { thresholdMs: 450 } })).toEqual([
      expect.stringContaining("thresholdMs 450 is not a bucket boundary of the linkerd2 latency histogram"),
    ]);
    expect(messages({ preset: "linkerd2", latency: { thresholdMs: 450 } })[0]).toContain("use 400 or 500");
    expect(messages({ preset: "istio", latency: { thresholdMs: 300 } })[0]).toContain("use 250 or 500");
  });

  it("refuses the gate on Linkerd 1, whose admin gives latency percentiles and no counts", () => {
    const m = messages({ source: "linkerd1", linkerd1AdminUrl: "http://l5d:9990", latency: { thresholdMs: 500 } });
    expect(m).toEqual([expect.stringContaining("Linkerd 1's admin metrics.json gives request_latency_ms only as percentiles")]);
  });

  it("custom queries need the histogram's raw _bucket series", () => {
    const queries = { requests: 'r{v="{version}"}', successes: 's{v="{version}"}' };
    expect(messages({ queries, latency: { thresholdMs: 500 } })).toEqual([expect.stringContaining("needs `queries.latencyBuckets`")]);
    expect(messages({ queries: { ...queries, latencyBuckets: 'rate(h_bucket{v="{version}"}[{window}])' }, latency: { thresholdMs: 500 } })).toEqual([
      expect.stringContaining("queries.latencyBuckets must select the raw counters"),
    ]);
    expect(messages({ queries: { ...queries, latencyBuckets: 'h_bucket{v="{version}"}' }, latency: { thresholdMs: 500 } })).toEqual([]);
  });
});

describe("slow requests folded from histogram buckets", () => {
  it("counts exact bucket differences per series, drops a reset series' delta, and cuts with the error counters", () => {
    const c = { stable: { a: [0, 0] as [number, number] }, canary: { b: [0, 0] as [number, number] } };
    const e = fold(
      [
        read(0, c, { stable: { a: [1000, 980], a2: [500, 495] }, canary: { b: [100, 90] } }),
        // stable: a +1000 (+15 slow), a2 +500 (+5 slow); canary b +200 (+30 slow)
        read(10_000, c, { stable: { a: [2000, 1965], a2: [1000, 990] }, canary: { b: [300, 260] } }),
        // a2 restarted (went down): its delta is dropped whatever it held; a +500 (+10 slow); b +100 (+20 slow)
        read(20_000, c, { stable: { a: [2500, 2455], a2: [40, 40] }, canary: { b: [400, 340] } }),
      ].map((r, i) => ({ ...r, stable: series(r.at, { a: [i * 100, i * 100] }), canary: series(r.at, { b: [i * 10, i * 10] }) })),
    );
    expect(e.slow).toMatchObject({ stable: { requests: 1500 + 500, errors: 20 + 10 }, canary: { requests: 300, errors: 50 } });
    expect(e.discarded).toBe(1);
    // The log-likelihood on the grid, computed here from the binomial share of slow requests per interval:
    // x log θ − n log(ρθ + 1 − ρ), with ρ the canary's share of the histogram's requests.
    const k = GRID_ONE + 10;
    const t = GRID[k]!;
    const term = (x: number, n: number, rho: number) => x * Math.log(t) - n * Math.log(rho * t + 1 - rho);
    const expected = term(30, 50, 200 / 1700) + term(20, 30, 100 / 600);
    expect(e.slow!.logLik[k]).toBeCloseTo(expected, 3);

    // A weight change inside the second interval drops that interval for errors and slow requests alike.
    const cut = fold(
      [read(0, c, { stable: { a: [1000, 980] }, canary: { b: [100, 90] } }), read(10_000, c, { stable: { a: [2000, 1965] }, canary: { b: [300, 260] } })].map(
        (r, i) => ({ ...r, stable: series(r.at, { a: [i * 100, i * 100] }), canary: series(r.at, { b: [i * 10, i * 10] }) }),
      ),
      { ...opts, changes: [{ from: 4_000, to: 6_000 }] },
    );
    expect(cut).toMatchObject({ cuts: 1, intervals: 0, slow: { canary: { requests: 0, errors: 0 }, stable: { requests: 0, errors: 0 } } });
  });
});

describe("the latency gate's verdict", () => {
  /** One interval: stable and canary requests (all successful) with their slow counts. */
  const oneInterval = (stable: [number, number], canary: [number, number], s = settings()) => {
    const at = (f: number) => ({
      stable: { a: [stable[0] * f, stable[0] * f] as [number, number] },
      canary: { b: [canary[0] * f, canary[0] * f] as [number, number] },
    });
    const hist = (f: number) => ({
      stable: { a: [stable[0] * f, (stable[0] - stable[1]) * f] as [number, number] },
      canary: { b: [canary[0] * f, (canary[0] - canary[1]) * f] as [number, number] },
    });
    const e = fold([read(0, at(0), hist(0)), read(30_000, at(1), hist(1))]);
    return judge(e, s);
  };

  it("aborts a canary with three times stable's share of slow requests, at a third of α, and says it is latency", () => {
    // 60 of 1,000 canary requests over 500 ms vs 200 of 10,000 on stable: 3×.
    const v = oneInterval([10_000, 200], [1_000, 60]);
    expect(v).toMatchObject({ kind: "worse", basis: "latency", slow: { thresholdMs: 500, canarySlow: 60, stableSlow: 200 } });
    expect(testsSharingAlpha(settings())).toBe(3);
    expect(describeVerdict(v)).toBe(
      "canary 100% vs stable 100%, slower: canary slow requests (over 500 ms) 3.0× stable's rate (99% interval 1.5×–5.3×) over 1,000 canary requests since 00:00 UTC",
    );
  });

  it("does not call a canary as fast as stable slower, nor judge before the minimum sample", () => {
    expect(oneInterval([10_000, 200], [1_000, 20]).kind).not.toBe("worse");
    // 40 of 90 canary requests slow is damning, but under minRequests (100) the gate waits.
    expect(oneInterval([10_000, 200], [90, 40]).kind).not.toBe("worse");
    expect(oneInterval([10_000, 200], [90, 40], settings({ thresholdMs: 500, minRequests: 50 }))).toMatchObject({ kind: "worse", basis: "latency" });
  });

  it("without the gate, slow requests do not count and α is split two ways", () => {
    const s = MetricsSettingsSchema.parse({ preset: "linkerd2" });
    expect(testsSharingAlpha(s)).toBe(2);
    expect(oneInterval([10_000, 200], [1_000, 60], s).kind).not.toBe("worse");
  });
});

describe("steps wait for latency exposure as they wait for error exposure", () => {
  /** One interval of 30 s: [requests, successes] per version, and the histogram's [+Inf, bucket at 500 ms]. */
  const judged = (
    counters: { stable: [number, number]; canary: [number, number] },
    hist: { stable: [number, number]; canary: [number, number] },
    s = settings(),
  ) => {
    const zero = { stable: { a: [0, 0] as [number, number] }, canary: { b: [0, 0] as [number, number] } };
    const e = fold([
      read(0, zero, zero),
      read(30_000, { stable: { a: counters.stable }, canary: { b: counters.canary } }, { stable: { a: hist.stable }, canary: { b: hist.canary } }),
    ]);
    return { e, v: judge(e, s) };
  };
  // 1% errors on both: 20,000 canary requests are ample to rule out a 2× error regression.
  const counters = { stable: [200_000, 198_000] as [number, number], canary: [20_000, 19_800] as [number, number] };

  it("errors ruled out but the histogram has counted too few canary requests: the step waits for latency, and says so", () => {
    const { v } = judged(counters, { stable: [200_000, 198_000], canary: [300, 297] });
    expect(v).toMatchObject({ kind: "not-enough-traffic", waitingFor: "latency" });
    const needed = (v as { needed: number }).needed;
    // About as many as errors needed at the same 1% rate (a couple of thousand), less the 300 counted.
    expect(needed).toBeGreaterThan(1_000);
    expect(needed).toBeLessThan(5_000);
    expect(describeVerdict(v)).toMatch(
      /^needs ~[\d,]+ more canary requests to rule out a 2× rise in slow requests \(over 500 ms\): about \d+ s at the current rate; so far canary 99\.0% vs stable 99\.0%/,
    );
    // Without the gate the same errors take the step.
    expect(judged(counters, { stable: [200_000, 198_000], canary: [300, 297] }, MetricsSettingsSchema.parse({ preset: "linkerd2" })).v).toMatchObject({
      kind: "healthy",
      basis: "power",
    });
  });

  it("both exposed: healthy, naming the slow-request regression it could have caught", () => {
    const { v } = judged(counters, { stable: [200_000, 198_000], canary: [20_000, 19_800] });
    expect(v).toMatchObject({ kind: "healthy", basis: "power" });
    expect(describeVerdict(v)).toContain("enough to have caught a 2× regression and a 2× rise in slow requests (over 500 ms) (with 50% power)");
  });

  it("neither exposed: the larger need, for errors and slow requests alike", () => {
    const few = { stable: [200_000, 198_000] as [number, number], canary: [300, 297] as [number, number] };
    const { v } = judged(few, few);
    expect(v).toMatchObject({ kind: "not-enough-traffic", waitingFor: "both" });
    expect(describeVerdict(v)).toMatch(/to rule out a 2× regression in errors and a 2× rise in slow requests \(over 500 ms\)/);
  });

  it("the minimum sample holds the step too: a histogram under latency.minRequests is not enough exposure", () => {
    // Stable's 20% slow makes 2× easy to rule out, but 80 canary requests are under the guard of 100.
    const { v } = judged(counters, { stable: [200_000, 160_000], canary: [80, 64] });
    expect(v).toMatchObject({ kind: "not-enough-traffic", waitingFor: "latency" });
    expect((v as { needed: number }).needed).toBeGreaterThanOrEqual(20);
  });

  it("the automatic message's Next line says the step waits for latency evidence", () => {
    const target = TargetSchema.parse({
      name: "backend-svc",
      smi: { trafficSplit: "backend-ts" },
      stable: "v1",
      metrics: { source: "prometheus", prometheusUrl: "http://p:9090", preset: "linkerd2", latency: { thresholdMs: 500 } },
    });
    const r = markStarted(
      newRollout({
        id: "backend-svc#1",
        target,
        stable: "v1",
        canary: "v2",
        steps: [10, 100],
        startedBy: "U1",
        channel: "C1",
        testStage: false,
        now: 0,
        auto: { intervalMs: 120_000, maxWaitMs: 1_800_000, noticeMs: 0 },
      }),
      { percent: 10, raw: "v1 90 / v2 10", initialRaw: "v1 100 / v2 0" },
      1_000,
    );
    const { e, v } = judged(counters, { stable: [200_000, 198_000], canary: [300, 297] }, target.metrics!);
    const t = snapshotText(r, { at: 30_000, windowSeconds: 30, canaryPercent: 10, evidence: e, verdict: v });
    expect(t).toContain("Next: the automatic step to 100% waits for that evidence on slow requests (latency gate) (a person decides after 30 min)");
  });
});

describe("the latency gate in the message and the chart", () => {
  const gated = TargetSchema.parse({
    name: "backend-svc",
    smi: { trafficSplit: "backend-ts" },
    stable: "v1",
    metrics: { source: "prometheus", prometheusUrl: "http://p:9090", preset: "linkerd2", latency: { thresholdMs: 500 } },
  });
  const rollout = () =>
    markStarted(
      newRollout({
        id: "backend-svc#1",
        target: gated,
        stable: "v1",
        canary: "v2",
        steps: [10, 100],
        startedBy: "U1",
        channel: "C1",
        testStage: false,
        now: 0,
      }),
      { percent: 10, raw: "v1 90 / v2 10", initialRaw: "v1 100 / v2 0" },
      1_000,
    );

  it("has its own line in the rollout message, and the abort says it is latency", () => {
    const c = { stable: { a: [0, 0] as [number, number] }, canary: { b: [0, 0] as [number, number] } };
    const e = fold([
      read(0, c, { stable: { a: [0, 0] }, canary: { b: [0, 0] } }),
      {
        ...read(30_000, c, { stable: { a: [1_600, 1_592] }, canary: { b: [800, 776] } }),
        stable: series(30_000, { a: [1_600, 1_600] }),
        canary: series(30_000, { b: [800, 800] }),
      },
    ]);
    const snap: StoredSnapshot = { at: 30_000, windowSeconds: 30, canaryPercent: 10, evidence: e, verdict: judge(e, gated.metrics!) };
    const t = snapshotText(rollout(), snap);
    expect(t).toContain("• Slower than 500 ms (latency gate): canary *3.0%* of 800 requests, stable *0.5%* of 1,600 requests");
    expect(t).toContain(":red_circle: *Worse than stable*: canary 100% vs stable 100%, slower: canary slow requests (over 500 ms) 6.0× stable's rate");
  });

  it("draws each version's share within the threshold as its own dashed series", () => {
    const points = [
      readingPoint({
        at: 10_000,
        canaryPercent: 10,
        stable: { requests: 100, successes: 100 },
        canary: { requests: 10, successes: 10 },
        fast: { stable: 0.995, canary: 0.97 },
      }),
    ];
    expect(points[0]).toMatchObject({ stableFast: 0.995, canaryFast: 0.97 });
    const svg = chartSvg(rollout(), points, 60_000);
    expect(svg).toContain("Success rate and share within 500 ms over the rollout");
    expect(svg).toContain("within 500 ms (dashed)");
    // Two dashed lines, one per version, in the versions' colours.
    expect(svg.match(/<path d="M[^"]*" fill="none" stroke="#(1f77b4|ff7f0e)" stroke-width="2" stroke-dasharray="5 3"/g)).toHaveLength(2);
    expect(chartAltText(rollout(), points)).toContain("within the latency threshold stable 99.5%, canary 97.0%");
  });
});

describe("the latency gate on seeded rollouts (through the bot's own folding and verdict)", () => {
  /**
   * Rollouts of 5, 10, 25, 50% for 8 readings each, 200 req/s split per request, a reading every 15 s; each
   * request slow independently with the version's probability. Returns how many were called slower, and at
   * which reading.
   */
  const simulate = (seed: number, rollouts: number, stableSlow: number, canarySlow: number) => {
    const rnd = prng(seed);
    const s = settings();
    const binomial = (n: number, p: number) => {
      let x = 0;
      for (let i = 0; i < n; i++) if (rnd() < p) x++;
      return x;
    };
    const abortedAt: number[] = [];
    for (let k = 0; k < rollouts; k++) {
      const cum = { stable: [0, 0], canary: [0, 0] }; // [requests, fast]
      const at = (t: number) =>
        read(
          t,
          { stable: { a: [cum.stable[0]!, cum.stable[0]!] }, canary: { b: [cum.canary[0]!, cum.canary[0]!] } },
          { stable: { a: [cum.stable[0]!, cum.stable[1]!] }, canary: { b: [cum.canary[0]!, cum.canary[1]!] } },
        );
      let e = foldCounters(undefined, at(0), opts);
      let reading = 0;
      outer: for (const share of [0.05, 0.1, 0.25, 0.5]) {
        for (let i = 0; i < 8; i++) {
          reading++;
          const nc = binomial(3000, share);
          cum.canary = [cum.canary[0]! + nc, cum.canary[1]! + nc - binomial(nc, canarySlow)];
          cum.stable = [cum.stable[0]! + 3000 - nc, cum.stable[1]! + 3000 - nc - binomial(3000 - nc, stableSlow)];
          e = foldCounters(e, at(reading * 15_000), opts);
          if (judge(e, s).kind === "worse") {
            abortedAt.push(reading);
            break outer;
          }
        }
      }
    }
    return abortedAt;
  };

  it("a canary exactly as slow as stable (2% over the threshold) is almost never aborted: 0 of 150", () => {
    // α = 1%, the gate's share α/3: an abort or two in 150 would be within the promise; none were seen with this seed.
    expect(simulate(19, 150, 0.02, 0.02)).toEqual([]);
  });

  it("a canary three times as slow (6% vs 2%) is aborted at the first step, within a few readings", () => {
    const at = simulate(20, 30, 0.02, 0.06);
    expect(at).toHaveLength(30);
    expect(Math.max(...at)).toBeLessThanOrEqual(8);
  });
});
