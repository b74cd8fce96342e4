import { describe, expect, it } from "vitest";
import {
  foldCounters,
  isNextReading,
  STALE_READS,
  type CounterReading,
  type Evidence,
  type FoldOptions,
  type SeriesCounters,
} from "../../src/engine/evidence.ts";
import { judge } from "../../src/engine/verdict.ts";
import { weightChanges } from "../../src/engine/weight-changes.ts";
import { MetricsSettingsSchema } from "../../src/engine/metrics-settings.ts";
import type { RolloutEvent } from "../../src/engine/rollout.ts";
import { describeVerdict } from "../../src/slack/views/verdict-text.ts";

/** Counters of one version: series name -> [requests, successes], all sampled at `at`. */
const series = (at: number, xs: Record<string, [number, number]>): SeriesCounters =>
  Object.fromEntries(Object.entries(xs).map(([k, [requests, successes]]) => [k, { requests, successes, at }]));
const read = (at: number, stable: Record<string, [number, number]>, canary: Record<string, [number, number]>, sampledAt = at): CounterReading => ({
  at,
  stable: series(sampledAt, stable),
  canary: series(sampledAt, canary),
});
const opts: FoldOptions = { changes: [], staleAfterMs: 45_000 };
const fold = (readings: CounterReading[], o: FoldOptions = opts) => readings.reduce<Evidence | undefined>((e, r) => foldCounters(e, r, o), undefined)!;

