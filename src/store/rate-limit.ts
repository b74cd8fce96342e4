import type { RedisClient } from "./redis-connection.ts";
import type { Keys } from "./keys.ts";
import { RedisScript } from "./script.ts";

/**
 * Per-person (or per-thread) request limits, shared by every replica through Redis: a fixed window per key,
 * counted by one script (INCR, and the window's expiry set with the first count), so each key costs one
 * round trip and expires by itself. Fixed windows let a burst of 2x through across a boundary; for keeping
 * one person from flooding starts or a thread with charts that is enough, and it needs no clock in Redis.
 */

export type LimitSetting = { limit: number; windowMs: number };
export type Taken = { ok: true } | { ok: false; retryAfterMs: number };

const TAKE = new RedisScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
`);

export class RedisRateLimiter {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  /** Count one request of `kind` by `who`; refused (with how long until the window ends) past the limit. */
  async take(kind: string, who: string, setting: LimitSetting): Promise<Taken> {
    const key = `${this.keys.prefix}:limit:${kind}:${who}`;
    const [count, ttl] = (await TAKE.run(this.redis, [key], [String(setting.windowMs)])) as [number, number];
    return count <= setting.limit ? { ok: true } : { ok: false, retryAfterMs: Math.max(1, ttl) };
  }
}
