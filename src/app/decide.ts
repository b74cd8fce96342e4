import { autoTooFast } from "../engine/metrics-settings.ts";
import type { Logger } from "pino";
import {
  abort,
  adopt,
  advance,
  finish,
  hold,
  parseRolloutId,
  promote,
  reapply,
  resume,
  type Actor,
  type Rollout,
  type TransitionResult,
} from "../engine/rollout.ts";
import { RIGHT, type ActionKind, type DecisionNote } from "../engine/policy.ts";
import { err, ok, type Result } from "../engine/result.ts";
import type { Refusal } from "../engine/refusal.ts";
import { setMode, type AutoSettings } from "../engine/timers.ts";
import { openWaveGate } from "../engine/wave-rollout.ts";
import { targetKey } from "../engine/target.ts";
import { pauseFlux } from "../engine/flux-pause.ts";
import { argoActionOf, argoDecide, argoReachesFull } from "../engine/argo.ts";
import { flaggerActionOf, flaggerDecide, flaggerReachesFull } from "../engine/flagger.ts";
import type { EffectQueue } from "../queue/queues.ts";
import { actorName, type AuditEntry, type AuditLog, type AuditVia } from "../store/audit.ts";
import type { RolloutStore } from "../store/rollout-store.ts";
import type { AccessControl, Gate } from "./access.ts";
import type { AuditWords } from "./deps.ts";

export type { ActionKind, DecisionNote } from "../engine/policy.ts";

/** Whether a decision on a followed Argo Rollout takes it to all traffic: the policy's final step. */
function argoFinal(kind: ActionKind, r: Rollout): boolean {
  const action = argoActionOf(kind);
  return action !== undefined && r.argo !== undefined && argoReachesFull(action, r.argo.state);
}

export type Decided = { rollout: Rollout; note?: DecisionNote };
export type DecideResult = Result<Decided, Refusal>;

export type DecideDeps = {
  store: RolloutStore;
  queue: EffectQueue;
  now: () => number;
  audit: AuditLog;
  words: AuditWords;
  /** Required for a person's decision; the bot's own decisions are not subject to the policy. */
  access?: AccessControl;
  log?: Logger;
};

/** Where the decision came from: the channel (for the policy) and the surface (for the audit trail). */
export type DecideContext = {
  channelId?: string;
  via?: AuditVia;
  auto?: AutoSettings;
  /**
   * Checked inside the compare-and-set, before anything else: why the decision no longer applies to the
   * record as it is now (the bot's automatic step was decided on a stage that has since been held and
   * resumed, say), or undefined to go on.
   */
  stillValid?: (r: Rollout) => Refusal | undefined;
};

/**
 * One decision about a running rollout, by a person or by the bot: authorize, one compare-and-set on the
 * record, audit, then enqueue the effects. Of many concurrent identical decisions exactly one wins; the
 * others get a refusal that says who was first. A person is checked against the target's policy inside the
 * same compare-and-set (so "is this the final step?" is judged on the record that is then changed).
 * Every decision, done, refused or failed, is appended to the audit trail.
 */
