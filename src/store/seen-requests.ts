import { createHash } from "node:crypto";
import type { Keys } from "./keys.ts";
import type { RedisClient } from "./redis-connection.ts";

/**
 * The requests already received, shared by every replica through Redis: one key per identifier of a
 * request, set with SET NX and an expiry a little longer than a signed request stays acceptable. The first
 * replica to set it takes the request; any later delivery of the same request (a replay of its bytes, a
 * retry of the same event, the same envelope over Socket Mode) finds it set. Each key is one command on its
 * own (no MULTI), so it works on a Redis Cluster whatever slot each key falls in.
 */
export class SeenRequests {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    /** How long an identifier is remembered. */
    private readonly ttlSeconds: number,
  ) {}

  /**
   * Mark every identifier seen; true when none was seen before (the request is new). Every identifier is
   * marked even when one was seen already, so a replay that varies one of them is still caught by the rest.
   */
  async firstTime(ids: readonly string[]): Promise<boolean> {
    const answers = await Promise.all(ids.map((id) => this.redis.set(this.keys.seen(digest(id)), "1", "EX", this.ttlSeconds, "NX")));
    return answers.every((a) => a === "OK");
  }
}

/** Fixed-length, and no request content in a key name. */
function digest(id: string): string {
  return createHash("sha256").update(id).digest("hex").slice(0, 32);
}
