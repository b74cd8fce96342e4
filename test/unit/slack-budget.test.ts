import { describe, expect, it } from "vitest";
import { isRefresh } from "../../src/engine/render-budget.ts";
import { bucketFor, DEFAULT_BUDGET } from "../../src/slack/budget.ts";
import { TierLimits } from "../../sandbox/peers/slack/rate-tiers.ts";

describe("the bot's Slack buckets", () => {
  it("spend 80% of Slack's published rates by default, 15 s deep, half of it kept for changes of state", () => {
    expect(bucketFor("chat.update", undefined, DEFAULT_BUDGET)).toEqual({ name: "chat.update", intervalMs: 1_500, burst: 10, reserve: 5 });
    expect(bucketFor("chat.postMessage", "C0ONE", DEFAULT_BUDGET)).toEqual({ name: "chat.postMessage:C0ONE", intervalMs: 1_250, burst: 12, reserve: 6 });
    expect(bucketFor("views.publish", undefined, DEFAULT_BUDGET)).toMatchObject({ intervalMs: 750, burst: 20 });
    expect(bucketFor("usergroups.list", undefined, DEFAULT_BUDGET)).toMatchObject({ intervalMs: 3_750, burst: 4 });
    // A method the table does not know is taken as Tier 2 (20 a minute), never more.
    expect(bucketFor("reactions.add", undefined, DEFAULT_BUDGET)).toMatchObject({ intervalMs: 3_750, burst: 4 });
  });

  it("never let a minute hold more than Slack publishes for a tier: the burst plus a minute's rate", () => {
    for (const method of ["chat.update", "views.publish", "usergroups.list"]) {
      const b = bucketFor(method, undefined, DEFAULT_BUDGET);
      const published = { "chat.update": 50, "views.publish": 100, "usergroups.list": 20 }[method]!;
      expect(b.burst + 60_000 / b.intervalMs, method).toBeLessThanOrEqual(published);
    }
  });

  it("never allow more than the Slack peer does, whatever the method, for a burst and then sustained", () => {
    const methods = [
      "chat.update",
      "chat.postMessage",
      "chat.postEphemeral",
      "views.publish",
      "views.open",
      "files.completeUploadExternal",
      "usergroups.users.list",
    ];
    for (const method of methods) {
      // The bot's bucket, driven as fast as it allows for 5 minutes, against the peer's limits.
      const b = bucketFor(method, "C0ONE", DEFAULT_BUDGET);
      const peer = new TierLimits();
      let tat = 0;
      for (let now = 0; now < 300_000; now += 10) {
        const t = Math.max(tat, now);
        if (t - now > (b.burst - 1) * b.intervalMs) continue;
        tat = t + b.intervalMs;
        expect(peer.admit(method, "C0ONE", now), `${method} at ${now} ms`).toBe(0);
      }
    }
  });
});

describe("the Slack peer's tiers", () => {
  it("lets a tier's minute go at once, then answers with the whole seconds until the next call is allowed", () => {
    const peer = new TierLimits();
    for (let i = 0; i < 50; i++) expect(peer.admit("chat.update", undefined, 1_000)).toBe(0);
    expect(peer.admit("chat.update", undefined, 1_000)).toBe(2); // 1.2 s, rounded up
    expect(peer.admit("chat.update", undefined, 2_200)).toBe(0);
    // Per channel for posts, 30 at once; Special methods (no published number) are not limited.
    for (let i = 0; i < 30; i++) expect(peer.admit("chat.postMessage", "C0ONE", 0)).toBe(0);
    expect(peer.admit("chat.postMessage", "C0ONE", 0)).toBe(1);
    expect(peer.admit("chat.postMessage", "C0TWO", 0)).toBe(0);
    for (let i = 0; i < 100; i++) expect(peer.admit("auth.test", undefined, 0)).toBe(0);
  });
});

describe("which renderings are refreshes", () => {
  const last = { renderedHash: "a", stateHash: "s", updatedAt: 1_000 };
  it("only the reading changed, and nobody asked: a refresh (deferrable)", () => {
    expect(isRefresh({ hash: "b", stateHash: "s" }, last)).toBe(true);
    expect(isRefresh({ hash: "b", stateHash: "s", askedAt: 500 }, last)).toBe(true); // asked for an older one
  });
  it("a change of state, a person's Refresh, or the first rendering: never deferred", () => {
    expect(isRefresh({ hash: "b", stateHash: "t" }, last)).toBe(false);
    expect(isRefresh({ hash: "b", stateHash: "s", askedAt: 1_500 }, last)).toBe(false);
    expect(isRefresh({ hash: "b", stateHash: "s" }, {})).toBe(false);
  });
});
