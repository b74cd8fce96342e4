import type { RedisClient } from "../store/redis-connection.ts";
import { RedisScript } from "../store/script.ts";
import { POSTS_PER_MINUTE_PER_CHANNEL, TIER_PER_MINUTE, tierOf } from "./budget-tiers.ts";

/**
 * One Slack rate budget for the whole workspace, shared by every replica: a GCRA bucket per method (per
 * channel for chat.postMessage) held in one Redis key each, taken atomically in Lua against Redis's clock,
 * so replicas with skewed clocks still share one schedule and Redis Cluster never sees a cross-slot script.
 *
 * Two priorities: a change of state (a click's result, an abort, a thread event) may use the whole
 * bucket; a refresh (a message whose reading alone changed) only what is left above a reserve, so it never
 * takes the call a click is about to need, and is deferred instead of waiting.
 */

export type SlackBudgetSettings = {
  /** Share of Slack's published limits the bot spends, 1-100. */
  percent: number;
  /** Depth of each bucket: this many seconds' worth of calls may go at once (at least one). */
  burstSeconds: number;
  /** How long a call over budget waits for its turn before it fails (the caller's retries take over). */
  maxWaitMs: number;
};

/** 80% of the rate, 15 s deep: no minute ever holds more than Slack's published number (40 + 10 of 50). */
export const DEFAULT_BUDGET: SlackBudgetSettings = { percent: 80, burstSeconds: 15, maxWaitMs: 20_000 };

export type Priority = "state" | "refresh";

export type Bucket = {
  /** The bucket's name: the method, or `chat.postMessage:<channel>`. */
  name: string;
  /** One call per this many ms, sustained. */
  intervalMs: number;
  /** Calls that may go at once. */
  burst: number;
  /** Calls kept for changes of state: a refresh goes only while more than this many are left. */
  reserve: number;
};

export function bucketFor(method: string, channel: string | undefined, s: SlackBudgetSettings): Bucket {
  const perChannel = method === "chat.postMessage";
  const published = perChannel ? POSTS_PER_MINUTE_PER_CHANNEL : TIER_PER_MINUTE[tierOf(method)];
  const perMinute = (published * s.percent) / 100;
  const burst = Math.max(1, Math.floor((perMinute * s.burstSeconds) / 60));
  return {
    name: perChannel ? `${method}:${channel ?? "-"}` : method,
    intervalMs: 60_000 / perMinute,
    burst,
    reserve: Math.floor(burst / 2),
  };
}

/** The next free slot of a calendar (one refresh per interval): when a deferred refresh should try again. */
const SLOT = new RedisScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local at = math.max(last, now) + interval
redis.call('SET', KEYS[1], tostring(at), 'PX', math.ceil(at - now) + 60000)
return {at, now}
`);

/**
 * GCRA on one key holding the theoretical arrival time (TAT, ms): a call conforms when TAT - now is within
 * (burst - 1 - reserve) intervals, and then moves TAT on by one interval.
 *
 * Jobs that found no token wait in a line (a second key holding the last slot given out): each gets the later
 * of "the bucket has a token again" and "one interval after the one before", so N jobs put back come back one
 * per interval instead of all at once. A job coming back for its slot takes the token it was promised; a new
 * job takes one only while nobody is waiting, else it joins the end of the line. A call that bypasses the
 * line (ARGV[4] = 1: a job coming back, a listener's wait, a refresh's spare room) is plain GCRA.
 * Answers 0 (taken), or how many ms from now to try again. KEYS[1] is the bucket, KEYS[2] its line (one hash
 * slot: see Keys.slackBudget).
 */
const TURN = new RedisScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local slack = (tonumber(ARGV[2]) - 1 - tonumber(ARGV[3])) * interval
local bypass = ARGV[4] == '1'
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local early = tat - now - slack
if early <= 0 and (bypass or last <= now) then
  tat = tat + interval
  redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil(tat - now) + 1000)
  return 0
end
if bypass and early > 0 then return math.ceil(early) end
local at = math.max(last + interval, now + math.max(early, 0))
redis.call('SET', KEYS[2], tostring(at), 'PX', math.ceil(at - now) + 60000)
return math.max(1, math.ceil(at - now))
`);

