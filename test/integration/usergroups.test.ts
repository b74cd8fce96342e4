import { WebClient } from "@slack/web-api";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { STALE_LIMIT_TTLS, UsergroupResolver } from "../../src/slack/usergroups.ts";
import { startSlackPeer, type SlackPeer } from "../../sandbox/peers/slack/index.ts";
import { recordingLogger } from "../../sandbox/peers/slack/recording-logger.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * The user-group resolver over real HTTP against the local Slack peer: handles -> ids via usergroups.list,
 * members via usergroups.users.list, cached for a TTL (a clock we move by hand); when Slack fails, the last
 * answer only while it is under two TTLs old, "unknown" after that.
 */

const TOKEN = "xoxb-usergroups-test";
let peer: SlackPeer;
let client: WebClient;
let clock = 0;

beforeAll(async () => {
  peer = await startSlackPeer({ botToken: TOKEN });
  // No retries: a failing call must fail now, not after the client's back-off.
  client = new WebClient(TOKEN, { slackApiUrl: peer.apiUrl, logger: recordingLogger(), retryConfig: { retries: 0 } });
});
afterAll(() => peer.close());
beforeEach(() => {
  peer.reset();
  clock = 1_000_000;
  peer.setUsergroup({ id: "S0SRE", handle: "sre", users: ["UALICE"] });
  peer.setUsergroup({ id: "S0REL", handle: "Release", users: ["UBOB"] });
});

const resolver = (ttlMs = 60_000, timeoutMs = 2_000) => new UsergroupResolver({ client, ttlMs, now: () => clock, timeoutMs });
const calls = (method: string) => peer.callsOf(method).length;

describe("UsergroupResolver", () => {
  it("answers membership by handle (case-insensitive); an unknown handle is not membership", async () => {
    const r = resolver();
    const m = await r.membership("UALICE", ["sre", "release", "nope"]);
    expect(Object.fromEntries(m)).toEqual({ sre: true, release: false, nope: false });
    expect(Object.fromEntries(await r.membership("UBOB", ["release"]))).toEqual({ release: true });
  });

  it("caches for the TTL: a membership change is seen only after it, with one call per group per TTL", async () => {
    const r = resolver(10_000);
    expect((await r.membership("UCAROL", ["sre"])).get("sre")).toBe(false);
    peer.setUsergroup({ id: "S0SRE", handle: "sre", users: ["UALICE", "UCAROL"] });
    clock += 9_999;
    expect((await r.membership("UCAROL", ["sre"])).get("sre")).toBe(false);
    expect(calls("usergroups.users.list")).toBe(1);
    expect(calls("usergroups.list")).toBe(1);
    clock += 1;
    expect((await r.membership("UCAROL", ["sre"])).get("sre")).toBe(true);
    expect(calls("usergroups.users.list")).toBe(2);
    console.log(`groups: membership change seen after the TTL (10000 ms), not 1 ms before; ${calls("usergroups.users.list")} usergroups.users.list calls`);
  });

  it("concurrent lookups share one call", async () => {
    const r = resolver();
    await Promise.all(Array.from({ length: 20 }, (_, i) => r.membership(`U${i}X`, ["sre"])));
    expect(calls("usergroups.users.list")).toBe(1);
    expect(calls("usergroups.list")).toBe(1);
  });

  it("when Slack fails: unknown without an answer; the last answer while under two TTLs old; unknown after that", async () => {
    expect(STALE_LIMIT_TTLS).toBe(2);
    const r = resolver(1_000);
    const sre = async (user = "UALICE") => (await r.membership(user, ["sre"])).get("sre");
    peer.failNext("usergroups.list", "internal_error");
    expect(await sre()).toBe("unknown");
    expect(await sre()).toBe(true); // asked at `clock`: cached from here

    // Alice leaves @sre; Slack then fails every usergroups.users.list.
    peer.setUsergroup({ id: "S0SRE", handle: "sre", users: [] });
    peer.failNext("usergroups.users.list", "internal_error", 100);
    clock += 1_000; // the TTL is over: Slack is asked, fails, and the last answer (1 TTL old) still counts
    expect(await sre()).toBe(true);
    clock += 999; // 1.999 TTLs old: still the grace
    expect(await sre()).toBe(true);
    clock += 1; // 2 TTLs old: too old to grant anything
    expect(await sre()).toBe("unknown");
    expect(await sre("UBOB")).toBe("unknown"); // a "no" that old is not used either
    clock += 3_600_000; // an outage of an hour changes nothing
    expect(await sre()).toBe("unknown");
    expect(calls("usergroups.users.list")).toBe(6); // every lookup after the TTL asked Slack

    // The handle -> id map obeys the same limit: usergroups.list (which kept answering until now) fails too.
    peer.reset();
    peer.setUsergroup({ id: "S0SRE", handle: "sre", users: [] });
    peer.failNext("usergroups.list", "internal_error", 100);
    clock += 1_999;
    expect(await sre()).toBe(false); // the map from 1.999 TTLs ago still names the group; its members answer
    clock += 1;
    expect(await sre()).toBe("unknown"); // the map is 2 TTLs old: which group @sre is, is unknown
    expect([calls("usergroups.list"), calls("usergroups.users.list")]).toEqual([2, 1]);

    // Slack answers again: Alice's removal is what counts.
    peer.reset();
    peer.setUsergroup({ id: "S0SRE", handle: "sre", users: [] });
    expect(await sre()).toBe(false);
    console.log("groups: Slack failing after the cache expired -> last answer used up to 2 TTLs old (1999 ms at TTL 1000 ms), unknown from 2000 ms on");
  });

  it("with a TTL of 0 nothing is reused: Slack failing means unknown at once", async () => {
    const r = resolver(0);
    expect((await r.membership("UALICE", ["sre"])).get("sre")).toBe(true);
    peer.failNext("usergroups.users.list", "internal_error");
    expect((await r.membership("UALICE", ["sre"])).get("sre")).toBe("unknown");
  });

  it("a Slack that does not answer in time counts as failing, and its late answer is kept for the next lookup", async () => {
    const r = resolver(1_000, 200);
    expect((await r.membership("UALICE", ["sre"])).get("sre")).toBe(true);
    peer.setUsergroup({ id: "S0SRE", handle: "sre", users: [] });
    peer.delayNext("usergroups.users.list", { delayMs: 700 });
    clock += 2_000; // 2 TTLs old: past the grace
    const started = Date.now();
    const [a, b] = await Promise.all([r.membership("UALICE", ["sre"]), r.membership("UALICE", ["sre"])]);
    expect(Date.now() - started).toBeLessThan(600);
    expect([a.get("sre"), b.get("sre")]).toEqual(["unknown", "unknown"]);
    // A lookup while that call is still out waits for it rather than asking Slack a second time.
    expect((await r.membership("UALICE", ["sre"])).get("sre")).toBe("unknown");
    await waitFor(() => peer.callsOf("usergroups.users.list").find((c) => c.delayedMs !== undefined), { what: "the late answer" });
    await sleep(50);
    expect(calls("usergroups.users.list")).toBe(2);
    expect((await r.membership("UALICE", ["sre"])).get("sre")).toBe(false); // the late answer, cached when it came
    expect(calls("usergroups.users.list")).toBe(2);
  });
});
