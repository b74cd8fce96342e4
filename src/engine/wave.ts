import { err, ok, type Result } from "./result.ts";
import type { DriftAuthor, GitBaseline } from "./ownership.ts";
import { bakeHolds, type Bake, type BakeVerdict } from "./bake.ts";

/**
 * A wave: one rollout of one target through several clusters in order (staging, then prod-eu, then prod-us).
 * Each cluster runs the whole plan (its own preflight, test stage, steps, verdict and drift checks) while the
 * wave waits; between two clusters a gate opens by a person's Advance, or by itself once the previous
 * cluster finished healthy and its bake time passed. Abort reverts every cluster the wave touched, newest
 * first, one at a time, each verified before the next. A cluster that cannot be reached holds the wave
 * (never skipped) until it answers again.
 *
 * Pure: the wave is data on the rollout record; every function takes a wave and returns a new one, or a
 * refusal as data (`WaveRefusal`) for the views to word.
 */

export type WaveRowState =
  | "waiting" // not reached yet
  | "running" // the plan runs here now
  | "finished" // the canary has all the traffic here, verified
  | "reverting" // Abort: going back to stable here
  | "reverted" // back to stable, verified
  | "untouched"; // aborted before the wave reached it: nothing was written here

export type WaveRow = {
  cluster: string;
  state: WaveRowState;
  /** The canary's share here, as last verified (null: never written). */
  percent: number | null;
  /** The verdict the cluster's plan ended on (`healthy`, `worse`, ...: the verdict engine's kind). */
  verdict?: string;
  /**
   * `cleanup: scale-down`: the stable's Deployment preflight saw serving the target in this cluster. Kept
   * until the whole wave completes: a later Abort could still send traffic back to it.
   */
  stableWorkload?: { namespace: string; name: string };
  /** GitOps-owned objects the wave writes here, with what they held before its first write here (the note at the end). */
  gitopsBaseline?: GitBaseline[];
  /** The router's print of what it manages besides the weights, at this cluster's verified Finish (Observed.print). */
  print?: string;
  /**
   * A finished cluster whose route no longer holds what the wave verified there (all traffic on the canary):
   * a hand edit, a GitOps owner putting git back. Re-read on every periodic check; cleared once it holds it again.
   */
  drift?: RowDrift;
};

/** What a finished cluster's route holds instead of what the wave verified, and who changed it (managedFields). */
export type RowDrift = {
  /** The canary's share now, when the route is still a split of the pair. */
  observedPercent?: number;
  raw: string;
  /** Since when the bot has seen it. */
  at: number;
  /** What else changed that the bot manages (a Gateway rule's matches), in the router's words. */
  change?: string;
  by?: DriftAuthor;
};

export type WaveGate = { mode: "manual" } | { mode: "auto"; bakeMs: number };

export type Wave = {
  /** The clusters in order; `rows` has one per cluster, in the same order. */
  rows: WaveRow[];
  /** Index of the cluster running (or, at a gate, of the one that just finished). */
  position: number;
  gate: WaveGate;
  /** Each cluster's plan begins with the test stage (0%, header routing only; the router has one). */
  testStage: boolean;
  /**
   * Waiting between `position` and the next: since when, (automatic gate) from when it may open by itself, and
   * (a target with metrics) the readings of the cluster that finished since its Finish (src/engine/bake.ts).
   */
  atGate?: { since: number; opensAt?: number; bake?: Bake };
  /** A cluster that did not answer: the wave holds (nothing moves anywhere) until it does. */
  unreachable?: { cluster: string; since: number; error: string };
  /** Abort: the clusters to revert, newest first; the first not `reverted` is being reverted. */
  revert?: string[];
};

export type WaveRefusal =
  | { code: "wave-cluster-not-declared"; cluster: string; declared: string[] }
  | { code: "wave-cluster-twice"; cluster: string }
  | { code: "wave-too-short"; clusters: string[] }
  | { code: "wave-not-at-gate"; cluster: string }
  /** A finished cluster no longer holds what the wave verified: the wave does not move on (or finish) over it. */
  | { code: "wave-drifted"; cluster: string }
  | { code: "wave-baking"; cluster: string; opensAt: number }
  /** The bake's readings say the canary is worse there, or could not be read: only a person opens the gate. */
  | { code: "wave-bake-held"; cluster: string; verdict: BakeVerdict }
  | { code: "wave-unhealthy"; cluster: string; verdict: string }
  | { code: "wave-held-unreachable"; cluster: string; since: number }
  | { code: "wave-aborting" }
  | { code: "wave-not-reverting"; cluster: string }
  | { code: "wave-not-reverted"; cluster: string; percent: number };

