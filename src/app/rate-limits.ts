import { err, ok, type Result } from "../engine/result.ts";

/**
 * How often one person may ask for what costs the bot (and the Slack workspace) work: starts, readings
 * (Refresh) and charts; and how often a chart may be posted into one rollout's thread, whoever asks, so a
 * thread cannot be flooded. Answered privately, with when to try again; nothing is done.
 */

export type LimitedKind = "start" | "refresh" | "chart" | "chart-thread";

export type RateLimited = { code: "rate-limited"; kind: LimitedKind; limit: number; windowMs: number; retryAfterMs: number };

export type LimitSettings = Record<LimitedKind, { limit: number; windowMs: number }>;

/** Defaults (src/config.ts can override the per-person counts): generous for people, tight for floods. */
export const DEFAULT_LIMITS: LimitSettings = {
  start: { limit: 5, windowMs: 60_000 },
  refresh: { limit: 10, windowMs: 60_000 },
  chart: { limit: 3, windowMs: 60_000 },
  "chart-thread": { limit: 1, windowMs: 30_000 },
};

/** What a use case needs: count one request, or say it is over the limit. */
export type RequestLimits = {
  settings: LimitSettings;
  take(kind: string, who: string, setting: { limit: number; windowMs: number }): Promise<{ ok: true } | { ok: false; retryAfterMs: number }>;
};

/** Count one request of `kind` by `who` (a user, or for `chart-thread` a rollout id). No limits wired: always allowed. */
export async function withinLimit(limits: RequestLimits | undefined, kind: LimitedKind, who: string): Promise<Result<void, RateLimited>> {
  if (!limits) return ok(undefined);
  const setting = limits.settings[kind];
  const taken = await limits.take(kind, who, setting);
  return taken.ok ? ok(undefined) : err({ code: "rate-limited", kind, limit: setting.limit, windowMs: setting.windowMs, retryAfterMs: taken.retryAfterMs });
}
