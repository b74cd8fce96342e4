import type { Evidence, Tally } from "./evidence.ts";
import type { VerdictSettings } from "./metrics-settings.ts";
import { compareRate, logRateEvidence } from "./sequential.ts";
import { testsSharingAlpha } from "./verdict.ts";

/**
 * A wave's bake: a cluster finished (the canary holds all its traffic there) and the wave waits at the gate;
 * its readings go on, and the automatic gate opens only on a bake whose readings say nothing against the
 * canary. Pure: the counts since the Finish, judged.
 *
 * At 100% the canary has no stable beside it, so the verdict's comparison with stable (its ratio test) has
 * nothing to compare, and its floor looks only at intervals where both had traffic. The bake judges the
 * canary alone, with the engine's one-sample test (sequential.ts, the floor's): its error rate since the
 * Finish is "worse" once it is confidently above
 *  - what stable showed at the Finish, by more than the regression the target's verdict must be able to catch:
 *    max(maxErrorRatio × stable's error rate, stable's + maxErrorIncrease) (absent when stable had no traffic);
 *  - the floor, 1 − minSuccessRate (absent when the floor is off), as the verdict's floor does for a lone version.
 * Each test takes the share of α = 1 − confidence that the verdict's ratio and floor tests take (α/2, α/3 with
 * the latency gate), so a canary failing no more than both limits is held at a gate with probability at most α
 * over its whole bake, however often it is read (anytime-valid: the first "worse" stands). Stable's rate at the
 * Finish is taken as measured; the margin it is given is the tolerance, not a confidence bound.
 */

export type BakeStart = {
  /** When the cluster finished (ms). */
  at: number;
  /** The canary's counts at the last reading before the Finish: the bake counts from there. */
  canary: Tally;
  /** Stable's error rate over the cluster's rollout, as the Finish saw it (absent: stable had no traffic). */
  stableErrorRate?: number;
  stableRequests?: number;
};

/** The error rates a bake tolerates: above stable's at the Finish by the target's `detect`, and the floor. */
export type BakeLimits = { stable?: number; floor?: number };

export type BakeVerdict =
  | { kind: "ok"; requests: number; errors: number; limits: BakeLimits }
  | { kind: "worse"; basis: "stable" | "floor"; requests: number; errors: number; limit: number; pValue: number; confidence: number }
  | { kind: "unavailable"; reason?: string };

export type Bake = { start: BakeStart; /** the latest reading judged (ms) */ at?: number; verdict?: BakeVerdict };

/** The bake of a cluster that finished now, from the evidence its verdict ended on (none: no metrics). */
export function bakeStart(e: Evidence | undefined, at: number): BakeStart | undefined {
  if (!e) return undefined;
  const stable = e.stable.requests > 0 ? { stableErrorRate: e.stable.errors / e.stable.requests, stableRequests: e.stable.requests } : {};
  return { at, canary: { requests: e.canary.requests, errors: e.canary.errors }, ...stable };
}

export function bakeLimits(start: BakeStart, s: Pick<VerdictSettings, "maxErrorRatio" | "maxErrorIncrease" | "minSuccessRate">): BakeLimits {
  const pe = start.stableErrorRate;
  return {
    ...(pe !== undefined ? { stable: Math.min(0.999, Math.max(s.maxErrorRatio * pe, pe + s.maxErrorIncrease)) } : {}),
    ...(s.minSuccessRate > 0 ? { floor: 1 - s.minSuccessRate } : {}),
  };
}

/**
 * One more reading during the bake (`evidence`: the cluster's counts since its rollout began, as folded), or
 * one the source could not answer. A "worse" already found stands.
 */
export function judgeBake(b: Bake, reading: { at: number; evidence?: Evidence; verdict: { kind: string; reason?: string } }, s: VerdictSettings): Bake {
  if (b.verdict?.kind === "worse" || reading.at <= (b.at ?? b.start.at)) return b;
  if (reading.verdict.kind === "unavailable")
    return { ...b, at: reading.at, verdict: { kind: "unavailable", ...(reading.verdict.reason ? { reason: reading.verdict.reason } : {}) } };
  const e = reading.evidence;
  if (!e) return b;
  const n = e.canary.requests - b.start.canary.requests;
  const x = e.canary.errors - b.start.canary.errors;
  if (n < 0 || x < 0) return b; // not the evidence the bake began on
  const k = testsSharingAlpha(s);
  const a = (1 - s.confidence) / k;
  const limits = bakeLimits(b.start, s);
  for (const basis of ["stable", "floor"] as const) {
    const q = limits[basis];
    if (q !== undefined && compareRate(x, n, q, a) === "above") {
      const pValue = Math.min(1, k * Math.exp(-logRateEvidence(x, n, q)));
      return { ...b, at: reading.at, verdict: { kind: "worse", basis, requests: n, errors: x, limit: q, pValue, confidence: s.confidence } };
    }
  }
  return { ...b, at: reading.at, verdict: { kind: "ok", requests: n, errors: x, limits } };
}

/** Whether the bake keeps an automatic gate closed: its readings say worse, or the latest could not be taken. */
export function bakeHolds(b: Bake | undefined): boolean {
  return b?.verdict?.kind === "worse" || b?.verdict?.kind === "unavailable";
}
