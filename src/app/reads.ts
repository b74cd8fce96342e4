import type { Rollout } from "../engine/rollout.ts";
import type { StoredAuditEntry } from "../store/audit.ts";
import type { AppDeps } from "./deps.ts";
import { canSeeChannel, visibleTo } from "./visibility.ts";

/**
 * Read-only use cases: what is running, what ran, and one rollout's timeline. Data out; views word it.
 * Each shows `userId` only rollouts of channels they can see (src/app/visibility.ts).
 */

type ReadDeps = Pick<AppDeps, "store" | "channels">;

export async function runningRollouts(deps: ReadDeps, userId: string): Promise<Rollout[]> {
  return visibleTo(deps, userId, await deps.store.active());
}

/** How many more rollouts are read than asked for, so rollouts of unseen channels do not empty the answer. */
const OVERREAD = 4;

/** Past and running rollouts, newest first: of one target, or all. */
export async function pastRollouts(deps: ReadDeps, userId: string, target: string | undefined, limit: number): Promise<Rollout[]> {
  const read = deps.channels ? Math.min(limit * OVERREAD, 500) : limit;
  const found = target ? await deps.store.ofTarget(target, read) : await deps.store.recent(read);
  return (await visibleTo(deps, userId, found)).slice(0, limit);
}

export type Timeline = { rollout?: Rollout; entries: StoredAuditEntry[]; total: number };

/** A rollout's audit entries, oldest first, with the record when it still exists; empty for a channel not seen. */
export async function rolloutTimeline(deps: ReadDeps & Pick<AppDeps, "audit">, userId: string, id: string, limit: number): Promise<Timeline> {
  const [r, { entries, total }] = await Promise.all([deps.store.get(id), deps.audit.timeline(id, limit)]);
  const channel = r?.channel ?? entries.find((e) => e.channel)?.channel;
  const mine = r?.startedBy === userId;
  if (channel && !mine && !(await canSeeChannel(deps, userId, channel))) return { entries: [], total: 0 };
  return { ...(r ? { rollout: r } : {}), entries, total };
}
