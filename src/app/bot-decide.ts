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
  await botChanges(deps, r.id, (x) => withNote(x, "alert", alert, deps.now()), { evenAborted: true });
}

/**
 * A change the bot makes to a running rollout's record that is not a decision (a note in the thread, a
 * reading, its own timers): one compare-and-set, then the record is rendered again. An ended rollout is left
 * as it is (an alert may still follow its own abort: `evenAborted`).
 */
export async function botChanges(
  deps: Pick<DecideDeps, "store" | "queue">,
  id: string,
  f: (r: Rollout) => Rollout,
  opts: { evenAborted?: boolean } = {},
): Promise<void> {
  const res = await deps.store.update(id, (x) => (isTerminal(x) && !(opts.evenAborted && x.status === "aborted") ? x : f(x)));
  if (res.ok && res.value.changed) await deps.queue.afterUpdate(res.value.rollout);
}
