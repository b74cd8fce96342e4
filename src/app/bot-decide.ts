import { isTerminal, withNote, type Rollout } from "../engine/rollout.ts";
import type { ActionKind } from "../engine/policy.ts";
import type { BotNote } from "../engine/notes.ts";
import type { Refusal } from "../engine/refusal.ts";
import { decide, type DecideDeps } from "./decide.ts";

/**
 * The bot's own decision goes through the same compare-and-set as a person's (no policy: the caller checked
 * the rights of whoever the bot acts for), then says why in the thread when `alert` is given.
 */
export async function botDecides(
  deps: DecideDeps,
  r: Rollout,
  kind: ActionKind,
  why: string,
  alert?: BotNote,
  stillValid?: (x: Rollout) => Refusal | undefined,
): Promise<void> {
  const result = await decide(deps, { kind: "bot", why: `auto: ${why}` }, kind, r.id, r.stepIndex, { via: "auto", ...(stillValid ? { stillValid } : {}) });
  if (!result.ok) {
    deps.log?.info({ rolloutId: r.id, kind, refusal: result.error.code }, "automatic decision not taken");
    return;
  }
  if (!alert) return;
  const res = await deps.store.update(r.id, (x) => (isTerminal(x) && x.status !== "aborted" ? x : withNote(x, "alert", alert, deps.now())));
  if (res.ok && res.value.changed) await deps.queue.afterUpdate(res.value.rollout);
}