export async function decide(
  deps: DecideDeps,
  actor: Actor,
  kind: ActionKind,
  rolloutId: string,
  fromStep?: number,
  ctx: DecideContext = {},
): Promise<DecideResult> {
  const now = deps.now();
  let seen: Rollout | undefined;
  let note: DecisionNote | undefined;
  const audit = async (e: Pick<AuditEntry, "outcome"> & Partial<AuditEntry>) => {
    try {
      await deps.audit.append({
        at: now,
        actor: actorName(actor),
        // A followed Argo Rollout's trail names the plugin's command that was (or was not) sent.
        // A gated Flagger Canary's names the button: approve, halt, resume, rollback.
        action: seen?.argo ? (argoActionOf(kind) ?? kind) : seen?.flagger ? flaggerActionOf(kind) : kind,
        via: ctx.via ?? (actor.kind === "user" ? "command" : "auto"),
        rolloutId,
        // A wave's entries name the cluster it was at (`shop@prod-eu`), as the worker's do.
        ...(seen ? { target: targetKey(seen.target) } : parseRolloutId(rolloutId) ? { target: parseRolloutId(rolloutId)!.target } : {}),
        ...(ctx.channelId ? { channel: ctx.channelId } : {}),
        ...(seen?.appliedPercent != null ? { before: seen.appliedPercent } : {}),
        ...e,
      });
    } catch (e2) {
      // The decision stands either way; a lost audit entry is logged loudly rather than undoing it.
      deps.log?.error({ err: e2, rolloutId, kind }, "could not append to the audit trail");
    }
  };

  // An id that does not parse names no target, so no policy could be judged: refused before anything else.
  const parsedId = parseRolloutId(rolloutId);
  if (!parsedId) {
    const refusal: Refusal = { code: "no-rollout", id: rolloutId };
    await audit({ outcome: "refused", reason: deps.words.refusal(refusal) });
    return err(refusal);
  }

  let result;
  try {
    let gate: Gate | undefined;
    if (actor.kind === "user") {
      if (!deps.access) throw new Error("decide: a person's decision needs the access control wired in");
      gate = await deps.access.prepare(actor.id, RIGHT[kind], parsedId.target, ctx.channelId);
    }
    result = await deps.store.update(rolloutId, (r): TransitionResult => {
      seen = r;
      note = undefined;
      const stale = ctx.stillValid?.(r);
      if (stale) return err(stale);
      if (gate) {
        const step = fromStep ?? r.stepIndex;
        const reachesFull = r.flagger ? flaggerReachesFull(kind, r) : r.argo ? argoFinal(kind, r) : kind === "advance" && r.steps[step + 1] === 100;
        const decision = gate({ reachesFull, startedBy: r.flagger?.firstActor ?? r.argo?.firstActor ?? r.startedBy });
        if (!decision.ok) return decision;
        note = decision.value.note;
      }
      const res = transition(kind, r, actor, now, fromStep, ctx);
      if (!gate || !res.ok) return res;
      // After drift, Re-apply, Adopt or Resume (which writes the planned weights over the edit, as Re-apply
      // does) may be what takes traffic to 100%: the final step, with its rules.
      const answersDrift = kind === "reapply" || kind === "pause-flux" || kind === "adopt" || (kind === "resume" && r.drift !== undefined);
      if (answersDrift && res.value.desiredPercent === 100 && (r.appliedPercent ?? 0) < 100) {
        const decision = gate({ reachesFull: true, startedBy: r.startedBy });
        if (!decision.ok) return decision;
      }
      // Automatic steps act for whoever turns them on: say now if they will stop before 100% for that reason.
      if (kind === "auto") {
        const decision = gate({ reachesFull: true, startedBy: r.startedBy, onBehalf: true });
        if (!decision.ok) note = { code: "auto-stops-before-full", refusal: decision.error };
      }
      return res;
    });
  } catch (e) {
    await audit({ outcome: "error", reason: e instanceof Error ? e.message : String(e) });
    throw e;
  }

  if (!result.ok) {
    await audit({ outcome: "refused", reason: deps.words.refusal(result.error), ...(seen?.appliedPercent != null ? { after: seen.appliedPercent } : {}) });
    return result;
  }
  const rollout = result.value.rollout;
  // A Re-apply over another field manager's ownership is a forced write: the trail says whose fields it takes
  // (and, for Pause Flux, that Flux is paused on the object for the rollout).
  const forced =
    (kind === "reapply" || kind === "pause-flux") && rollout.takeOwnership
      ? (rollout.events.at(-1)?.text ?? "forced apply: takes the fields from any other field manager")
      : undefined;
  await audit({ outcome: "done", after: rollout.desiredPercent, ...(note ? { reason: deps.words.note(note) } : {}), ...(forced ? { detail: forced } : {}) });
  try {
    await deps.queue.afterTransition(rollout);
  } catch (e) {
    await audit({ outcome: "error", reason: `recorded, but queueing its effects failed: ${e instanceof Error ? e.message : String(e)}` });
    throw e;
  }
  return ok({ rollout, ...(note ? { note } : {}) });
}

/** The engine's transition for one kind of decision. */
function transition(kind: ActionKind, r: Rollout, actor: Actor, now: number, fromStep: number | undefined, ctx: DecideContext): TransitionResult {
  // A revision Argo Rollouts runs: the decision becomes a request the worker sends to the controller.
  if (r.argo) return argoDecide(kind, r, actor, fromStep, now);
  // A Canary Flagger runs: the decision is recorded and becomes the gates' answer at Flagger's next call.
  if (r.flagger) return flaggerDecide(kind, r, actor, fromStep, now);
  switch (kind) {
    case "advance":
      // A wave at its gate: Advance opens it to the next cluster (a click on an older message is late).
      if (r.wave && r.status === "at-gate") {
        if (fromStep !== undefined && fromStep !== r.stepIndex) return err({ code: "moved-on", id: r.id, percent: r.desiredPercent });
        return openWaveGate(r, actor, now);
      }
      return advance(r, actor, fromStep ?? r.stepIndex, now);
    case "finish":
      return finish(r, actor, now);
    case "abort":
      return abort(r, actor, now);
    case "hold":
      return hold(r, actor, now);
    case "resume":
      return resume(r, actor, now);
    case "auto":
      if (!ctx.auto) return err({ code: "needs-interval" });
      {
        const fast = autoTooFast(r.target.name, r.target.metrics, ctx.auto.intervalMs);
        if (fast) return err(fast);
      }
      return setMode(r, ctx.auto, actor, now, { remindMs: r.target.remind });
    case "manual":
      return setMode(r, undefined, actor, now, { remindMs: r.target.remind });
    case "reapply":
      return reapply(r, actor, now);
    case "adopt":
      return adopt(r, actor, now);
    case "pause-flux":
      return pauseFlux(r, actor, now);
    case "promote":
      return promote(r, actor, now);
    case "retry":
      return err({ code: "argo-not-aborted", id: r.id });
    case "approve-all":
      return err({ code: "flagger-only", id: r.id, kind });
  }
}
