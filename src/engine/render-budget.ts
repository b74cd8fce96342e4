import type { Target } from "./target.ts";

/**
 * Slack's chat.update budget is shared by every rollout in the workspace, so a message is not updated for
 * every success-rate reading. A change of state (a click, a step, an abort, a note) is shown at once; a
 * change of the readings alone at most once per refresh interval after the message was last updated, and
 * what is pending by then goes out in one call. A person's Refresh counts as a click. Pure.
 */

export type RenderState = {
  /** Hash of the full rendering, and of the rendering without the success-rate reading. */
  hash: string;
  stateHash: string;
  /** When a person pressed Refresh for the reading shown (ms), if they did. */
  askedAt?: number;
};

export type LastRender = {
  renderedHash?: string;
  stateHash?: string;
  /** When the message was last posted or updated (ms). */
  updatedAt?: number;
};

export type RenderPlan = { kind: "skip" } | { kind: "now" } | { kind: "later"; at: number };

export function planRender(next: RenderState, last: LastRender, now: number, intervalMs: number): RenderPlan {
  if (next.hash === last.renderedHash) return { kind: "skip" };
  if (next.stateHash !== last.stateHash) return { kind: "now" };
  const at = readingDue(last, now, intervalMs, next.askedAt);
  return at === undefined ? { kind: "now" } : { kind: "later", at };
}

/**
 * When a change of the reading alone may be shown: now (undefined) when nothing was shown yet, a person
 * asked for this reading, or the interval since the last update has passed; else at the interval's end.
 */
export function readingDue(last: LastRender, now: number, intervalMs: number, askedAt?: number): number | undefined {
  if (last.updatedAt === undefined) return undefined;
  if (askedAt !== undefined && askedAt >= last.updatedAt) return undefined;
  const due = last.updatedAt + intervalMs;
  return now >= due ? undefined : due;
}

/** How often a message may show a new reading alone: the target's refresh interval. */
export function renderIntervalMs(r: { target: Target }): number {
  return (r.target.metrics?.refreshSeconds ?? 30) * 1000;
}

/**
 * Whether a "now" from planRender is a refresh: only the reading changed, and nobody asked for it. A
 * refresh may be deferred past the interval when the workspace's Slack budget has no room for it; a change
 * of state or a person's Refresh never is.
 */
export function isRefresh(next: RenderState, last: LastRender): boolean {
  if (last.updatedAt === undefined || next.stateHash !== last.stateHash) return false;
  return !(next.askedAt !== undefined && next.askedAt >= last.updatedAt);
}