/**
 * The clusters a wave runs through: the target's `clusters:` list, or the ones a person names with
 * `--clusters`, each checked against that list (the fence: a flag can pick and order among the declared
 * clusters, never reach another).
 */
export function planWave(declared: readonly string[], requested?: readonly string[]): Result<string[], WaveRefusal> {
  const clusters = requested ?? declared;
  const seen = new Set<string>();
  for (const c of clusters) {
    if (!declared.includes(c)) return err({ code: "wave-cluster-not-declared", cluster: c, declared: [...declared] });
    if (seen.has(c)) return err({ code: "wave-cluster-twice", cluster: c });
    seen.add(c);
  }
  if (clusters.length < 2) return err({ code: "wave-too-short", clusters: [...clusters] });
  return ok([...clusters]);
}

export function newWave(clusters: readonly string[], gate: WaveGate, testStage = false): Wave {
  return {
    rows: clusters.map((cluster, i) => ({ cluster, state: i === 0 ? "running" : "waiting", percent: null })),
    position: 0,
    gate,
    testStage,
  };
}

/** The cluster the plan runs in now (or that is being reverted, during an Abort). */
export function currentCluster(w: Wave): string {
  const reverting = nextToRevert(w);
  return reverting ?? w.rows[w.position]!.cluster;
}

/** Whether the wave has run through its last cluster (every row finished). */
export function waveFinished(w: Wave): boolean {
  return w.rows.every((r) => r.state === "finished");
}

const withRow = (w: Wave, cluster: string, change: Partial<WaveRow>): Wave => ({
  ...w,
  rows: w.rows.map((r) => (r.cluster === cluster ? { ...r, ...change } : r)),
});

/** The canary's share as verified in the cluster running now (the row's weights). */
export function clusterApplied(w: Wave, percent: number): Wave {
  return withRow(w, w.rows[w.position]!.cluster, { percent });
}

/**
 * The running cluster's plan finished (the canary has all its traffic, verified). The last cluster ends the
 * wave; any other waits at the gate: a person's Advance, or (automatic gate, healthy verdict) its bake time.
 */
export function clusterFinished(w: Wave, verdict: string, now: number): Result<Wave, WaveRefusal> {
  if (w.revert) return err({ code: "wave-aborting" });
  const row = w.rows[w.position]!;
  const done = withRow(w, row.cluster, { state: "finished", percent: 100, verdict });
  if (w.position === w.rows.length - 1) return ok(done);
  const opensAt = w.gate.mode === "auto" && verdict === "healthy" ? now + w.gate.bakeMs : undefined;
  return ok({ ...done, atGate: { since: now, ...(opensAt !== undefined ? { opensAt } : {}) } });
}

/**
 * Open the gate to the next cluster: a person's Advance any time the wave waits at it, the timer only after
 * the bake time of a cluster that finished healthy, and only on a bake whose readings hold nothing against it.
 * Never while a cluster is unreachable, nor while a finished cluster no longer holds what the wave verified there.
 */
export function openGate(w: Wave, by: "person" | "timer", now: number): Result<Wave, WaveRefusal> {
  const here = w.rows[w.position]!;
  if (w.revert) return err({ code: "wave-aborting" });
  if (w.unreachable) return err({ code: "wave-held-unreachable", cluster: w.unreachable.cluster, since: w.unreachable.since });
  if (!w.atGate) return err({ code: "wave-not-at-gate", cluster: here.cluster });
  const drifted = driftedRow(w);
  if (drifted) return err({ code: "wave-drifted", cluster: drifted.cluster });
  if (by === "timer") {
    if (w.atGate.opensAt === undefined) return err({ code: "wave-unhealthy", cluster: here.cluster, verdict: here.verdict ?? "unknown" });
    if (now < w.atGate.opensAt) return err({ code: "wave-baking", cluster: here.cluster, opensAt: w.atGate.opensAt });
    const bake = w.atGate.bake;
    if (bakeHolds(bake)) return err({ code: "wave-bake-held", cluster: here.cluster, verdict: bake!.verdict! });
  }
  const position = w.position + 1;
  const next = w.rows[position]!.cluster;
  const { atGate: _gate, ...rest } = w;
  return ok(withRow({ ...rest, position }, next, { state: "running" }));
}

