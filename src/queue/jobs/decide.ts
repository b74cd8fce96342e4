import type { Logger } from "pino";
import { act, type ActDeps, type ActionKind } from "../../control/act.ts";
import { isTerminal, withNote, type Rollout } from "../../engine/rollout.ts";
import type { RolloutStore } from "../../store/rollout-store.ts";
import type { EffectQueue } from "../queues.ts";

export type DecideDeps = ActDeps & { store: RolloutStore; queue: EffectQueue; log: Logger; now: () => number };

/** The bot's own decision goes through the same compare-and-set as a person's, then says why. */
export async function decide(
  deps: DecideDeps,
  r: Rollout,
  kind: ActionKind,
  why: string,
  alert?: string,
  stillValid?: (x: Rollout) => string | undefined,
): Promise<void> {
  const result = await act(deps, { kind: "bot", why: `auto: ${why}` }, kind, r.id, r.stepIndex, { via: "auto", ...(stillValid ? { stillValid } : {}) });
  if (!result.ok) {
    deps.log.info({ rolloutId: r.id, kind, reason: result.reason }, "automatic decision not taken");
    return;
  }
  if (!alert) return;
  const res = await deps.store.update(r.id, (x) => (isTerminal(x) && x.status !== "aborted" ? x : withNote(x, "alert", alert, deps.now())));
  if (res.ok && res.changed) await deps.queue.afterUpdate(res.rollout);
}

