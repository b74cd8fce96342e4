import type { RedisClient } from "./redis-connection.ts";
import { parseRolloutId } from "../engine/rollout.ts";
import type { Keys } from "./keys.ts";
import { appendFollowingRecord } from "./retention.ts";

/**
 * Success-rate history per rollout, for its chart: a capped list of small points (the newest MAX), kept
 * beside the record (not in it, so a reading never bumps the record's version) and expiring a month after
 * the last reading, or with the record once the rollout has ended.
 */
export type ReadingPoint = {
  at: number;
  /** Canary weight the mesh held when read. */
  canaryPercent: number;
  /** Success rates in [0, 1], absent when that side had no traffic or no reading. */
  stable?: number;
  canary?: number;
  /** Latency gate: shares of requests no slower than the threshold in [0, 1], when the target has the gate. */
  stableFast?: number;
  canaryFast?: number;
  /**
   * The cluster the reading was taken in (the record's `target.cluster` then); absent: the bot's own, as in
   * every point stored before clusters were kept.
   */
  cluster?: string;
};

const MAX = 720;
const TTL_SECONDS = 30 * 86_400;

export class ReadingHistory {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  private key(id: string): string {
    const p = parseRolloutId(id);
    if (!p) throw new Error(`not a rollout id: ${id}`);
    return this.keys.readings(p.target, p.seq);
  }

  async append(id: string, point: ReadingPoint): Promise<void> {
    const key = this.key(id);
    const p = parseRolloutId(id)!;
    await appendFollowingRecord(this.redis, key, this.keys.record(p.target, p.seq), JSON.stringify(point), MAX, TTL_SECONDS);
  }

  async list(id: string): Promise<ReadingPoint[]> {
    const raw = await this.redis.lrange(this.key(id), 0, -1);
    return raw.flatMap((s) => {
      try {
        const p = JSON.parse(s) as ReadingPoint;
        if (typeof p.at !== "number" || typeof p.canaryPercent !== "number") return [];
        // A cluster that is not a name says nothing about where the point was read: it counts as the bot's own.
        if (p.cluster !== undefined && typeof p.cluster !== "string") {
          const { cluster: _, ...rest } = p;
          return [rest];
        }
        return [p];
      } catch {
        return [];
      }
    });
  }
}

/**
 * A stored snapshot's rates as a chart point (a side without traffic has no rate), taken in `cluster` (the
 * rollout's target's; undefined: the bot's own, which the point leaves out).
 */
export function readingPoint(
  s: {
    at: number;
    canaryPercent: number;
    stable?: unknown;
    canary?: unknown;
    fast?: { stable?: number; canary?: number };
  },
  cluster?: string,
): ReadingPoint {
  const rate = (x: unknown) => {
    const v = x as { requests?: number; successes?: number } | undefined;
    return v && typeof v.requests === "number" && typeof v.successes === "number" && v.requests > 0 ? v.successes / v.requests : undefined;
  };
  const stable = rate(s.stable);
  const canary = rate(s.canary);
  return {
    at: s.at,
    canaryPercent: s.canaryPercent,
    ...(stable !== undefined ? { stable } : {}),
    ...(canary !== undefined ? { canary } : {}),
    ...(s.fast?.stable !== undefined ? { stableFast: s.fast.stable } : {}),
    ...(s.fast?.canary !== undefined ? { canaryFast: s.fast.canary } : {}),
    ...(cluster !== undefined ? { cluster } : {}),
  };
}