/** The first finished cluster whose route no longer holds what the wave verified there, if any. */
export function driftedRow(w: Wave): WaveRow | undefined {
  return w.rows.find((r) => r.state === "finished" && r.drift !== undefined);
}

/**
 * The cluster the gate opened to refused the start before anything was written there (preflight, the mesh
 * cannot carry it, a GitOps owner): the wave goes back to the gate before it, which only a person reopens.
 */
export function gateRefused(w: Wave, now: number): Wave {
  if (w.position === 0 || w.revert) return w;
  const here = w.rows[w.position]!.cluster;
  const back = withRow({ ...w, position: w.position - 1, atGate: { since: now } }, here, { state: "waiting", percent: null, gitopsBaseline: undefined });
  return back;
}

/** A cluster did not answer (network, timeout, 5xx): the whole wave holds and says which, since when. */
export function clusterUnreachable(w: Wave, cluster: string, error: string, now: number): Wave {
  if (w.unreachable?.cluster === cluster) return { ...w, unreachable: { ...w.unreachable, error } };
  return { ...w, unreachable: { cluster, since: now, error } };
}

/** The cluster answered again: the wave goes on where it was held. */
export function clusterReachable(w: Wave, cluster: string): Wave {
  if (w.unreachable?.cluster !== cluster) return w;
  const { unreachable: _u, ...rest } = w;
  return rest;
}

/**
 * Abort: every cluster the wave touched goes back to stable, newest first (the running one, then the
 * finished ones in reverse order); clusters it never reached are left untouched and say so.
 */
export function abortWave(w: Wave): Wave {
  if (w.revert) return w;
  const touched = w.rows.filter((r) => r.state === "running" || r.state === "finished").map((r) => r.cluster);
  const order = [...touched].reverse();
  // An unreachable mark is the abort's to find again: its own writes say which cluster does not answer.
  const { atGate: _gate, unreachable: _u, ...rest } = w;
  return {
    ...rest,
    revert: order,
    rows: w.rows.map((r) => (order.includes(r.cluster) ? { ...r, state: "reverting" } : r.state === "waiting" ? { ...r, state: "untouched" } : r)),
  };
}

/** The cluster being reverted now: the newest touched one not reverted yet (undefined: none left, or no Abort). */
export function nextToRevert(w: Wave): string | undefined {
  return w.revert?.find((c) => w.rows.find((r) => r.cluster === c)?.state !== "reverted");
}

/**
 * A cluster's revert was read back. Only the cluster being reverted now, and only at 0%: a cluster is never
 * counted as reverted on a write that did not verify, and the next one waits for it.
 */
export function revertVerified(w: Wave, cluster: string, percent: number): Result<Wave, WaveRefusal> {
  if (nextToRevert(w) !== cluster) return err({ code: "wave-not-reverting", cluster });
  if (percent !== 0) return err({ code: "wave-not-reverted", cluster, percent });
  return ok(withRow(w, cluster, { state: "reverted", percent: 0, drift: undefined }));
}

/** Whether an Abort is complete: every touched cluster reverted and verified. */
export function waveReverted(w: Wave): boolean {
  return w.revert !== undefined && nextToRevert(w) === undefined;
}

/** Where the wave stands, for the message: `2 of 3: prod-eu`, and whether it waits, holds or reverts. */
export function wavePosition(w: Wave): { index: number; of: number; cluster: string; waiting?: "gate" | "unreachable" | "reverting" } {
  const reverting = nextToRevert(w);
  const cluster = reverting ?? w.rows[w.position]!.cluster;
  const waiting = w.unreachable ? "unreachable" : reverting ? "reverting" : w.atGate ? "gate" : undefined;
  return { index: w.rows.findIndex((r) => r.cluster === cluster) + 1, of: w.rows.length, cluster, ...(waiting ? { waiting } : {}) };
}
