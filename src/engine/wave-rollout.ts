import { err, ok, type Result } from "./result.ts";
import type { Refusal } from "./refusal.ts";
import { withEvent, type Actor, type Rollout } from "./rollout.ts";
import type { Target } from "./target.ts";
import type { GitBaseline } from "./ownership.ts";
import { bakeHolds, bakeStart, judgeBake } from "./bake.ts";
import {
  clusterFinished,
  driftedRow,
  clusterReachable,
  clusterUnreachable,
  newWave,
  nextToRevert,
  openGate,
  planWave,
  revertVerified,
  waveReverted,
  type Wave,
  type WaveGate,
  type WaveRefusal,
  type RowDrift,
} from "./wave.ts";

/**
 * A wave on the rollout record: `record.target` is always the target in the cluster the wave is at, so the
 * reconcile, snapshot, drift and GitOps steps work per cluster unchanged, and a process that takes over after
 * a crash finds the right cluster on the record. Pure: records in, records (or refusals) out.
 */

/** What a wave target's `wave:` settings make of the gate. */
export function waveGate(t: Pick<Target, "wave">): WaveGate {
  return t.wave?.gate === "auto" ? { mode: "auto", bakeMs: t.wave.bakeTime } : { mode: "manual" };
}

/** Why `--clusters` was refused: it names no cluster of the target's wave, or the target has no wave. */
export type WaveStartRefusal =
  { code: "wave-clusters"; target: string; flag: boolean; refusal: WaveRefusal } | { code: "not-a-wave"; target: string; clusters: string[] };

/**
 * The clusters a start runs through: the target's `clusters:` (or `--clusters` among them), its first cluster's
 * target, and the wave. A target without `clusters:` has no wave; `--clusters` on it is refused.
 */
export function planStartWave(
  target: Target,
  requested: readonly string[] | undefined,
  testStage: boolean,
): Result<{ target: Target; wave: Wave } | undefined, WaveStartRefusal> {
  if (!target.clusters) return requested ? err({ code: "not-a-wave", target: target.name, clusters: [...requested] }) : ok(undefined);
  const planned = planWave(target.clusters, requested);
  if (!planned.ok) return err({ code: "wave-clusters", target: target.name, flag: requested !== undefined, refusal: planned.error });
  const wave = newWave(planned.value, waveGate(target), testStage);
  return ok({ target: inCluster(target, planned.value[0]!), wave });
}

/** The wave's target in one of its clusters (what `record.target` holds while the wave is there). */
export function inCluster(t: Target, cluster: string): Target {
  return { ...t, cluster };
}

/** Whether this Finish ends the rollout (no wave, or its last cluster) or only this cluster's part. */
export function finishesWave(r: Pick<Rollout, "wave">): boolean {
  return !r.wave || r.wave.position === r.wave.rows.length - 1;
}

/**
 * The running cluster's Finish was verified (100% on the canary) and it is not the last: its row is finished,
 * with the verdict it ended on, and the rollout waits at the gate before the next cluster. Nothing is
 * cleaned up yet: a later Abort could still send this cluster's traffic back to stable.
 */
export function clusterDone(r: Rollout, raw: string, now: number, print?: string): Rollout {
  const w = r.wave;
  if (!w || r.status !== "finishing" || finishesWave(r)) return r;
  const verdict = r.snapshot?.verdict.kind ?? "none";
  const done = clusterFinished(w, verdict, now);
  if (!done.ok) return r;
  const here = w.rows[w.position]!.cluster;
  const next = w.rows[w.position + 1]!.cluster;
  const wave: Wave = {
    ...done.value,
    // What the periodic check holds this cluster's route to from now on, and what a later Abort goes back from.
    rows: done.value.rows.map((row) =>
      row.cluster === here
        ? {
            ...row,
            ...(r.stableWorkload ? { stableWorkload: r.stableWorkload } : {}),
            ...((print ?? r.meshPrint) !== undefined ? { print: print ?? r.meshPrint } : {}),
          }
        : row,
    ),
  };
  // With metrics, the readings go on during the bake, counted from the last one before the Finish.
  const start = r.target.metrics && r.target.metrics.source !== "none" ? bakeStart(r.snapshot?.evidence, now) : undefined;
  if (start && wave.atGate) wave.atGate = { ...wave.atGate, bake: { start } };
  const opensAt = wave.atGate?.opensAt;
  const at: Rollout = { ...r, status: "at-gate", wave, appliedPercent: 100, observedRaw: raw, problem: undefined, updatedAt: now };
  return withEvent(at, now, {
    kind: "wave",
    actor: r.last?.actor ?? { kind: "bot", why: "finish" },
    wave: { what: "finished", cluster: here, next, verdict, ...(opensAt !== undefined ? { opensAt } : {}) },
  });
}

