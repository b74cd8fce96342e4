import { err, ok, type Result } from "../engine/result.ts";
import type { Rollout } from "../engine/rollout.ts";
import type { RolloutStore } from "../store/rollout-store.ts";
import type { ChannelVisibility } from "../slack/channel-visibility.ts";
import { canSeeRollout } from "./visibility.ts";

/** No rollout answers to what the person typed (already checked to be a well-formed id or target name). */
export type LookupMiss = { code: "no-such-rollout"; ref: string } | { code: "none-running"; ref: string; latest: boolean };

/**
 * A person names a rollout by id (`backend-svc#3`) or by target (`backend-svc`: its running rollout,
 * or with `latest`, the newest one even if it ended).
 */
export async function findRollout(deps: { store: RolloutStore }, ref: string, opts: { latest?: boolean } = {}): Promise<Result<Rollout, LookupMiss>> {
  if (ref.includes("#")) {
    const r = await deps.store.get(ref);
    return r ? ok(r) : err({ code: "no-such-rollout", ref });
  }
  const active = await deps.store.activeFor(ref);
  if (active) return ok(active);
  if (opts.latest) {
    const latest = await deps.store.latestOf(ref);
    if (latest) return ok(latest);
  }
  return err({ code: "none-running", ref, latest: Boolean(opts.latest) });
}

/**
 * The same lookup for a read by `userId`: a rollout of a channel they cannot see is answered like one that
 * does not exist (its existence is not told either).
 */
export async function findVisibleRollout(
  deps: { store: RolloutStore; channels?: ChannelVisibility | undefined },
  userId: string,
  ref: string,
  opts: { latest?: boolean } = {},
): Promise<Result<Rollout, LookupMiss>> {
  const found = await findRollout(deps, ref, opts);
  if (!found.ok || (await canSeeRollout(deps, userId, found.value))) return found;
  return ref.includes("#") ? err({ code: "no-such-rollout", ref }) : err({ code: "none-running", ref, latest: Boolean(opts.latest) });
}
