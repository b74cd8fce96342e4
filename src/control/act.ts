import { abort, advance, finish, hold, resume, type Actor, type Rollout, type TransitionResult } from "../engine/rollout.ts";
import type { EffectQueue } from "../queue/queues.ts";
import type { RolloutStore } from "../store/rollout-store.ts";

export type ActionKind = "advance" | "finish" | "abort" | "hold" | "resume";

export type ActResult = { ok: true; rollout: Rollout } | { ok: false; reason: string };

/**
 * A person's (or the scheduler's) decision: one compare-and-set on the record, then the effects are
 * enqueued. Of many concurrent identical decisions exactly one wins; the others get a refusal that
 * says who was first.
 */
export async function act(
  deps: { store: RolloutStore; queue: EffectQueue; now: () => number },
  actor: Actor,
  kind: ActionKind,
  rolloutId: string,
  fromStep?: number,
): Promise<ActResult> {
  const now = deps.now();
  const result = await deps.store.update(rolloutId, (r): TransitionResult => {
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
    }
  });
  if (!result.ok) return result;
  await deps.queue.afterTransition(result.rollout);
  return { ok: true, rollout: result.rollout };
}