/**
 * Open the gate to the next cluster: a person's Advance (their right was checked), or the bot once the bake
 * time of a healthy cluster has passed. The next cluster begins from scratch: its own preflight, validation,
 * GitOps check, test stage, steps and verdict; the rows keep what the earlier clusters ended on.
 */
export function openWaveGate(r: Rollout, actor: Actor, now: number): Result<Rollout, Refusal> {
  const w = r.wave;
  if (!w) return err({ code: "last-step", id: r.id });
  if (r.status !== "at-gate") return err({ code: "wave-not-at-gate", cluster: w.rows[w.position]!.cluster });
  const opened = openGate(w, actor.kind === "user" ? "person" : "timer", now);
  if (!opened.ok) return opened;
  const from = w.rows[w.position]!.cluster;
  const next = opened.value.rows[opened.value.position]!.cluster;
  const stepIndex = w.testStage ? -1 : 0;
  const {
    initialRaw: _i,
    observedRaw: _o,
    meshPrint: _m,
    snapshot: _s,
    drift: _d,
    resync: _r,
    takeOwnership: _t,
    testRequestHint: _h,
    stableWorkload: _w,
    gitopsBaseline: _g,
    problem: _p,
    ...rest
  } = r;
  const moved: Rollout = {
    ...rest,
    wave: opened.value,
    target: inCluster(r.target, next),
    status: "starting",
    stepIndex,
    desiredPercent: stepIndex < 0 ? 0 : r.steps[0]!,
    appliedPercent: null,
    timers: { seq: (r.timers?.seq ?? 0) + 1, stepIndex },
    ...(r.auto ? { auto: { ...r.auto, waitingSince: undefined } } : {}),
    last: { kind: "advanced", actor, at: now, stepIndex },
    updatedAt: now,
  };
  return ok(withEvent(moved, now, { kind: "wave", actor, cluster: next, wave: { what: "opened", cluster: next, from } }));
}

/** The row of the cluster running now shows what its mesh was last verified to hold (called on every write). */
export function syncWaveRow(r: Rollout): Rollout {
  const w = r.wave;
  if (!w || w.revert || r.appliedPercent === null) return r;
  const row = w.rows[w.position]!;
  if (row.state !== "running" || row.percent === r.appliedPercent) return r;
  return { ...r, wave: { ...w, rows: w.rows.map((x, i) => (i === w.position ? { ...x, percent: r.appliedPercent } : x)) } };
}

/** A cluster did not answer (network, timeout, 5xx): the wave holds, the record says which since when. */
export function markUnreachable(r: Rollout, cluster: string, error: string, now: number): Rollout {
  const w = r.wave;
  if (!w) return r;
  const first = w.unreachable?.cluster !== cluster;
  const wave = clusterUnreachable(w, cluster, error, now);
  if (!first) return wave.unreachable?.error === w.unreachable?.error ? r : { ...r, wave };
  return withEvent({ ...r, wave, updatedAt: now }, now, {
    kind: "wave",
    actor: { kind: "bot", why: "worker" },
    cluster,
    wave: { what: "unreachable", cluster, since: now, error },
  });
}

