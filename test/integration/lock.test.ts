import { afterAll, expect, it } from "vitest";
import { LockBusy, withLock } from "../../src/store/lock.ts";
import { cleanupPrefix, randomPrefix, testRedis } from "../support/redis.ts";
import { sleep } from "../support/wait.ts";

/**
 * The per-rollout lease (real Redis): renewed while its holder works, so a slow write never loses it; gone
 * within its TTL when nobody renews it (a holder killed with SIGKILL), so a crash does not block a rollout's
 * next step or its Abort for long. R2 (test/faults-long) shows the second at scale.
 */

const redis = testRedis();
const prefix = randomPrefix("lock");
afterAll(async () => {
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

it("a holder working for several TTLs keeps the lease; it is released when the work ends", async () => {
  const key = `${prefix}:slow`;
  let busy: unknown;
  await withLock(
    redis,
    key,
    async () => {
      await sleep(1_500); // three TTLs
      busy = await withLock(redis, key, async () => "entered", { waitMs: 0 }).catch((err: unknown) => err);
    },
    { ttlMs: 500 },
  );
  expect(busy).toBeInstanceOf(LockBusy);
  expect(await redis.exists(key)).toBe(0);
});

it("a lease nobody renews (its holder was killed) lasts at most 10 s by default", async () => {
  const key = `${prefix}:default`;
  const pttl = await withLock(redis, key, async () => redis.pttl(key));
  expect(pttl).toBeGreaterThan(0);
  expect(pttl).toBeLessThanOrEqual(10_000);
});