/**
 * A change of state a job was about to show found no turn in the budget: nothing was sent. The job gives its
 * worker slot back and runs again at `at` (local clock), instead of waiting in the slot while mesh writes
 * queue behind it.
 */
export class SlackTurnLater extends Error {
  readonly transient = true;
  constructor(
    /** The bucket whose line the job joined (see bucketFor). */
    readonly bucket: string,
    readonly at: number,
  ) {
    super(`Slack budget for ${bucket}: no turn now; the job runs again at ${new Date(at).toISOString()}`);
  }
}

export class SlackBudgetExceeded extends Error {
  constructor(
    readonly method: string,
    readonly waitedMs: number,
  ) {
    super(`Slack budget for ${method}: no turn within ${waitedMs} ms; retried later`);
  }
}

export class SlackBudget {
  constructor(
    private readonly redis: RedisClient,
    private readonly keyOf: (bucket: string) => string,
    readonly settings: SlackBudgetSettings,
    private readonly onRedisError: (err: unknown) => void = () => undefined,
  ) {}

  /** Take one call from the bucket now, or learn how long until one is free (ms; 0 = taken). */
  async take(method: string, channel: string | undefined, priority: Priority): Promise<number> {
    const b = bucketFor(method, channel, this.settings);
    const reserve = priority === "refresh" ? b.reserve : 0;
    try {
      const key = this.keyOf(b.name);
      return Number(await TURN.run(this.redis, [key, `${key}:line`], [String(b.intervalMs), String(b.burst), String(reserve), "1"]));
    } catch (err) {
      // Without Redis the bot cannot do much anyway; a Slack call then goes unbudgeted rather than not at
      // all (an abort's thread message matters more than the budget; Slack's 429s are still waited out).
      this.onRedisError(err);
      return 0;
    }
  }

  /** Wait for a turn (a change of state): up to maxWaitMs, then SlackBudgetExceeded. Answers the ms waited. */
  async acquire(method: string, channel: string | undefined): Promise<number> {
    let waited = 0;
    for (;;) {
      const wait = await this.take(method, channel, "state");
      if (wait === 0) return waited;
      if (waited + wait > this.settings.maxWaitMs) throw new SlackBudgetExceeded(method, waited);
      // A little jitter, so waiters on one bucket do not all ask again in the same millisecond.
      const ms = wait + Math.floor(Math.random() * 20);
      await new Promise((r) => setTimeout(r, ms));
      waited += ms;
    }
  }

  /**
   * A job's turn for a change of state: taken now (nothing thrown), or SlackTurnLater with its place in the
   * bucket's line. `returning`: the job is back for the slot it was given, so it does not queue again behind
   * the jobs that came after it.
   */
  async turn(method: string, channel: string | undefined, now: number, returning: (bucket: string) => boolean): Promise<void> {
    const b = bucketFor(method, channel, this.settings);
    const key = this.keyOf(b.name);
    let ms: number;
    try {
      const back = returning(b.name) ? "1" : "0";
      ms = Number(await TURN.run(this.redis, [key, `${key}:line`], [String(b.intervalMs), String(b.burst), "0", back]));
    } catch (err) {
      this.onRedisError(err);
      return;
    }
    if (ms > 0) throw new SlackTurnLater(b.name, now + ms);
  }

  /**
   * When a refresh that found no room should try again: the next slot of a calendar holding one refresh per
   * bucket interval, so N deferred messages are spread over N intervals instead of all asking again at once.
   */
  async refreshSlot(method: string, channel: string | undefined, now: number): Promise<number> {
    const b = bucketFor(method, channel, this.settings);
    try {
      const [at, redisNow] = (await SLOT.run(this.redis, [this.keyOf(`${b.name}:refreshes`)], [String(b.intervalMs)])) as [number, number];
      // On the caller's clock (BullMQ delays are local), whatever the skew to Redis's.
      return now + (Number(at) - Number(redisNow));
    } catch (err) {
      this.onRedisError(err);
      return now + b.intervalMs;
    }
  }
}
