import { describe, expect, it } from "vitest";
import { bakeHolds, bakeLimits, bakeStart, judgeBake, type Bake } from "../../src/engine/bake.ts";
import { foldCounts, type Evidence } from "../../src/engine/evidence.ts";
import { MetricsSettingsSchema } from "../../src/engine/metrics-settings.ts";
import { prng } from "../support/prng.ts";

/**
 * A wave's bake (src/engine/bake.ts): the canary's counts since its cluster finished, judged alone against
 * stable's rate at the Finish (plus the target's detect margin) and the floor, with the verdict's α discipline.
 */

const s = MetricsSettingsSchema.parse({ preset: "linkerd2" }); // confidence 0.99, maxErrorRatio 2, maxErrorIncrease 0.01, floor 0.95

/** The cluster's evidence at its Finish: stable failed 0.1% of 20,000, the canary 0.1% of 5,000. */
function atFinish(): Evidence {
  return foldCounts(undefined, 0, 60_000, { requests: 20_000, successes: 19_980 }, { requests: 5_000, successes: 4_995 });
}
/** The same evidence `seconds` later, with more canary requests only (it has all the traffic). */
function later(e: Evidence, requests: number, errors: number, seconds: number): Evidence {
  return foldCounts(e, e.until, e.until + seconds * 1000, { requests: 0, successes: 0 }, { requests, successes: requests - errors });
}
const reading = (e: Evidence) => ({ at: e.until, evidence: e, verdict: { kind: "healthy" } });

describe("a wave's bake", () => {
  it("tolerates up to stable's rate at the Finish plus the detect margin, and the floor", () => {
    const start = bakeStart(atFinish(), 60_000)!;
    expect(start).toEqual({ at: 60_000, canary: { requests: 5_000, errors: 5 }, stableErrorRate: 0.001, stableRequests: 20_000 });
    const limits = bakeLimits(start, s);
    expect(limits.stable).toBeCloseTo(0.011, 10); // max(2 × 0.1%, 0.1% + 1 point)
    expect(limits.floor).toBeCloseTo(0.05, 10);
    expect(bakeLimits({ ...start, stableErrorRate: undefined }, { ...s, minSuccessRate: 0 })).toEqual({});
  });

  it("a canary as good as at the Finish stays ok; one failing 5% of its requests since is worse, and that stands", () => {
    const e0 = atFinish();
    let b: Bake = { start: bakeStart(e0, e0.until)! };
    const e1 = later(e0, 3_000, 3, 30);
    b = judgeBake(b, reading(e1), s);
    expect(b.verdict).toMatchObject({ kind: "ok", requests: 3_000, errors: 3 });
    expect(bakeHolds(b)).toBe(false);
    const e2 = later(e1, 3_000, 150, 30);
    b = judgeBake(b, reading(e2), s);
    expect(b.verdict).toMatchObject({ kind: "worse", basis: "stable", requests: 6_000, errors: 153, confidence: 0.99 });
    expect(bakeHolds(b)).toBe(true);
    // Anytime-valid: the first "worse" stands, however good the next readings look.
    expect(judgeBake(b, reading(later(e2, 100_000, 0, 600)), s)).toBe(b);
  });

  it("without stable traffic at the Finish, the floor alone (as the verdict's floor for a lone version)", () => {
    const lone = foldCounts(undefined, 0, 60_000, undefined, { requests: 5_000, successes: 4_995 });
    const start = bakeStart(lone, lone.until)!;
    expect(start.stableErrorRate).toBeUndefined();
    const b = judgeBake({ start }, reading(later(lone, 2_000, 40, 30)), s);
    expect(b.verdict).toMatchObject({ kind: "ok" }); // 2% is worse than at the Finish, not below the 95% floor
    const bad = judgeBake({ start }, reading(later(lone, 2_000, 300, 30)), s);
    expect(bad.verdict).toMatchObject({ kind: "worse", basis: "floor" });
  });

  it("a reading that could not be taken holds until one can; a reading from before the Finish is not the bake's", () => {
    const e0 = atFinish();
    const b: Bake = { start: bakeStart(e0, e0.until)! };
    const down = judgeBake(b, { at: e0.until + 5_000, verdict: { kind: "unavailable", reason: "connect ECONNREFUSED" } }, s);
    expect(down.verdict).toEqual({ kind: "unavailable", reason: "connect ECONNREFUSED" });
    expect(bakeHolds(down)).toBe(true);
    expect(bakeHolds(judgeBake(down, reading(later(e0, 1_000, 1, 30)), s))).toBe(false);
    expect(judgeBake(b, { ...reading(e0), at: e0.until - 1 }, s)).toBe(b);
  });

  it("holds a canary failing exactly at the limit, read every interval of a long bake, at most α of the time; a worse one nearly always", () => {
    // 400 bakes of 120 readings of 200 requests, each failing independently at the stable limit (1.1%).
    const random = prng(24);
    const limit = bakeLimits(bakeStart(atFinish(), 0)!, s).stable!;
    const heldOf = (runs: number, rate: number) => {
      let held = 0;
      for (let run = 0; run < runs; run++) {
        let e = atFinish();
        let b: Bake = { start: bakeStart(e, e.until)! };
        for (let i = 0; i < 120 && !bakeHolds(b); i++) {
          let errors = 0;
          for (let j = 0; j < 200; j++) if (random() < rate) errors++;
          e = later(e, 200, errors, 5);
          b = judgeBake(b, reading(e), s);
        }
        if (bakeHolds(b)) held++;
      }
      return held;
    };
    // α = 1%, of which this test has half: about 2 in 400 at most, by Ville's inequality (none seen is typical).
    expect(heldOf(400, limit) / 400).toBeLessThanOrEqual(0.01);
    // ...while a canary failing three times as often is held in nearly every bake.
    expect(heldOf(50, 3 * limit)).toBeGreaterThanOrEqual(45);
  });
});