/** The cluster answered again: the wave goes on where it was held. */
export function markReachable(r: Rollout, now: number): Rollout {
  const u = r.wave?.unreachable;
  if (!r.wave || !u) return r;
  const wave = clusterReachable(r.wave, u.cluster);
  return withEvent({ ...r, wave, problem: undefined, updatedAt: now }, now, {
    kind: "wave",
    actor: { kind: "bot", why: "worker" },
    cluster: u.cluster,
    wave: { what: "reachable", cluster: u.cluster, since: u.since },
  });
}

/**
 * Abort: the cluster being reverted was read back at 0%. The next one to revert (newest first) becomes the
 * record's target, at 100% (a finished cluster) as far as the bot verified; `done` once every touched
 * cluster is back on stable, verified, and the rollout may be marked aborted.
 */
export function clusterReverted(r: Rollout, raw: string, now: number): Result<{ rollout: Rollout; done: boolean }, WaveRefusal> {
  const w = r.wave;
  if (!w) return ok({ rollout: r, done: true });
  const cluster = r.target.cluster ?? "";
  const verified = revertVerified(w, cluster, 0);
  if (!verified.ok) return verified;
  const wave = verified.value;
  const next = nextToRevert(wave);
  const event = {
    kind: "wave" as const,
    actor: { kind: "bot" as const, why: "abort" },
    cluster,
    wave: { what: "reverted" as const, cluster, ...(next ? { next } : {}) },
  };
  if (!next || waveReverted(wave)) return ok({ rollout: withEvent({ ...r, wave, observedRaw: raw }, now, event), done: true });
  const { meshPrint: _m, snapshot: _s, drift: _d, resync: _r, takeOwnership: _t, ...rest } = r;
  const moved: Rollout = {
    ...rest,
    wave,
    target: { ...r.target, cluster: next },
    appliedPercent: wave.rows.find((x) => x.cluster === next)?.percent ?? 100,
    observedRaw: raw,
    problem: undefined,
    updatedAt: now,
  };
  return ok({ rollout: withEvent(moved, now, event), done: false });
}

/** The wave's last cluster finished: every row is finished, and the thread says which clusters it went through. */
export function waveCompleted(r: Rollout, now: number): Rollout {
  const w = r.wave;
  if (!w || r.status !== "completed") return r;
  const verdict = r.snapshot?.verdict.kind ?? "none";
  const rows = w.rows.map((row, i) => (i === w.position ? { ...row, state: "finished" as const, percent: 100, verdict } : row));
  return withEvent({ ...r, wave: { ...w, rows } }, now, {
    kind: "wave",
    actor: r.last?.actor ?? { kind: "bot", why: "finish" },
    wave: { what: "completed", clusters: rows.map((row) => row.cluster) },
  });
}

/**
 * The GitOps baselines to give "back to git" notes for at the rollout's end, per cluster: in a wave, every
 * cluster it wrote to (finished, running, reverted: newest first), each with its own; otherwise the record's (cluster
 * undefined: the rollout's own). A record from before rows kept them has the record's only: that of the
 * cluster running when it ended (the newest, first to revert).
 */
export function gitBaselines(r: Pick<Rollout, "wave" | "gitopsBaseline" | "target">): { cluster?: string; baseline: GitBaseline[] }[] {
  const w = r.wave;
  if (!w) return r.gitopsBaseline?.length ? [{ baseline: r.gitopsBaseline }] : [];
  // After an Abort, in the order the clusters were reverted (newest first); otherwise the wave's order.
  const rows = w.revert ? w.revert.map((c) => w.rows.find((row) => row.cluster === c)!) : w.rows;
  const wrote = rows.filter((row) => row.state !== "waiting" && row.state !== "untouched");
  const out = wrote.filter((row) => row.gitopsBaseline?.length).map((row) => ({ cluster: row.cluster, baseline: row.gitopsBaseline! }));
  const newest = w.revert?.[0] ?? w.rows[w.position]!.cluster;
  if (r.gitopsBaseline?.length && !out.some((o) => o.cluster === newest)) out.push({ cluster: newest, baseline: r.gitopsBaseline });
  return out;
}

