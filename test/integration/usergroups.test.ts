import { WebClient } from "@slack/web-api";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { UsergroupResolver } from "../../src/slack/usergroups.ts";
import { startSlackPeer, type SlackPeer } from "../peers/slack/index.ts";
import { recordingLogger } from "../peers/slack/recording-logger.ts";

/**
 * The user-group resolver over real HTTP against the local Slack peer: handles -> ids via usergroups.list,
 * members via usergroups.users.list, cached for a TTL (a clock we move by hand), stale answers on outage.
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

const resolver = (ttlMs = 60_000) => new UsergroupResolver({ client, ttlMs, now: () => clock, timeoutMs: 2_000 });
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

  it("when Slack fails: a stale answer if there is one, else unknown", async () => {
    const r = resolver(1_000);
    peer.failNext("usergroups.list", "internal_error");
    expect((await r.membership("UALICE", ["sre"])).get("sre")).toBe("unknown");
    expect((await r.membership("UALICE", ["sre"])).get("sre")).toBe(true);
    clock += 5_000;
    peer.failNext("usergroups.users.list", "internal_error");
    peer.failNext("usergroups.list", "internal_error");
    expect((await r.membership("UALICE", ["sre"])).get("sre")).toBe(true); // stale, better than nothing
  });
});
