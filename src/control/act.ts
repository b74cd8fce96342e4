import type { Logger } from "pino";
import { abort, adopt, advance, finish, hold, parseRolloutId, reapply, resume, type Actor, type Rollout, type TransitionResult } from "../engine/rollout.ts";
import { setMode, type AutoSettings } from "../engine/timers.ts";
import type { EffectQueue } from "../queue/queues.ts";
import { actorName, type AuditEntry, type AuditLog, type AuditVia } from "../store/audit.ts";
import type { RolloutStore } from "../store/rollout-store.ts";
import type { AccessControl, Gate } from "./access.ts";

export type ActionKind = "advance" | "finish" | "abort" | "hold" | "resume" | "auto" | "manual" | "reapply" | "adopt";

/**
 * Which policy right an action needs: switching to automatic steps lets the bot advance, so it needs the
 * right to advance; switching back to manual only stops the bot, like Hold.
 */
const RIGHT: Record<ActionKind, "advance" | "finish" | "abort" | "hold" | "resume"> = {
  advance: "advance",
  finish: "finish",
  abort: "abort",
  hold: "hold",
  resume: "resume",
  auto: "advance",
  manual: "hold",
  // After drift both move traffic (ours back over the edit, or theirs made official): the right to advance.
  reapply: "advance",
  adopt: "advance",
};

/** `denied`: the policy refused the person (as opposed to the rollout's state refusing the action). */
export type ActResult = { ok: true; rollout: Rollout; note?: string } | { ok: false; reason: string; denied?: boolean };

export type ActDeps = {
  store: RolloutStore;
  queue: EffectQueue;
  now: () => number;
  audit: AuditLog;
  /** Required for a person's decision; the bot's own decisions are not subject to the policy. */
  access?: AccessControl;
  log?: Logger;
};

/** Where the decision came from: the channel (for the policy) and the surface (for the audit trail). */
export type ActContext = {
  channelId?: string;
  via?: AuditVia;
  auto?: AutoSettings;
  /**
   * Checked inside the compare-and-set, before anything else: a reason the decision no longer applies to
   * the record as it is now (the bot's automatic step was decided on a stage that has since been held and
   * resumed, say), or undefined to go on.
   */
  stillValid?: (r: Rollout) => string | undefined;
};

/**
 * A person's (or the scheduler's) decision: one compare-and-set on the record, then the effects are
 * enqueued. Of many concurrent identical decisions exactly one wins; the others get a refusal that
 * says who was first. A person is first checked against the target's policy, inside the same
 * compare-and-set (so "is this the final step?" is judged on the record that is then changed).
 * Every decision, done, refused or failed, is appended to the audit trail.
 */
export async function act(
  deps: ActDeps,
  actor: Actor,
  kind: ActionKind,
  rolloutId: string,
  fromStep?: number,
  ctx: ActContext = {},
): Promise<ActResult> {
  const now = deps.now();
  let seen: Rollout | undefined;
  let denied = false;
  let note: string | undefined;
  const audit = async (e: Pick<AuditEntry, "outcome"> & Partial<AuditEntry>) => {
    try {
      await deps.audit.append({
        at: now,
        actor: actorName(actor),
        action: kind,
        via: ctx.via ?? (actor.kind === "user" ? "command" : "auto"),
        rolloutId,
        ...(parseRolloutId(rolloutId) ? { target: parseRolloutId(rolloutId)!.target } : {}),
        ...(ctx.channelId ? { channel: ctx.channelId } : {}),
        ...(seen?.appliedPercent != null ? { before: seen.appliedPercent } : {}),
        ...e,
      });
    } catch (err) {
      // The decision stands either way; a lost audit entry is logged loudly rather than undoing it.
      deps.log?.error({ err, rolloutId, kind }, "could not append to the audit trail");
    }
  };

  let result;
  try {
    let gate: Gate | undefined;
    if (actor.kind === "user") {
      if (!deps.access) throw new Error("act: a person's decision needs the access control wired in");
      const target = parseRolloutId(rolloutId)?.target;
      if (target) gate = await deps.access.prepare(actor.id, RIGHT[kind], target, ctx.channelId);
    }
    result = await deps.store.update(rolloutId, (r): TransitionResult => {
      seen = r;
      denied = false;
      note = undefined;
      const stale = ctx.stillValid?.(r);
      if (stale) return { ok: false, reason: stale };
      if (gate) {
        const step = fromStep ?? r.stepIndex;
        const decision = gate({ reachesFull: kind === "advance" && r.steps[step + 1] === 100, startedBy: r.startedBy });
        if (!decision.ok) {
          denied = true;
          return { ok: false, reason: decision.reason };
        }
        note = decision.note;
      }
      const res = transition(kind, r, actor, now, fromStep, ctx);
      if (!gate || !res.ok) return res;
      // After drift, Re-apply or Adopt may be what takes traffic to 100%: the final step, with its rules.
      if ((kind === "reapply" || kind === "adopt") && res.rollout.desiredPercent === 100 && (r.appliedPercent ?? 0) < 100) {
        const decision = gate({ reachesFull: true, startedBy: r.startedBy });
        if (!decision.ok) {
          denied = true;
          return { ok: false, reason: decision.reason };
        }
      }
      // Automatic steps act for whoever turns them on: say now if they will stop before 100% for that reason.
      if (kind === "auto") {
        const decision = gate({ reachesFull: true, startedBy: r.startedBy, onBehalf: true });
        if (!decision.ok) note = `automatic steps will stop before 100%: ${decision.reason}.`;
      }
      return res;
    });
  } catch (err) {
    await audit({ outcome: "error", reason: err instanceof Error ? err.message : String(err) });
    throw err;
  }

  if (!result.ok) {
    await audit({ outcome: "refused", reason: result.reason, ...(seen?.appliedPercent != null ? { after: seen.appliedPercent } : {}) });
    return denied ? { ok: false, reason: result.reason, denied: true } : result;
  }
  await audit({ outcome: "done", after: result.rollout.desiredPercent, ...(note ? { reason: note } : {}) });
  try {
    await deps.queue.afterTransition(result.rollout);
  } catch (err) {
    await audit({ outcome: "error", reason: `recorded, but queueing its effects failed: ${err instanceof Error ? err.message : String(err)}` });
    throw err;
  }
  return { ok: true, rollout: result.rollout, ...(note ? { note } : {}) };
}

/** The engine's transition for one kind of decision. */
function transition(kind: ActionKind, r: Rollout, actor: Actor, now: number, fromStep: number | undefined, ctx: ActContext): TransitionResult {
  switch (kind) {
    case "advance":
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
      if (!ctx.auto) return { ok: false, reason: "automatic steps need an interval, e.g. `10m`" };
      return setMode(r, ctx.auto, actor, now, { remindMs: r.target.remind });
    case "manual":
      return setMode(r, undefined, actor, now, { remindMs: r.target.remind });
    case "reapply":
      return reapply(r, actor, now);
    case "adopt":
      return adopt(r, actor, now);
  }
}
