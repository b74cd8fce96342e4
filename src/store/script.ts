import { createHash } from "node:crypto";
import type { RedisClient } from "./redis-connection.ts";

/**
 * A Lua script sent by its SHA1 (EVALSHA), with its text only when the server does not know it yet (NOSCRIPT:
 * after a restart, a failover, or on a cluster node that never ran it). EVAL would send the text and make the
 * server hash it on every call; the store and the Slack budget run a few of these per start.
 */
export class RedisScript {
  readonly sha: string;

  constructor(readonly lua: string) {
    this.sha = createHash("sha1").update(lua).digest("hex");
  }

  async run(redis: RedisClient, keys: readonly string[], args: readonly (string | number)[] = []): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith("NOSCRIPT"))) throw err;
      // EVAL runs it and leaves it in the server's script cache: the next call goes by SHA again.
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
