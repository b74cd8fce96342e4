/**
 * Slack's published Web API rate limits for the methods the bot calls (https://api.slack.com/apis/rate-limits
 * and each method's page): a tier is calls per minute per method per workspace per app; chat.postMessage
 * is about one per second per channel. The bot spends a share of these (SlackBudgetSettings.percent).
 */

export type SlackTier = 1 | 2 | 3 | 4;

/** Calls per minute Slack publishes for each tier ("20+", "50+", "100+": the floor is what is promised). */
export const TIER_PER_MINUTE: Record<SlackTier, number> = { 1: 1, 2: 20, 3: 50, 4: 100 };

/** chat.postMessage: per channel, not by tier. */
export const POSTS_PER_MINUTE_PER_CHANNEL = 60;

/** "Special" methods with no published number (auth.test, chat.getPermalink) are counted as Tier 4. */
const METHOD_TIER: Record<string, SlackTier> = {
  "chat.update": 3,
  "chat.delete": 3,
  "chat.postEphemeral": 4,
  "chat.getPermalink": 4,
  "views.publish": 4,
  "views.open": 4,
  "views.update": 4,
  "views.push": 4,
  "files.getUploadURLExternal": 4,
  "files.completeUploadExternal": 4,
  "usergroups.list": 2,
  "usergroups.users.list": 2,
  "users.info": 4,
  "conversations.info": 3,
  "conversations.members": 4,
  "conversations.replies": 3,
  "auth.test": 4,
  "apps.connections.open": 1,
};

/** A method the table does not know gets Tier 2, the most common tier, so a new call never overspends. */
export function tierOf(method: string): SlackTier {
  return METHOD_TIER[method] ?? 2;
}
