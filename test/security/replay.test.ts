import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHANNEL, startHarness, waitForMessage, waitForStatus, type Harness } from "../support/bot-harness.ts";
import { testRedis } from "../support/redis.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { percentOn, SEED, seedSplit, splitWrites } from "../faults/support.ts";

/**
 * Issue 20, item 2: a signed request is taken once. The probes of the report, replayed as an attacker with a
 * captured request would: the same `/rollout advance` bytes posted twice moved a rollout 10 -> 50 -> 80, and
 * a replayed `/rollout start` restarted a rollout another person had just aborted. Now the second delivery
 * is answered 200 with nothing done and audited as a replay, by this replica or another one (the seen-set
 * is in Redis), over HTTP and over Socket Mode; a retried Events API event (same event_id, fresh signature)
 * is taken once too.
 */

const ALICE = "UALICE";
const BOB = "UBOB";
const ID = "backend-svc#1";
const nowSeconds = () => Math.floor(Date.now() / 1000);

let h: Harness;
let second: Harness | undefined;

beforeAll(async () => {
  h = await startHarness();
  seedSplit(h);
});
afterAll(async () => {
  await second?.stopBot();
  await h.close();
});

const replays = async (hh: Harness) => (await hh.bot.audit.recent(50)).filter((e) => e.action === "replay");

describe("over HTTP", () => {
  it("a captured `/rollout advance`, posted again with its signature, is answered 200 with nothing done and audited as a replay", async () => {
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED });
    await waitForMessage(h, ID, "Advance to 80%");
    await waitForStatus(h, ID, "active");
    const writes = splitWrites(h);

    const ts = nowSeconds();
    const first = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: `advance ${ID}`, timestampOverride: ts });
    expect(first.status).toBe(200);
    await waitFor(async () => (await h.bot.store.get(ID))?.appliedPercent === 80, { what: "80% applied" });
    const answered = h.slack.responses(first.responseUrl).length;

    // The attacker's copy: the same bytes, the same timestamp, hence the same signature, within the window.
    const replay = await h.driver.post(first.rawBody, first.responseUrl, { timestampOverride: ts });
    expect(replay.status).toBe(200);
    expect(replay.text).toBe("");
    await sleep(300);
    const r = await h.bot.store.get(ID);
    expect(r?.desiredPercent).toBe(80);
    expect(r?.events.filter((e) => e.kind === "advanced")).toHaveLength(1);
    expect(splitWrites(h) - writes).toBe(1);
    expect(percentOn(h, "backend-v2")).toBe(80);
    // Not even a refusal was posted: the replay never reached a listener.
    expect(h.slack.responses(first.responseUrl)).toHaveLength(answered);
    const [entry] = await replays(h);
    expect(entry).toMatchObject({ action: "replay", via: "command", outcome: "refused", actor: ALICE, channel: CHANNEL });
    expect(entry?.detail).toContain(`/rollout advance ${ID}`);
  });

  it("a replayed `/rollout start` does not restart a rollout another person aborted", async () => {
    expect((await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: `abort ${ID}` })).status).toBe(200);
    await waitForStatus(h, ID, "aborted");
    // Alice's start of a second rollout, captured; Bob aborts it; the captured start is replayed.
    const startTs = nowSeconds();
    const start = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED, timestampOverride: startTs });
    await waitForStatus(h, "backend-svc#2", "active");
    await h.driver.slash({ userId: BOB, channelId: CHANNEL, text: "abort backend-svc#2" });
    await waitForStatus(h, "backend-svc#2", "aborted");
    const writes = splitWrites(h);
    const replay = await h.driver.post(start.rawBody, start.responseUrl, { timestampOverride: startTs });
    expect(replay.status).toBe(200);
    await sleep(300);
    expect(await h.bot.store.get("backend-svc#3")).toBeUndefined();
    expect(await h.bot.store.activeFor("backend-svc")).toBeUndefined();
    expect(splitWrites(h)).toBe(writes);
    expect(percentOn(h, "backend-v2")).toBe(0);
  });

  it("a retried Events API event (same event_id, a fresh signature) is taken once", async () => {
    const publishes = () => h.slack.calls.filter((c) => c.method === "views.publish").length;
    const opened = await h.driver.homeOpened({ userId: BOB });
    expect(opened.status).toBe(200);
    await waitFor(() => publishes() > 0 || undefined, { what: "the Home tab published" });
    await sleep(300);
    const before = publishes();
    // Slack's retry: the same body, signed again a second later.
    const retry = await h.driver.post(opened.rawBody, "", { contentType: "application/json", timestampOverride: nowSeconds() + 1 });
    expect(retry.status).toBe(200);
    await sleep(500);
    expect(publishes()).toBe(before);
    expect((await replays(h)).some((e) => e.via === "event" && e.actor === BOB)).toBe(true);
  });

  it("is refused by another replica too (the seen-set is in Redis, each key expiring after 11 minutes)", async () => {
    second = await startHarness({ reuse: h });
    const ts = nowSeconds();
    const res = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "status", timestampOverride: ts });
    await waitFor(() => h.slack.responses(res.responseUrl).length > 0 || undefined, { what: "status answered" });
    // The same request delivered to the other process.
    const replay = await second.driver.post(res.rawBody, res.responseUrl, { timestampOverride: ts });
    expect(replay.status).toBe(200);
    await sleep(300);
    expect(h.slack.responses(res.responseUrl)).toHaveLength(1);
    const redis = testRedis();
    try {
      const keys = await redis.keys(`${h.prefix}:seen:*`);
      expect(keys.length).toBeGreaterThan(0);
      const ttls = await Promise.all(keys.map((k) => redis.ttl(k)));
      expect(Math.max(...ttls)).toBeLessThanOrEqual(660);
      expect(Math.min(...ttls)).toBeGreaterThan(600);
    } finally {
      redis.disconnect();
    }
  });
});

