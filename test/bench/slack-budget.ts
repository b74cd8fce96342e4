import { runSlackLoad, type SlackLoadResult } from "../support/slack-load.ts";
import { max, millis, progress, quantile, secs } from "./stats.ts";

/**
 * Issue 13's Slack budget at 1,000 active rollouts: the Slack peer enforcing Slack's tiers (429 +
 * Retry-After), every rollout reading every 30 s with a rendering that changes each time, a click on
 * Advance every 4.5 s for a minute. Reports the 429s (the goal is none), click -> the message showing the
 * new weight, and the Web API calls per minute Slack saw (test/support/slack-load.ts runs it).
 */
export async function benchSlackBudget(opts: { rollouts: number }): Promise<SlackLoadResult> {
  return runSlackLoad({ rollouts: opts.rollouts, channels: 200, bots: 1, refreshSeconds: 30, clicks: 13, clickEveryMs: 4_500, steadyMs: 60_000, progress });
}

export function formatSlackBudget(r: SlackLoadResult): string {
  const perMinute = (n: number) => ((n * 60_000) / r.steadyMs).toFixed(0);
  const limited = Object.entries(r.rateLimited);
  const c = r.clickToRenderMs;
  return [
    `slack budget, ${r.rollouts} active rollouts in 200 channels, reading every 30 s, peer enforcing Slack's tiers: ` +
      `${limited.length ? limited.map(([m, n]) => `${n} x 429 on ${m}`).join(", ") : "no 429"}`,
    `  click Advance -> message shows the new weight (${c.length} clicks): p50 ${millis(quantile(c, 0.5))}, p99 ${millis(quantile(c, 0.99))}, max ${millis(max(c))}`,
    `  Web API calls per minute over ${secs(r.steadyMs, 0)}: ` +
      Object.entries(r.steadyCalls)
        .sort((a, b) => b[1] - a[1])
        .map(([m, n]) => `${m} ${perMinute(n)}`)
        .join(", ") +
      ` (most chat.update in any minute: ${r.maxUpdatesPerMinute}; Slack's Tier 3 is 50)`,
    `  ${r.readings} readings; ${r.refreshesMade} refreshes shown, ${r.refreshesDeferred} deferred for want of budget; setup (every message posted) ${secs(r.setupMs)}`,
  ].join("\n");
}