/**
 * A finished cluster's route no longer holds what the wave verified there (the periodic check read it): the
 * row says what it holds and who changed it, and the thread says so once (`why`, in the worker's words, with
 * what helps). Nothing is written: the gate stays closed and the last cluster does not finish until it holds
 * it again (or Abort, which reverts every cluster over it).
 */
export function finishedClusterDrifted(r: Rollout, cluster: string, drift: RowDrift, why: string, now: number): Rollout {
  const w = r.wave;
  const row = w?.rows.find((x) => x.cluster === cluster);
  if (!w || w.revert || row?.state !== "finished") return r;
  if (row.drift && row.drift.observedPercent === drift.observedPercent && row.drift.raw === drift.raw && row.drift.change === drift.change) return r;
  const rows = w.rows.map((x) => (x.cluster === cluster ? { ...x, drift: { ...drift, at: x.drift?.at ?? drift.at } } : x));
  return withEvent({ ...r, wave: { ...w, rows }, updatedAt: now }, now, { kind: "warning", actor: { kind: "bot", why: "drift" }, cluster, text: why });
}

/** A finished cluster's route holds what the wave verified again (put back by hand, or by its owner): the wave may go on. */
export function finishedClusterRestored(r: Rollout, cluster: string, now: number): Rollout {
  const w = r.wave;
  const row = w?.rows.find((x) => x.cluster === cluster);
  if (!w || !row?.drift) return r;
  const rows = w.rows.map((x) => (x.cluster === cluster ? { ...x, drift: undefined } : x));
  return withEvent({ ...r, wave: { ...w, rows }, updatedAt: now }, now, {
    kind: "wave",
    actor: { kind: "bot", why: "drift" },
    cluster,
    wave: { what: "restored", cluster },
  });
}

/** The finished cluster, changed since, that keeps this Finish (the wave's last) from going ahead, if any. */
export function finishBlockedBy(r: Pick<Rollout, "wave">): string | undefined {
  return r.wave && finishesWave(r) ? driftedRow(r.wave)?.cluster : undefined;
}

/**
 * A reading stored while the wave waits at the gate: judged as the bake of the cluster that finished (src/engine/
 * bake.ts). The first time it says worse, the thread says so: an automatic gate stays closed (a person may still
 * Advance, or Abort); at a manual gate it is for the person to weigh.
 */
export function withBakeReading(r: Rollout, now: number): Rollout {
  const w = r.wave;
  const bake = w?.atGate?.bake;
  const s = r.target.metrics;
  if (!w || !bake || !s || r.status !== "at-gate" || !r.snapshot) return r;
  const judged = judgeBake(bake, r.snapshot, s);
  if (judged === bake) return r;
  const moved: Rollout = { ...r, wave: { ...w, atGate: { ...w.atGate!, bake: judged } } };
  if (judged.verdict?.kind !== "worse") return moved;
  const cluster = w.rows[w.position]!.cluster;
  return withEvent({ ...moved, updatedAt: now }, now, {
    kind: "wave",
    actor: { kind: "bot", why: "bake" },
    cluster,
    wave: { what: "bake-worse", cluster, next: w.rows[w.position + 1]?.cluster ?? "", verdict: judged.verdict, gate: w.gate.mode },
  });
}

/**
 * Whether an automatic gate is due to open now: its bake time passed, and nothing holds it (a cluster that
 * does not answer, a finished cluster changed since, a bake whose readings say worse or could not be read).
 */
export function gateDue(r: Rollout, now: number): boolean {
  const w = r.wave;
  const opensAt = w?.atGate?.opensAt;
  if (!w || r.status !== "at-gate" || opensAt === undefined || now < opensAt) return false;
  return !w.unreachable && !driftedRow(w) && !bakeHolds(w.atGate?.bake);
}
