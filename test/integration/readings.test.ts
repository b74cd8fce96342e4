import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { Keys } from "../../src/store/keys.ts";
import { ReadingHistory, readingPoint } from "../../src/store/readings.ts";
import { SlackMetaStore } from "../../src/store/slack-meta.ts";
import { chartSvg } from "../../src/slack/views/chart.ts";
import { markStarted, newRollout } from "../../src/engine/rollout.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { cleanupPrefix, randomPrefix, testRedis } from "../support/redis.ts";

/**
 * Issue 24: each stored reading keeps the cluster it was taken in (the record's target.cluster then), on real
 * Redis; points stored before that (no cluster) still read back, as the bot's own cluster's. The history is
 * capped, and expires with the record once the rollout has ended.
 */

let redis: Redis;
const prefix = randomPrefix("readings");
const keys = new Keys(prefix);
const snapshot = (at: number, ok: number) => ({ at, canaryPercent: 10, stable: { requests: 100, successes: 100 }, canary: { requests: 100, successes: ok } });

beforeAll(() => {
  redis = testRedis();
});
afterAll(async () => {
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

describe("the reading history", () => {
  it("keeps each point's cluster, leaves it out for the bot's own, and reads back points stored before clusters were kept", async () => {
    const history = new ReadingHistory(redis, keys);
    // Stored by an earlier version: exactly what it wrote then.
    await redis.rpush(keys.readings("shop", 1), JSON.stringify({ at: 1_000, canaryPercent: 10, stable: 1, canary: 0.99 }));
    await history.append("shop#1", readingPoint(snapshot(2_000, 98)));
    await history.append("shop#1", readingPoint(snapshot(3_000, 97), "prod-eu"));
    // Something that is not a cluster name is no cluster.
    await redis.rpush(keys.readings("shop", 1), JSON.stringify({ at: 4_000, canaryPercent: 10, cluster: 7 }));

    expect(await redis.lrange(keys.readings("shop", 1), 1, 2)).toEqual([
      '{"at":2000,"canaryPercent":10,"stable":1,"canary":0.98}',
      '{"at":3000,"canaryPercent":10,"stable":1,"canary":0.97,"cluster":"prod-eu"}',
    ]);
    expect(await history.list("shop#1")).toEqual([
      { at: 1_000, canaryPercent: 10, stable: 1, canary: 0.99 },
      { at: 2_000, canaryPercent: 10, stable: 1, canary: 0.98 },
      { at: 3_000, canaryPercent: 10, stable: 1, canary: 0.97, cluster: "prod-eu" },
      { at: 4_000, canaryPercent: 10 },
    ]);
  });

  it("keeps the newest 720 points for a month after the last one, then only as long as the ended rollout's record", async () => {
    const history = new ReadingHistory(redis, keys);
    const list = keys.readings("cap", 1);
    for (let i = 0; i < 725; i++) await history.append("cap#1", readingPoint(snapshot(i, 99)));
    const points = await history.list("cap#1");
    expect(points).toHaveLength(720);
    expect(points[0]!.at).toBe(5);
    expect(points.at(-1)!.at).toBe(724);
    const month = 30 * 86_400;
    expect(await redis.ttl(list)).toBeGreaterThan(month - 5);
    // The rollout ended: its record expires in an hour, and a reading stored after that goes with it.
    await redis.hset(keys.record("cap", 1), "v", "9");
    await redis.expire(keys.record("cap", 1), 3_600);
    await history.append("cap#1", readingPoint(snapshot(725, 99)));
    expect(await redis.ttl(list)).toBeGreaterThan(3_590);
    expect(await redis.ttl(list)).toBeLessThanOrEqual(3_600);
    // As is the message's bookkeeping written after the end.
    const meta = new SlackMetaStore(redis, keys);
    await meta.set("cap#1", { updatedAt: 42, renderedHash: "h" });
    expect(await meta.get("cap#1")).toEqual({ postedSeq: 0, updatedAt: 42, renderedHash: "h" });
    expect(await redis.ttl(keys.slack("cap", 1))).toBeGreaterThan(3_590);
    expect(await redis.ttl(keys.slack("cap", 1))).toBeLessThanOrEqual(3_600);
  });

  it("a rollout read in two clusters charts one canary line per cluster from what was stored", async () => {
    const history = new ReadingHistory(redis, keys);
    for (const [i, cluster] of [undefined, undefined, "prod-eu", "prod-eu"].entries())
      await history.append("cart#2", readingPoint(snapshot(1_700_000_010_000 + i * 5_000, 99), cluster));
    const target = TargetSchema.parse({ name: "cart", smi: { trafficSplit: "cart" }, stable: "v1" });
    const r = markStarted(
      newRollout({
        id: "cart#2",
        target,
        stable: "v1",
        canary: "v2",
        steps: [10, 100],
        startedBy: "U1",
        channel: "C1",
        testStage: false,
        now: 1_700_000_000_000,
      }),
      { percent: 10, raw: "v1 90 / v2 10", initialRaw: "v1 100" },
      1_700_000_001_000,
    );
    const svg = chartSvg(r, await history.list("cart#2"), 1_700_000_060_000);
    expect(svg.match(/<path d="M[^"]*" fill="none" stroke="#[0-9a-f]{6}" stroke-width="2"\/>/g)).toHaveLength(2);
    expect(svg).toContain(">own cluster: canary v2</text>");
    expect(svg).toContain(">prod-eu: canary v2</text>");
  });
});
