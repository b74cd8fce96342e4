import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { bucketFor, DEFAULT_BUDGET, SlackBudget, SlackBudgetExceeded, SlackTurnLater } from "../../src/slack/budget.ts";
import { startSlackPeer } from "../../sandbox/peers/slack/index.ts";
import { startHarness } from "../support/bot-harness.ts";
import { cleanupPrefix, randomPrefix, REDIS_URL, testRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 13, "a Slack budget": one rate limiter for the workspace, in Redis, shared by every replica, with a
 * fair line for the jobs it puts back; the Slack peer answering 429 + Retry-After over Slack's tiers. Under
 * the load of many active rollouts: test/faults-long/slack-budget-load.test.ts.
 */

describe("the Slack peer, enforcing Slack's tiers", () => {
  it("answers 429 with Retry-After past chat.update's tier, and past a burst of posts in one channel but not in another", async () => {
    const peer = await startSlackPeer({ botToken: "xoxb-tiers", channels: [{ id: "C0ONE" }, { id: "C0TWO" }] });
    try {
      peer.enforceTiers();
      const call = (method: string, args: Record<string, string>) =>
        fetch(`${peer.apiUrl}${method}`, {
          method: "POST",
          headers: { authorization: "Bearer xoxb-tiers", "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams(args).toString(),
        });
      const posted = (await (await call("chat.postMessage", { channel: "C0ONE", text: "hello" })).json()) as { ts: string };
      // Tier 3 is 50 a minute: the peer lets them go at once, then one per 1.2 s (so a few more may pass if
      // this loop is slow, never all).
      const updates = [];
      for (let i = 0; i < 55; i++) updates.push(await call("chat.update", { channel: "C0ONE", ts: posted.ts, text: `edit ${i}` }));
      expect(updates.slice(0, 50).map((r) => r.status)).toEqual(Array(50).fill(200));
      const limited = updates.filter((r) => r.status === 429);
      expect(limited.length).toBeGreaterThan(0);
      for (const r of limited) {
        expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
        expect(await r.json()).toEqual({ ok: false, error: "ratelimited" });
      }
      const lastAccepted = updates.findLastIndex((r) => r.status === 200);
      expect(peer.message("C0ONE", posted.ts)!.text).toBe(`edit ${lastAccepted}`); // refused edits changed nothing

      // One post a second per channel, 30 at once: the first post above was one of them.
      const posts = [];
      for (let i = 0; i < 34; i++) posts.push((await call("chat.postMessage", { channel: "C0ONE", text: `p${i}` })).status);
      expect(posts.slice(0, 29)).toEqual(Array(29).fill(200));
      expect(posts.slice(29)).toContain(429);
      expect((await call("chat.postMessage", { channel: "C0TWO", text: "elsewhere" })).status).toBe(200);
      expect(new Set(peer.rateLimited().map((c) => c.method))).toEqual(new Set(["chat.update", "chat.postMessage"]));
    } finally {
      await peer.close();
    }
  });
});

describe("the budget in Redis", () => {
  const prefix = randomPrefix("budget");
  const redis = testRedis();
  const replicas = [new Redis(REDIS_URL), new Redis(REDIS_URL)];
  afterAll(async () => {
    await cleanupPrefix(redis, prefix);
    await redis.quit();
    for (const r of replicas) await r.quit();
  });

  it("is one for every replica: a refresh leaves the reserve to changes of state, then everyone waits their turn", async () => {
    // 10% of Tier 3 is 5 a minute (one per 12 s), 60 s deep: 5 at once, 2 of them kept for changes of state.
    const settings = { percent: 10, burstSeconds: 60, maxWaitMs: 100 };
    const [a, b] = replicas.map((r) => new SlackBudget(r, (bucket) => `${prefix}:slack-budget:${bucket}`, settings));
    expect(bucketFor("chat.update", undefined, settings)).toMatchObject({ burst: 5, reserve: 2, intervalMs: 12_000 });
    expect(await a!.take("chat.update", undefined, "refresh")).toBe(0);
    expect(await b!.take("chat.update", undefined, "refresh")).toBe(0);
    expect(await a!.take("chat.update", undefined, "refresh")).toBe(0);
    // Two left: a refresh on either replica finds no room and learns how long until there is.
    const wait = await b!.take("chat.update", undefined, "refresh");
    expect(wait).toBeGreaterThan(10_000);
    expect(wait).toBeLessThanOrEqual(12_000);
    // A change of state still goes at once, on either replica, twice.
    expect(await b!.take("chat.update", undefined, "state")).toBe(0);
    expect(await a!.acquire("chat.update", undefined)).toBe(0);
    // Then the bucket is empty for everyone: waiting longer than allowed fails the call (it is retried).
    await expect(b!.acquire("chat.update", undefined)).rejects.toBeInstanceOf(SlackBudgetExceeded);
    // Other methods and other channels have buckets of their own.
    expect(await a!.take("chat.postMessage", "C0ONE", "state")).toBe(0);
    expect(await b!.take("views.publish", undefined, "state")).toBe(0);
  });

  it("puts a job over budget in line: one slot per interval, in the order they came, the newcomers behind them", async () => {
    // 10% of Tier 3: one chat.update per 12 s, 5 at once.
    const settings = { percent: 10, burstSeconds: 60, maxWaitMs: 100 };
    const keyOf = (bucket: string) => `${prefix}:line:slack-budget:{${bucket}}`;
    const [a, b] = replicas.map((r) => new SlackBudget(r, keyOf, settings));
    const now = Date.now();
    const fresh = () => false;
    for (let i = 0; i < 5; i++) await (i % 2 ? a! : b!).turn("chat.update", undefined, now, fresh); // the burst
    const putBack = async (budget: SlackBudget) => {
      const err = await budget.turn("chat.update", undefined, Date.now(), fresh).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SlackTurnLater);
      return err as SlackTurnLater;
    };
    // Three jobs on either replica: the first comes back when the bucket has a token (12 s), the others one
    // interval apart, not all at once.
    const line = [await putBack(a!), await putBack(b!), await putBack(a!)];
    expect(line.map((e) => e.bucket)).toEqual(["chat.update", "chat.update", "chat.update"]);
    const [first, second, third] = line.map((e) => e.at - now);
    expect(first).toBeGreaterThan(11_000);
    expect(first).toBeLessThanOrEqual(12_500);
    expect(second! - first!).toBeGreaterThanOrEqual(11_900);
    expect(third! - second!).toBeGreaterThanOrEqual(11_900);

    // Let the bucket fill up again (as if a minute passed) while the line still holds a slot ahead: a newcomer
    // does not take the token the line is waiting for, it queues behind; the job back for its slot takes it.
    await replicas[0]!.set(keyOf("chat.update"), "0");
    const late = await putBack(b!);
    expect(late.at - now - third!).toBeGreaterThanOrEqual(11_900);
    await expect(a!.turn("chat.update", undefined, Date.now(), (bucket) => bucket === "chat.update")).resolves.toBeUndefined();
    // Another bucket has a line of its own.
    await expect(b!.turn("chat.postMessage", "C0ONE", Date.now(), fresh)).resolves.toBeUndefined();
  });

  it("holds back a listener's call until its turn: the New rollout modal opens after the wait another replica left", async () => {
    const h = await startHarness({ slackBudget: true });
    try {
      // Another replica has just spent views.open's burst: the next turn is 1.5 s away (on Redis's clock,
      // this machine's: read after `at`, so the wait counted from `at` is at least that).
      const b = bucketFor("views.open", undefined, DEFAULT_BUDGET);
      const at = Date.now();
      const [sec, micro] = await redis.time();
      const redisNow = Number(sec) * 1000 + Math.floor(Number(micro) / 1000);
      await redis.set(h.bot.store.keys.slackBudget(b.name), String(redisNow + (b.burst - 1) * b.intervalMs + 1_500), "PX", 60_000);
      const ack = await h.driver.shortcut({ userId: "UALICE", callbackId: "rollout_new" });
      expect(ack.status).toBe(200);
      const opened = await waitFor(() => h.slack.callsOf("views.open")[0], { what: "views.open" });
      expect(opened.ok).toBe(true);
      expect(opened.at - at).toBeGreaterThanOrEqual(1_400);
    } finally {
      await h.close();
    }
  });
});
