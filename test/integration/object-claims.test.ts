import { afterAll, describe, expect, it } from "vitest";
import { markAborted, newRollout, type Rollout } from "../../src/engine/rollout.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { newWave } from "../../src/engine/wave.ts";
import { RolloutStore } from "../../src/store/rollout-store.ts";
import { cleanupPrefix, randomPrefix, testRedis } from "../support/redis.ts";

/**
 * A wave of `shop` and a declared `shop@prod-us` drive the same TrafficSplit in prod-us under two target keys.
 * Their starts claim `(shop, prod-us)` in one Redis script each (real Redis), so when both start at the same
 * moment exactly one of them is created and the other is told which rollout holds it.
 */

const redis = testRedis();
const prefix = randomPrefix("claims");
const store = new RolloutStore(redis, prefix);
afterAll(async () => {
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

const NOW = 1_700_000_000_000;
function rollout(name: string, seq: number, where: { cluster: string } | { wave: string[] }): Rollout {
  const cluster = "cluster" in where ? where.cluster : undefined;
  const target = TargetSchema.parse({ name, namespace: "web", stable: "v1", ...(cluster ? { cluster } : { clusters: (where as { wave: string[] }).wave }) });
  const id = cluster ? `${name}@${cluster}#${seq}` : `${name}#${seq}`;
  const base = newRollout({ id, target, stable: "v1", canary: "v2", steps: [50, 100], startedBy: "U1", channel: "C1", testStage: false, now: NOW });
  return "wave" in where ? { ...base, target: { ...target, cluster: where.wave[0]! }, wave: newWave(where.wave, { mode: "manual" }) } : base;
}
const abort = (id: string) => store.update(id, (r) => markAborted(r, "v1 100 / v2 0", NOW + 1));

describe("claims on a target's objects per cluster", () => {
  it("50 pairs started at the same moment: exactly one of each pair starts, the other names it", async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const name = `shop${i}`;
        const wave = rollout(name, 1, { wave: ["staging", "prod-eu", "prod-us"] });
        const declared = rollout(name, 1, { cluster: "prod-us" });
        // Alternate which is sent first, so neither side wins by the order of the calls alone.
        const [a, b] = i % 2 ? [wave, declared] : [declared, wave];
        const [ra, rb] = await Promise.all([store.create(a), store.create(b)]);
        return { a: a.id, b: b.id, ra, rb };
      }),
    );
    let waves = 0;
    for (const { a, b, ra, rb } of outcomes) {
      expect([ra.ok, rb.ok].filter(Boolean)).toHaveLength(1);
      const [winner, loser] = ra.ok ? [a, rb] : [b, ra];
      expect(loser.ok ? undefined : loser.error.activeId).toBe(winner);
      if (!winner.includes("@")) waves++;
      // Only the winner exists: the loser left no record and no claim of its own.
      expect(await store.get(ra.ok ? b : a)).toBeUndefined();
      expect(await store.claims.holder(winner.split(/[@#]/)[0]!, ["prod-us"])).toMatchObject({ id: winner });
    }
    // Both sides won some pairs: the claim, not the call order, decided.
    expect(waves).toBeGreaterThan(0);
    expect(waves).toBeLessThan(50);
  });

  it("an ended rollout releases its claims: the other side starts next", async () => {
    const wave = rollout("cart", 1, { wave: ["staging", "prod-us"] });
    expect((await store.create(wave)).ok).toBe(true);
    const refused = await store.create(rollout("cart", 1, { cluster: "prod-us" }));
    expect(refused).toEqual({ ok: false, error: { activeId: "cart#1" } });
    await abort("cart#1");
    expect(await redis.exists(store.keys.objects("cart", "prod-us"), store.keys.objects("cart", "staging"))).toBe(0);
    expect((await store.create(rollout("cart", 2, { cluster: "prod-us" }))).ok).toBe(true);
    // ...and now the wave waits for it.
    expect(await store.create(rollout("cart", 2, { wave: ["staging", "prod-us"] }))).toEqual({ ok: false, error: { activeId: "cart@prod-us#2" } });
  });

  it("a wave that does not pass through the declared target's cluster does not exclude it", async () => {
    expect((await store.create(rollout("pay", 1, { wave: ["staging", "prod-eu"] }))).ok).toBe(true);
    expect((await store.create(rollout("pay", 1, { cluster: "prod-us" }))).ok).toBe(true);
  });

  it("a claim left by a rollout that ended without releasing it (a crash between the two) is taken over", async () => {
    const old = rollout("bag", 1, { cluster: "prod-us" });
    expect((await store.create(old)).ok).toBe(true);
    await abort(old.id);
    // The process died after the record ended, before the release: the claim still names it.
    await redis.set(store.keys.objects("bag", "prod-us"), old.id);
    expect(await store.claims.holder("bag", ["prod-us"])).toBeUndefined();
    expect((await store.create(rollout("bag", 2, { wave: ["staging", "prod-us"] }))).ok).toBe(true);
    expect(await redis.get(store.keys.objects("bag", "prod-us"))).toBe("bag#2");
    expect(await redis.pttl(store.keys.objects("bag", "prod-us"))).toBe(-1);
  });

  it("a claim whose record is still being written holds; one kept for a record that is gone does not", async () => {
    // Another start took the claim a moment ago and is writing its record: it is that start's.
    await redis.set(store.keys.objects("box", "prod-us"), "box#7", "PX", 30_000);
    expect(await store.create(rollout("box", 1, { cluster: "prod-us" }))).toEqual({ ok: false, error: { activeId: "box#7" } });
    // A kept claim naming a record that no longer exists (expired long after a crash): taken over.
    await redis.set(store.keys.objects("box", "prod-us"), "box#7");
    expect((await store.create(rollout("box", 2, { cluster: "prod-us" }))).ok).toBe(true);
  });
});
