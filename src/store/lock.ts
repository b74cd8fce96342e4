import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";

/** Thrown when a lease could not be taken in time; the caller's job is retried later. */
export class LockBusy extends Error {
  constructor(key: string) {
    super(`another worker holds ${key}`);
    this.name = "LockBusy";
  }
}

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * Run `fn` holding a Redis lease on `key`. The lease expires by itself if the process dies, so a killed
 * worker never blocks a rollout for longer than `ttlMs`. Waits up to `waitMs` for the lease.
 */
export async function withLock<T>(
  redis: Redis,
  key: string,
  fn: () => Promise<T>,
  opts: { ttlMs?: number; waitMs?: number } = {},
): Promise<T> {
  const ttlMs = opts.ttlMs ?? 60_000;
  const deadline = Date.now() + (opts.waitMs ?? 5_000);
  const token = randomBytes(8).toString("hex");
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    const ok = await redis.set(key, token, "PX", ttlMs, "NX");
    if (ok === "OK") break;
    if (Date.now() > deadline) throw new LockBusy(key);
    await new Promise((r) => setTimeout(r, delay));
  }
  try {
    return await fn();
  } finally {
    await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
  }
}
