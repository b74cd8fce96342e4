import type { RedisClient } from "./redis-connection.ts";
import { RedisScript } from "./script.ts";

/**
 * A key kept beside a rollout's record (Slack bookkeeping, its audit timeline, its readings) expires with the
 * record: once the rollout has ended and its record has an expiry, a key written later (a last message
 * update, a late audit entry) is given the record's remaining time, so nothing outlives the retention. Both
 * keys are in the target's hash slot.
 */
const FOLLOW = new RedisScript(`
local t = redis.call('PTTL', KEYS[2])
if t > 0 then redis.call('PEXPIRE', KEYS[1], t) end
return t`);

export async function followRecordExpiry(redis: RedisClient, key: string, recordKey: string): Promise<void> {
  await FOLLOW.run(redis, [key, recordKey]);
}
