import type { RedisClient } from "./redis-connection.ts";
import { RedisScript } from "./script.ts";

/**
 * A key kept beside a rollout's record (Slack bookkeeping, its audit timeline, its readings) expires with the
 * record: once the rollout has ended and its record has an expiry, a key written later (a last message
 * update, a late audit entry) is given the record's remaining time, so nothing outlives the retention. Both
 * keys are in the target's hash slot. The writes made on every reading do this in the same script.
 */
/** KEYS[1] takes the remaining time of the record at KEYS[2], if it has one; `otherwise`: Lua run when it has not. */
const followRecord = (otherwise = "") => `
local t = redis.call('PTTL', KEYS[2])
if t > 0 then redis.call('PEXPIRE', KEYS[1], t)${otherwise ? ` else ${otherwise}` : ""} end
return t`;

const FOLLOW = new RedisScript(followRecord());

// KEYS: hash, record. ARGV: field, value, field, value, ...
const HSET_FOLLOW = new RedisScript(`redis.call('HSET', KEYS[1], unpack(ARGV))${followRecord()}`);

// KEYS: list, record. ARGV: item, how many of the newest to keep, seconds to keep the list while the record has no expiry.
const APPEND_FOLLOW = new RedisScript(`
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)${followRecord("redis.call('EXPIRE', KEYS[1], ARGV[3])")}`);

export async function followRecordExpiry(redis: RedisClient, key: string, recordKey: string): Promise<void> {
  await FOLLOW.run(redis, [key, recordKey]);
}

/** HSET `fields` on a hash that follows the record's expiry: one round trip. */
export async function hsetFollowingRecord(redis: RedisClient, key: string, recordKey: string, fields: Record<string, string | number>): Promise<void> {
  const args = Object.entries(fields).flat();
  if (args.length) await HSET_FOLLOW.run(redis, [key, recordKey], args);
}

/** Append to a capped list that follows the record's expiry (`ttlSeconds` until the record has one): one round trip. */
export async function appendFollowingRecord(redis: RedisClient, key: string, recordKey: string, item: string, keep: number, ttlSeconds: number): Promise<void> {
  await APPEND_FOLLOW.run(redis, [key, recordKey], [item, keep, ttlSeconds]);
}
