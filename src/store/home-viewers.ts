import type { RedisClient } from "./redis-connection.ts";
import type { Keys } from "./keys.ts";

/**
 * Who opened the bot's App Home tab recently (a sorted set by last open), so boards are re-published only
 * for people who may look at them; and the hash of what each was last sent, so an unchanged board is not
 * published again.
 */
export class HomeViewers {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    /** How long after their last open a person's board is still kept current. */
    private readonly keepMs = 7 * 86_400_000,
    /** At most this many boards are kept current (the most recent openers). */
    private readonly max = 500,
  ) {}

  private get set(): string {
    return `${this.keys.prefix}:home:viewers`;
  }

  private get hashes(): string {
    return `${this.keys.prefix}:home:sent`;
  }

  async seen(userId: string, at: number): Promise<void> {
    await this.redis
      .multi()
      .zadd(this.set, at, userId)
      .zremrangebyscore(this.set, "-inf", at - this.keepMs)
      .zremrangebyrank(this.set, 0, -this.max - 1)
      .exec();
  }

  /** People whose Home tab was opened within `keepMs` of `now`, most recent first. */
  async recent(now: number): Promise<string[]> {
    return this.redis.zrevrangebyscore(this.set, "+inf", now - this.keepMs, "LIMIT", 0, this.max);
  }

  async lastSent(userId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.hashes, userId)) ?? undefined;
  }

  async sent(userId: string, hash: string): Promise<void> {
    await this.redis.hset(this.hashes, userId, hash);
  }
}
