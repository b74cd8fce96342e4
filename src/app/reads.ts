import type { Rollout } from "../engine/rollout.ts";
import type { StoredAuditEntry } from "../store/audit.ts";
import type { AppDeps } from "./deps.ts";

/** Read-only use cases: what is running, what ran, and one rollout's timeline. Data out; views word it. */

export function runningRollouts(deps: Pick<AppDeps, "store">): Promise<Rollout[]> {
  return deps.store.active();
}

/** Past and running rollouts, newest first: of one target, or all. */
export function pastRollouts(deps: Pick<AppDeps, "store">, target: string | undefined, limit: number): Promise<Rollout[]> {
  return target ? deps.store.ofTarget(target, limit) : deps.store.recent(limit);
}

export type Timeline = { rollout?: Rollout; entries: StoredAuditEntry[]; total: number };

/** A rollout's audit entries, oldest first, with the record when it still exists. */
export async function rolloutTimeline(deps: Pick<AppDeps, "store" | "audit">, id: string, limit: number): Promise<Timeline> {
  const [r, { entries, total }] = await Promise.all([deps.store.get(id), deps.audit.timeline(id, limit)]);
  return { ...(r ? { rollout: r } : {}), entries, total };
}
