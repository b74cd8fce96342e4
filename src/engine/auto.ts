import type { Verdict } from "./verdict.ts";
import type { Rollout, StoredSnapshot } from "./rollout.ts";

/**
 * What the scheduler does at an automatic step, decided from the stored snapshot alone. Pure, so every
 * rule is tested on its own: healthy advances, worse aborts, too little evidence waits (then hands the
 * decision to a person).
 */

export type AutoDecision =
  | { kind: "advance"; to: number; why: string }
  | { kind: "finish"; why: string }
  | { kind: "wait"; why: string; retryInMs: number }
  | { kind: "hold"; why: string }
  | { kind: "abort"; why: string };

export type AutoPolicy = {
  /** How long a stage may wait for enough traffic (or for metrics to come back) before a person decides. */
  maxWaitMs: number;
  /** How soon to look again while waiting. */
  retryMs: number;
  /** The verdict in words, for the reason (lent by the views: the engine has no words of its own). */
  describe: (v: Verdict) => string;
};

export function decideAutoStep(r: Rollout, snapshot: StoredSnapshot | undefined, now: number, p: AutoPolicy): AutoDecision {
  if (!snapshot) return waitOrHold(r, now, p, "no success-rate reading yet");
  const v = snapshot.verdict;
  switch (v.kind) {
    case "worse":
      return { kind: "abort", why: `canary is unhealthy: ${p.describe(v)}` };
    case "healthy": {
      const next = r.steps[r.stepIndex + 1];
      if (next === undefined) return { kind: "finish", why: `canary healthy at 100%: ${p.describe(v)}` };
      return { kind: "advance", to: next, why: `canary healthy: ${p.describe(v)}` };
    }
    case "not-enough-traffic":
    case "unavailable":
      return waitOrHold(r, now, p, p.describe(v));
  }
}

/** Not enough to decide on yet: look again, or after `maxWaitMs` of that, hand the decision to a person. */
export function waitOrHold(r: Rollout, now: number, p: AutoPolicy, why: string): AutoDecision {
  const since = r.auto?.waitingSince ?? now;
  if (now - since >= p.maxWaitMs) {
    return { kind: "hold", why: `waited ${Math.round((now - since) / 60_000)} min without a verdict (${why}): a person must decide` };
  }
  return { kind: "wait", why, retryInMs: p.retryMs };
}

/**
 * Between steps, every fresh reading is checked too: an unhealthy canary must not wait for the next step to
 * be rolled back. One "worse" is enough, because the test is anytime-valid: looking often does not make a
 * false "worse" likelier (the same stored reading seen twice is still one reading).
 */
export function shouldAbortBetweenSteps(previous: StoredSnapshot | undefined, latest: StoredSnapshot): boolean {
  return latest.verdict.kind === "worse" && previous?.at !== latest.at;
}
