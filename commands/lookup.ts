import { findRollout, findVisibleRollout } from "../src/app/find.ts";
import type { Rollout } from "../src/engine/rollout.ts";
import { lookupMissText } from "../src/slack/views/refusal.ts";
import { refProblem } from "./ref.ts";
import type { CommandDeps, Reply } from "./types.ts";

/**
 * The rollout a typed id or target names, or the refusal to reply with. With `readBy`, a read: a rollout of
 * a channel that person cannot see is answered as if there were none.
 */
export async function lookup(
  deps: CommandDeps,
  ref: string,
  opts: { latest?: boolean; readBy?: string } = {},
): Promise<{ rollout: Rollout } | { reply: Reply }> {
  const problem = refProblem(ref);
  if (problem) return { reply: { text: `:x: ${problem}`, outcome: "refused" } };
  const found = opts.readBy ? await findVisibleRollout(deps, opts.readBy, ref, opts) : await findRollout(deps, ref, opts);
  return found.ok ? { rollout: found.value } : { reply: { text: `:x: ${lookupMissText(found.error)}`, outcome: "refused" } };
}
