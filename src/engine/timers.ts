import { err, ok } from "./result.ts";
import { withEvent, type Actor, type Rollout, type TransitionResult } from "./rollout.ts";

/**
 * When a stage's automatic step, its notice and its reminder are due. Pure: the timer jobs are scheduled
 * from what these functions write on the record, and a job whose `seq` no longer matches does nothing.
 */

export type StageClock = { remindMs: number };

/** A stage counts from the moment its weights were verified on the mesh. */
function settled(r: Rollout): boolean {
  return r.status === "active" && r.appliedPercent === r.desiredPercent;
}

function fresh(r: Rollout, now: number, clock: StageClock): NonNullable<Rollout["timers"]> {
  const seq = (r.timers?.seq ?? 0) + 1;
  if (r.auto) {
    const stepAt = now + r.auto.intervalMs;
    return { seq, stepIndex: r.stepIndex, stepAt, noticeAt: Math.max(now, stepAt - r.auto.noticeMs) };
  }
  return { seq, stepIndex: r.stepIndex, remindAt: now + clock.remindMs };
}

/**
 * Give a newly settled stage its timers, and take them away from a stage that is not running (held,
 * aborting, finishing). Returns the record unchanged when nothing is due to change.
 */
export function planStage(r: Rollout, now: number, clock: StageClock): Rollout {
  if (r.argo || r.flagger) return r; // Argo Rollouts keeps its own clock (timed pauses); the bot sets none
  if (settled(r)) {
    if (r.timers && r.timers.stepIndex === r.stepIndex && (r.timers.stepAt || r.timers.remindAt)) return r;
    return { ...r, timers: fresh(r, now, clock), ...(r.auto ? { auto: { ...r.auto, waitingSince: undefined } } : {}) };
  }
  if (r.timers && (r.timers.stepAt || r.timers.remindAt || r.timers.noticeAt)) {
    return { ...r, timers: { seq: r.timers.seq + 1, stepIndex: r.stepIndex } };
  }
  return r;
}

/** Start the stage's clock again (after Resume, or a switch between automatic and manual). */
export function replan(r: Rollout, now: number, clock: StageClock): Rollout {
  const cleared: Rollout = { ...r, timers: { seq: (r.timers?.seq ?? 0) + 1, stepIndex: r.stepIndex } };
  return planStage(cleared, now, clock);
}

/** Not enough evidence yet: look again in `retryMs`, remembering since when we have been waiting. */
export function waitForEvidence(r: Rollout, now: number, retryMs: number): Rollout {
  if (!r.auto || !r.timers) return r;
  const stepAt = now + retryMs;
  return {
    ...r,
    auto: { ...r.auto, waitingSince: r.auto.waitingSince ?? now },
    timers: { seq: r.timers.seq + 1, stepIndex: r.stepIndex, stepAt },
  };
}

/** A manual stage's reminder went out: remind again after the same time. */
export function remindAgain(r: Rollout, now: number, clock: StageClock): Rollout {
  if (!r.timers || r.auto) return r;
  return { ...r, timers: { ...r.timers, seq: r.timers.seq + 1, remindAt: now + clock.remindMs } };
}

/** The notice for the coming automatic step went out; the step itself keeps its time. */
export function noticeSent(r: Rollout): Rollout {
  if (!r.timers) return r;
  return { ...r, timers: { ...r.timers, noticeAt: undefined } };
}

export type AutoSettings = { intervalMs: number; maxWaitMs: number; noticeMs: number };

/** Who the bot's automatic steps act for: whoever turned them on, else the starter. */
export function autoOnBehalfOf(r: Rollout): string {
  return r.auto?.by ?? r.startedBy;
}

/** `/rollout auto <id> 10m` and `/rollout manual <id>`. */
export function setMode(r: Rollout, auto: AutoSettings | undefined, actor: Actor, now: number, clock: StageClock): TransitionResult {
  if (r.status === "completed" || r.status === "aborted" || r.status === "rejected") return err({ code: "has-ended", id: r.id, status: r.status });
  if (!auto && !r.auto) return err({ code: "already-manual", id: r.id });
  const by = actor.kind === "user" ? { by: actor.id } : {};
  const next: Rollout = { ...r, updatedAt: now, ...(auto ? { auto: { ...auto, ...by } } : { auto: undefined }) };
  return ok(replan(withEvent(next, now, { kind: "mode", actor, intervalMs: auto ? auto.intervalMs : null }), now, clock));
}
