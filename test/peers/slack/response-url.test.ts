import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { WebClient } from "@slack/web-api";
import { RESPONSE_URL_MAX_POSTS, startSlackPeer, type SlackPeer } from "../../../sandbox/peers/slack/index.ts";
import { recordingLogger } from "../../../sandbox/peers/slack/recording-logger.ts";

const TOKEN = "xoxb-respond";
const CHANNEL = "C0RESPOND";
const ALICE = "U0ALICE";

let peer: SlackPeer;
let client: WebClient;

beforeAll(async () => {
  peer = await startSlackPeer({ botToken: TOKEN, channels: [{ id: CHANNEL, name: "respond" }], users: [{ id: ALICE }] });
  client = new WebClient(TOKEN, { slackApiUrl: peer.apiUrl, logger: recordingLogger() });
});
afterAll(() => peer.close());
beforeEach(() => peer.reset());

/** POST the way Bolt's respond() does: JSON body, no auth. */
async function respond(url: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

describe("response_url", () => {
  it("defaults to an ephemeral reply to the person who acted", async () => {
    const url = peer.newResponseUrl({ channelId: CHANNEL, userId: ALICE });
    expect(url.startsWith(`${peer.url}/response/`)).toBe(true);
    expect(await respond(url, { text: "Usage: /rollout start <service>" })).toEqual({ status: 200, json: { ok: true } });

    expect(peer.responses(url)).toEqual([
      expect.objectContaining({ status: 200, effect: "ephemeral", response_type: "ephemeral", text: "Usage: /rollout start <service>" }),
    ]);
    expect(peer.ephemeralsFor(ALICE)).toEqual([expect.objectContaining({ channel: CHANNEL, text: "Usage: /rollout start <service>", via: "response_url" })]);
    expect(peer.messages(CHANNEL)).toEqual([]);
  });

  it("in_channel posts a message everyone sees", async () => {
    const url = peer.newResponseUrl({ channelId: CHANNEL, userId: ALICE });
    await respond(url, { response_type: "in_channel", text: "Rollout started", blocks: [{ type: "divider" }] });
    expect(peer.messages(CHANNEL)).toEqual([expect.objectContaining({ text: "Rollout started", via: "response_url", user: peer.botUserId })]);
    expect(peer.ephemeralsFor(ALICE)).toEqual([]);
  });

  it("replace_original rewrites the message the interaction came from, keeping history", async () => {
    const { ts } = await client.chat.postMessage({ channel: CHANNEL, text: "Advance to 25%?" });
    const url = peer.newResponseUrl({ channelId: CHANNEL, userId: ALICE, messageTs: ts! });
    await respond(url, { replace_original: true, text: "Advanced to 25% by <@U0ALICE>" });

    const msg = peer.message(CHANNEL, ts!);
    expect(msg?.text).toBe("Advanced to 25% by <@U0ALICE>");
    expect(msg?.history.map((h) => h.text)).toEqual(["Advance to 25%?"]);
    expect(peer.responses(url)[0]).toMatchObject({ effect: "replaced", ts });
  });

  it("replace_original on an ephemeral original rewrites that ephemeral", async () => {
    const { message_ts } = await client.chat.postEphemeral({ channel: CHANNEL, user: ALICE, text: "Sure?" });
    const url = peer.newResponseUrl({ channelId: CHANNEL, userId: ALICE, messageTs: message_ts!, ephemeral: true });
    await respond(url, { replace_original: "true", text: "Done" });
    expect(peer.ephemeralsFor(ALICE).map((e) => e.text)).toEqual(["Done"]);
  });

  it("delete_original removes the message", async () => {
    const { ts } = await client.chat.postMessage({ channel: CHANNEL, text: "temporary" });
    const url = peer.newResponseUrl({ channelId: CHANNEL, userId: ALICE, messageTs: ts! });
    expect((await respond(url, { delete_original: true })).status).toBe(200);
    expect(peer.message(CHANNEL, ts!)).toBeUndefined();
    expect(peer.messages(CHANNEL)).toEqual([]);
  });

  it(`accepts ${RESPONSE_URL_MAX_POSTS} posts, then answers 404 used_url without effect`, async () => {
    const url = peer.newResponseUrl({ channelId: CHANNEL, userId: ALICE });
    for (let i = 1; i <= RESPONSE_URL_MAX_POSTS; i++) {
      expect((await respond(url, { text: `reply ${i}` })).status).toBe(200);
    }
    expect(await respond(url, { text: "one too many" })).toEqual({ status: 404, json: { ok: false, error: "used_url" } });
    expect(peer.ephemeralsFor(ALICE).map((e) => e.text)).toEqual(["reply 1", "reply 2", "reply 3", "reply 4", "reply 5"]);
    expect(peer.responses(url).map((r) => r.effect)).toEqual([...Array(5).fill("ephemeral"), "rejected"]);
  });

  it("refuses invalid blocks with 400 and does not count the post", async () => {
    const url = peer.newResponseUrl({ channelId: CHANNEL, userId: ALICE });
    const bad = await respond(url, { text: "x", blocks: [{ type: "header", text: { type: "plain_text", text: "h".repeat(151) } }] });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ ok: false, error: "invalid_blocks" });
    expect(peer.ephemeralsFor(ALICE)).toEqual([]);
    for (let i = 0; i < RESPONSE_URL_MAX_POSTS; i++) expect((await respond(url, { text: "ok" })).status).toBe(200);
  });

  it("expired and unknown URLs answer 404", async () => {
    const url = peer.newResponseUrl({ channelId: CHANNEL, userId: ALICE });
    peer.expireResponseUrl(url);
    expect(await respond(url, { text: "late" })).toEqual({ status: 404, json: { ok: false, error: "expired_url" } });
    expect((await respond(`${peer.url}/response/nope`, { text: "x" })).status).toBe(404);
    expect(peer.ephemeralsFor(ALICE)).toEqual([]);
  });
});
