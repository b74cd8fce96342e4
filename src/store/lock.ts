import { randomBytes } from "node:crypto";
import type { RedisClient } from "./redis-connection.ts";
import { RedisScript } from "./script.ts";

/** Thrown when a lease could not be taken in time; the caller's job is retried later. */
export class LockBusy extends Error {
  /** Another worker is on it: trying again later helps. */
  readonly transient = true;
  constructor(key: string) {
    super(`another worker holds ${key}`);
    this.name = "LockBusy";
  }
}

const RELEASE = new RedisScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`);
const RENEW = new RedisScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`);

/**
 * Run `fn` holding a Redis lease on `key`. The lease is renewed every third of `ttlMs` while `fn` runs, so a
 * slow write keeps it however long it takes, and it expires by itself within `ttlMs` if the process dies:
 * a killed worker never blocks a rollout (or its Abort) for longer than that. Waits up to `waitMs` for it.
 */
export async function withLock<T>(redis: RedisClient, key: string, fn: () => Promise<T>, opts: { ttlMs?: number; waitMs?: number } = {}): Promise<T> {
  const ttlMs = opts.ttlMs ?? 10_000;
  const deadline = Date.now() + (opts.waitMs ?? 5_000);
  const token = randomBytes(8).toString("hex");
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    const ok = await redis.set(key, token, "PX", ttlMs, "NX");
    if (ok === "OK") break;
    if (Date.now() > deadline) throw new LockBusy(key);
    await new Promise((r) => setTimeout(r, delay));
  }
  const renew = setInterval(
    () => {
      RENEW.run(redis, [key], [token, String(ttlMs)]).catch(() => undefined);
    },
    Math.max(50, Math.floor(ttlMs / 3)),
  );
  renew.unref();
  try {
    return await fn();
  } finally {
    clearInterval(renew);
    await RELEASE.run(redis, [key], [token]).catch(() => undefined);
  }
}
