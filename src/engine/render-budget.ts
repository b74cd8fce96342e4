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
  if (next.stateHash !== last.stateHash || last.updatedAt === undefined) return { kind: "now" };
  if (next.askedAt !== undefined && next.askedAt >= last.updatedAt) return { kind: "now" };
  const due = last.updatedAt + intervalMs;
  return now >= due ? { kind: "now" } : { kind: "later", at: due };
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