describe("evidence folded from counters", () => {
  it("the first reading is a baseline; each next one adds the exact difference, however irregular the readings", () => {
    const e = fold([
      read(0, { a: [1000, 990] }, { b: [50, 50] }),
      read(5_000, { a: [1900, 1881] }, { b: [150, 149] }),
      read(5_020, { a: [1900, 1881] }, { b: [150, 149] }, 5_000), // sooner than a scrape: nothing new, nothing lost
      read(17_300, { a: [2800, 2770] }, { b: [250, 247] }),
    ]);
    expect(e).toMatchObject({
      since: 0,
      until: 17_300,
      intervals: 2,
      reads: 4,
      stable: { requests: 1800, errors: 20 },
      canary: { requests: 200, errors: 3 },
      stale: 0,
    });
  });

  it("a counter that went down (a restarted pod) drops that series' difference only; a new series counts from zero", () => {
    const e = fold([
      read(0, { a: [1000, 990], b: [1000, 1000] }, { c: [100, 100] }),
      // Pod b restarted (its counter is now 40); a new failure series d appears on the canary with 3 requests.
      read(15_000, { a: [1500, 1485], b: [40, 40] }, { c: [200, 200], d: [3, 0] }),
      read(30_000, { a: [2000, 1980], b: [90, 89] }, { c: [300, 300], d: [3, 0] }),
    ]);
    expect(e.discarded).toBe(1);
    expect(e.stable).toEqual({ requests: 500 + 500 + 50, errors: 5 + 5 + 1 });
    expect(e.canary).toEqual({ requests: 100 + 3 + 100, errors: 3 });
  });

  // Issue 19, seed 18 of the 2,000 req/s row with pod restarts and shared outages: canary pod 0 restarted during an
  // outage. Its success counter went down (seen), its failure counter ended above its old value (not seen on its
  // own). Dropping only the success series kept 1,000 failures whose successes were lost: canary "errors".
  const pod = (at: number, group: string, ok: number, failed: number | undefined): SeriesCounters => ({
    [`${group}/success`]: { requests: ok, successes: ok, at, group },
    ...(failed !== undefined ? { [`${group}/failure`]: { requests: failed, successes: 0, at, group } } : {}),
  });
  const pods = (at: number, side: Record<string, [number, number | undefined]>): SeriesCounters =>
    Object.assign({}, ...Object.entries(side).map(([g, [ok, failed]]) => pod(at, g, ok, failed)));
  const reading = (at: number, stable: Record<string, [number, number | undefined]>, canary: Record<string, [number, number | undefined]>) => ({
    at,
    stable: pods(at, stable),
    canary: pods(at, canary),
  });

  it("a restarted pod drops all its series' differences for that interval, even one whose counter ended higher", () => {
    const e = fold([
      reading(0, { s0: [100_000, 1000] }, { c0: [20_000, 500], c1: [20_000, 500] }),
      // c0 restarted in an outage: 900 successes and 1,200 failures since (its old failure count was 500).
      reading(15_000, { s0: [120_000, 5000] }, { c0: [900, 1200], c1: [21_000, 1100] }),
      reading(30_000, { s0: [140_000, 5200] }, { c0: [1900, 1210], c1: [22_000, 1110] }),
    ]);
    expect(e.discarded).toBe(2);
    // c0 counts again from its values after the restart; the 1,200 failures are not the canary's errors.
    expect(e.canary).toEqual({ requests: 1600 + 1000 + 10 + 1000 + 10, errors: 600 + 10 + 10 });
    expect(e.stable).toEqual({ requests: 24_000 + 20_200, errors: 4000 + 200 });
  });

  it("a series the restarted pod has not exported again counts from zero when it comes back, even below its old value", () => {
    const e = fold([
      reading(0, { s0: [10_000, 100] }, { c0: [5000, 300] }),
      // c0 restarted: its failure series is gone (the new process has had no failure yet).
      reading(15_000, { s0: [11_000, 110] }, { c0: [400, undefined] }),
      // Its first failures since the restart: 20, fewer than the 300 before it, and not a reset.
      reading(30_000, { s0: [12_000, 120] }, { c0: [1380, 20] }),
    ]);
    expect(e.discarded).toBe(1);
    expect(e.canary).toEqual({ requests: 980 + 20, errors: 20 });
  });

  it("a restarted pod's failure series still answered at its old sample (Prometheus' lookback) is not folded back in", () => {
    const old = pod(0, "c0", 5000, 300);
    const e = fold([
      { at: 0, stable: pod(0, "s0", 10_000, 100), canary: old },
      { at: 15_000, stable: pod(15_000, "s0", 11_000, 110), canary: { ...pod(15_000, "c0", 400, undefined), "c0/failure": old["c0/failure"]! } },
      { at: 30_000, stable: pod(30_000, "s0", 12_000, 120), canary: pod(30_000, "c0", 1380, 20) },
    ]);
    expect(e.canary).toEqual({ requests: 980 + 20, errors: 20 });
  });

  it("an interval straddling a weight change is dropped whatever it holds; the ones before and after count", () => {
    // The step was requested at 20 s and read back at 22 s.
    const o = { ...opts, changes: [{ from: 20_000, to: 22_000 }] };
    const e = fold(
      [
        read(0, { a: [0, 0] }, { b: [0, 0] }),
        read(15_000, { a: [950, 940] }, { b: [50, 50] }), // before the write: counts
        read(30_000, { a: [1500, 1300] }, { b: [500, 300] }), // a burst of errors across the write: dropped
        read(45_000, { a: [2000, 1795] }, { b: [1000, 795] }), // after: counts
      ],
      o,
    );
    expect(e).toMatchObject({ intervals: 2, cuts: 1, stable: { requests: 950 + 500, errors: 10 + 5 }, canary: { requests: 50 + 500, errors: 5 } });
    // An unverified write (no `to`) cuts everything sampled after it began.
    const open = fold([read(0, { a: [0, 0] }, { b: [0, 0] }), read(30_000, { a: [100, 100] }, { b: [10, 10] })], { ...opts, changes: [{ from: 20_000 }] });
    expect(open).toMatchObject({ intervals: 0, cuts: 1 });
  });

  it("the cut follows the samples, not the reading: a sample taken before the write still counts under the old share", () => {
    const o = { ...opts, changes: [{ from: 20_000, to: 21_000 }] };
    // Read at 25 s, but Prometheus' newest sample is from 18 s (scraped every 15 s): all before the write.
    const e = fold([read(0, { a: [0, 0] }, { b: [0, 0] }, 3_000), read(25_000, { a: [900, 891] }, { b: [100, 99] }, 18_000)], o);
    expect(e).toMatchObject({ intervals: 1, cuts: 0, canary: { requests: 100, errors: 1 } });
  });

  it(`readings with no new sample for a few scrapes are "metrics unavailable" after ${STALE_READS} in a row, not "not enough traffic"`, () => {
    const settings = MetricsSettingsSchema.parse({ preset: "linkerd2" });
    const first = fold([read(0, { a: [1000, 990] }, { b: [100, 99] }), read(15_000, { a: [2000, 1980] }, { b: [200, 198] })]);
    // Prometheus stops scraping: the same samples (from 15 s) come back for a minute.
    let e = first;
    for (let t = 30_000; t <= 90_000; t += 15_000) e = foldCounters(e, read(t, { a: [2000, 1980] }, { b: [200, 198] }, 15_000), opts);
    expect(e.stale).toBe(STALE_READS);
    const v = judge(e, settings);
    expect(v).toEqual({ kind: "unavailable", noData: { reads: STALE_READS, since: 60_000 } });
    expect(describeVerdict(v)).toBe(
      "metrics unavailable: no new sample in 3 readings in a row since 00:01 UTC (Prometheus is not scraping these series, or the query selects none); nothing is judged until samples come back",
    );
    // A query selecting nothing at all is the same.
    expect(fold([read(0, {}, {}), read(5_000, {}, {}), read(10_000, {}, {})]).stale).toBe(3);
    // Samples again: counted from where they were, nothing lost or doubled.
    const back = foldCounters(e, read(105_000, { a: [3000, 2970] }, { b: [300, 297] }), opts);
    expect(back).toMatchObject({ stale: 0, stable: { requests: 2000 }, canary: { requests: 200 } });
  });

  it("a reading folded onto evidence that another reading has meanwhile extended is refused", () => {
    const a = fold([read(0, { a: [0, 0] }, { b: [0, 0] })]);
    const b1 = foldCounters(a, read(15_000, { a: [900, 891] }, { b: [100, 99] }), opts);
    const b2 = foldCounters(a, read(16_000, { a: [910, 900] }, { b: [101, 100] }), opts);
    expect(isNextReading(a, b1)).toBe(true);
    expect(isNextReading(b1, b2)).toBe(false);
    expect(isNextReading(b1, a)).toBe(false);
    expect(isNextReading(b1, foldCounters(b1, read(30_000, { a: [1800, 1782] }, { b: [200, 198] }), opts))).toBe(true);
  });
});

describe("weight changes from the record's events", () => {
  const ev = (at: number, kind: RolloutEvent["kind"], extra: Partial<RolloutEvent> = {}): RolloutEvent =>
    ({ seq: at, at, kind, actor: { kind: "bot", why: "x" }, ...extra }) as RolloutEvent;

  it("each movement from its request to its read-back; drift since the previous check; an unverified one stays open", () => {
    const events = [
      ev(1_000, "started"),
      ev(60_000, "advanced"),
      ev(61_500, "applied"),
      { ...ev(90_000, "held"), actor: { kind: "bot" as const, why: "drift" } },
      ev(120_000, "resumed", { how: "reapply" }),
      ev(121_000, "applied"),
      ev(180_000, "advanced"),
    ];
    expect(weightChanges({ events, createdAt: 500, appliedPercent: 10, desiredPercent: 20 }, 10_000)).toEqual([
      { from: 500, to: 1_000 },
      { from: 60_000, to: 61_500 },
      { from: 80_000, to: 90_000 },
      { from: 120_000, to: 121_000 },
      { from: 180_000 },
    ]);
  });
});