describe("over Socket Mode", () => {
  it("a redelivered envelope, and the same request in a new envelope, are acknowledged with nothing done", async () => {
    const s = await startHarness({ socketMode: true });
    try {
      seedSplit(s);
      await waitFor(() => (s.slack.socket?.connected ?? 0) > 0 || undefined, { what: "the socket connected" });
      await s.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED });
      await waitForStatus(s, ID, "active");
      const advance = await s.driver.slash({ userId: ALICE, channelId: CHANNEL, text: `advance ${ID}` });
      await waitFor(async () => (await s.bot.store.get(ID))?.appliedPercent === 80, { what: "80% applied" });
      const writes = splitWrites(s);
      // The same request again (same trigger_id) in a fresh envelope...
      await s.driver.post(advance.rawBody, advance.responseUrl);
      // ...and one envelope delivered twice, as Slack redelivers an envelope it got no ack for.
      const payload = Object.fromEntries(new URLSearchParams((await s.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "status" })).rawBody));
      await s.slack.socket!.deliver("slash_commands", { ...payload, trigger_id: `${payload.trigger_id}x` }, 3_000, "env-twice");
      // Its answer (the status) rides in the ack, shown as a response_url post: wait for it.
      await waitFor(() => s.slack.responses(payload.response_url!).length === 2 || undefined, { what: "the first delivery answered" });
      const answered = s.slack.responses(payload.response_url!).length;
      await s.slack.socket!.deliver("slash_commands", { ...payload, trigger_id: `${payload.trigger_id}y` }, 3_000, "env-twice");
      await sleep(300);
      expect(splitWrites(s)).toBe(writes);
      expect((await s.bot.store.get(ID))?.events.filter((e) => e.kind === "advanced")).toHaveLength(1);
      expect(s.slack.responses(payload.response_url!).length).toBe(answered);
      expect((await replays(s)).length).toBe(2);
    } finally {
      await s.close();
    }
  });
});
