import type { WebClient } from "@slack/web-api";
import { LRUCache } from "lru-cache";
import type { Logger } from "pino";
import { z } from "zod";

/**
 * Which channels a person can see, for reads (status, list, history, App Home): a rollout is shown to a
 * person only when its channel is public, or they are a member (`conversations.members`). Both answers
 * come through the bot's client (so through the workspace's Slack budget) and are cached for `ttlMs`. When
 * Slack cannot say, the answer is no: a read that shows less is better than one that shows a private channel.
 */

export interface ChannelVisibility {
  canSee(userId: string, channelId: string): Promise<boolean>;
}

const InfoResponse = z.object({ channel: z.object({ is_private: z.boolean().optional(), is_im: z.boolean().optional(), is_mpim: z.boolean().optional() }) });
const MembersResponse = z.object({ members: z.array(z.string()), response_metadata: z.object({ next_cursor: z.string().optional() }).optional() });

/** A channel with more members than this is read only this far (pages of 1000); a person past it is not shown. */
const MAX_MEMBER_PAGES = 20;

export type SlackChannelVisibilityOptions = {
  client: Pick<WebClient, "conversations">;
  ttlMs: number;
  log?: Logger;
  /** How many channels' answers are kept (least recently used dropped). */
  maxChannels?: number;
};

export class SlackChannelVisibility implements ChannelVisibility {
  private readonly open: LRUCache<string, { public: boolean }>;
  private readonly members: LRUCache<string, { users: ReadonlySet<string> }>;
  private readonly inflight = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: SlackChannelVisibilityOptions) {
    const max = opts.maxChannels ?? 2_000;
    // ttl 0 would mean "forever" to lru-cache: a TTL of 0 asks every time instead.
    const ttl = Math.max(1, opts.ttlMs);
    this.open = new LRUCache({ max, ttl });
    this.members = new LRUCache({ max, ttl });
  }

  async canSee(userId: string, channelId: string): Promise<boolean> {
    // A direct message with the bot is the person's own (a slash command in a DM): theirs only.
    if (channelId.startsWith("D")) return this.isMember(userId, channelId);
    const info = await this.isPublic(channelId);
    if (info) return true;
    return this.isMember(userId, channelId);
  }

  private async isPublic(channelId: string): Promise<boolean> {
    const cached = this.opts.ttlMs > 0 ? this.open.get(channelId) : undefined;
    if (cached) return cached.public;
    const answer = await this.once(`info:${channelId}`, async () => {
      const res = InfoResponse.parse(await this.opts.client.conversations.info({ channel: channelId }));
      const c = res.channel;
      return { public: !c.is_private && !c.is_im && !c.is_mpim };
    });
    if (answer) this.open.set(channelId, answer);
    return answer?.public ?? false;
  }

  private async isMember(userId: string, channelId: string): Promise<boolean> {
    const cached = this.opts.ttlMs > 0 ? this.members.get(channelId) : undefined;
    if (cached) return cached.users.has(userId);
    const answer = await this.once(`members:${channelId}`, async () => {
      const users = new Set<string>();
      let cursor: string | undefined;
      for (let page = 0; page < MAX_MEMBER_PAGES; page++) {
        const res = MembersResponse.parse(await this.opts.client.conversations.members({ channel: channelId, limit: 1000, ...(cursor ? { cursor } : {}) }));
        for (const m of res.members) users.add(m);
        cursor = res.response_metadata?.next_cursor || undefined;
        if (!cursor) break;
      }
      return { users: users as ReadonlySet<string> };
    });
    if (answer) this.members.set(channelId, answer);
    return answer?.users.has(userId) ?? false;
  }

  /** One Slack call per key at a time; undefined when it failed (then the answer is no, and nothing is cached). */
  private async once<T>(key: string, call: () => Promise<T>): Promise<T | undefined> {
    let p = this.inflight.get(key) as Promise<T | undefined> | undefined;
    if (!p) {
      p = call()
        .catch((err: unknown) => {
          this.opts.log?.warn({ err: err instanceof Error ? err.message : String(err), key }, "could not ask Slack who can see a channel: not shown");
          return undefined;
        })
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }
}
