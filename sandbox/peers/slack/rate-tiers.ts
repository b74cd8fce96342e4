/**
 * Slack's rate limits as the peer enforces them when a test or harness asks (SlackPeer.enforceTiers): the
 * published tiers per method per workspace, and about one chat.postMessage per second per channel. Slack
 * publishes rates ("50 per minute"), not burst sizes; the peer holds a tier's whole minute at once (Tier 3:
 * 50 chat.update at once, then one per 1.2 s) and `postBurst` posts per channel (30, then one a second). A
 * call over its limit is answered 429 with Retry-After (whole seconds, as Slack does) and changes nothing;
 * it does not count against the limit. Methods Slack lists as "Special" without a number (auth.test,
 * chat.getPermalink) are not limited here.
 */

const PER_MINUTE: Record<string, number> = {
  "chat.update": 50,
  "chat.delete": 50,
  "chat.postEphemeral": 100,
  "views.publish": 100,
  "views.open": 100,
  "views.update": 100,
  "views.push": 100,
  "files.getUploadURLExternal": 100,
  "files.completeUploadExternal": 100,
  "usergroups.list": 20,
  "usergroups.users.list": 20,
  "users.info": 100,
  "conversations.info": 50,
  "conversations.members": 100,
  "conversations.replies": 50,
  "apps.connections.open": 1,
};

const POSTS_PER_MINUTE_PER_CHANNEL = 60;

export type TierOptions = { postBurst?: number };

export class TierLimits {
  /** Theoretical arrival time per bucket (GCRA), ms. */
  private readonly tat = new Map<string, number>();
  private readonly postBurst: number;

  constructor(opts: TierOptions = {}) {
    this.postBurst = opts.postBurst ?? 30;
  }

  /** 0 when the call is within its limit (and counted), else the Retry-After in seconds. */
  admit(method: string, channel: string | undefined, now: number): number {
    const perMinute = method === "chat.postMessage" ? POSTS_PER_MINUTE_PER_CHANNEL : PER_MINUTE[method];
    if (perMinute === undefined) return 0;
    const bucket = method === "chat.postMessage" ? `${method}:${channel ?? ""}` : method;
    const interval = 60_000 / perMinute;
    const burst = method === "chat.postMessage" ? this.postBurst : perMinute;
    const tat = Math.max(this.tat.get(bucket) ?? 0, now);
    const early = tat - now - (burst - 1) * interval;
    if (early > 0) return Math.max(1, Math.ceil(early / 1000));
    this.tat.set(bucket, tat + interval);
    return 0;
  }
}
