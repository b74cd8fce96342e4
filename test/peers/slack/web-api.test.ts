import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ErrorCode, WebClient, type WebAPIPlatformError } from "@slack/web-api";
import { startSlackPeer, type SlackPeer } from "../../../sandbox/peers/slack/index.ts";
import { recordingLogger } from "../../../sandbox/peers/slack/recording-logger.ts";

const TOKEN = "xoxb-local-test-token";
const CHANNEL = "C0DEPLOYS";

let peer: SlackPeer;
let client: WebClient;

beforeAll(async () => {
  peer = await startSlackPeer({
    botToken: TOKEN,
    channels: [
      { id: CHANNEL, name: "deploys" },
      { id: "C0OUTSIDE", name: "outside", botIsMember: false },
    ],
    users: [{ id: "U0ALICE", name: "alice", real_name: "Alice Admin", is_admin: true, email: "alice@example.com" }],
    usergroups: [{ id: "S0SRE", handle: "sre", users: ["U0ALICE", "U0BOB"] }],
  });
  client = new WebClient(TOKEN, { slackApiUrl: peer.apiUrl, logger: recordingLogger() });
});
afterAll(() => peer.close());
beforeEach(() => peer.reset());

/** The Slack error code a WebClient call failed with (fails the test if it succeeded). */
async function slackError(call: Promise<unknown>): Promise<WebAPIPlatformError["data"]> {
  try {
    await call;
  } catch (err) {
    const e = err as Partial<WebAPIPlatformError>;
    if (e.code === ErrorCode.PlatformError && e.data) return e.data;
    throw err;
  }
  throw new Error("expected the Slack call to fail");
}

const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });

describe("local Slack Web API via @slack/web-api", () => {
  it("auth.test names the bot user, bot id and team", async () => {
    const res = await client.auth.test();
    expect(res).toMatchObject({ ok: true, team_id: peer.teamId, user_id: peer.botUserId, bot_id: peer.botId });
    expect(res.url).toMatch(/^https:\/\/.+\.slack\.com\/$/);
  });

  it("stores chat.postMessage with decoded blocks, Slack-generated block_ids, and records the call", async () => {
    const res = await client.chat.postMessage({
      channel: CHANNEL,
      text: "Rollout of checkout started",
      blocks: [section("*checkout* 10%"), { type: "actions", elements: [{ type: "button", text: { type: "plain_text", text: "Advance" }, value: "r1" }] }],
    });
    expect(res.ok).toBe(true);
    expect(res.channel).toBe(CHANNEL);
    expect(res.ts).toMatch(/^\d{10}\.\d{6}$/);

    const stored = peer.message(CHANNEL, res.ts!);
    expect(stored?.text).toBe("Rollout of checkout started");
    expect(stored?.blocks?.[0]).toMatchObject(section("*checkout* 10%"));
    // Slack fills in ids the app left out; the click payload later carries these.
    expect(stored?.blocks?.[0]?.block_id).toEqual(expect.any(String));
    const [button] = peer.buttons(CHANNEL, res.ts!);
    expect(button).toMatchObject({ text: "Advance", value: "r1", action_id: expect.any(String) });

    const [call] = peer.callsOf("chat.postMessage");
    expect(call).toMatchObject({ status: 200, ok: true, args: { channel: CHANNEL } });
    // @slack/web-api sends blocks as a JSON string inside a form field; the peer decodes it.
    expect(Array.isArray(call?.args.blocks)).toBe(true);
    expect(call?.args).not.toHaveProperty("token");
  });

  it("also accepts application/json bodies with the token in the Authorization header", async () => {
    const res = await fetch(`${peer.apiUrl}chat.postMessage`, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ channel: "#deploys", text: "json body", blocks: [section("hi")] }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { ok: boolean; channel: string; ts: string };
    expect(body).toMatchObject({ ok: true, channel: CHANNEL });
    expect(peer.message(CHANNEL, body.ts)?.blocks?.[0]).toMatchObject(section("hi"));
  });

  it("chat.update replaces content in place and keeps the previous version in history", async () => {
    const { ts } = await client.chat.postMessage({ channel: CHANNEL, text: "v1", blocks: [section("stage 1")] });
    const upd = await client.chat.update({ channel: CHANNEL, ts: ts!, text: "v2", blocks: [section("stage 2")] });
    expect(upd).toMatchObject({ ok: true, channel: CHANNEL, ts, text: "v2" });

    const msg = peer.message(CHANNEL, ts!);
    expect(msg?.text).toBe("v2");
    expect(msg?.blocks?.[0]).toMatchObject(section("stage 2"));
    expect(msg?.edited?.user).toBe(peer.botUserId);
    expect(msg?.history).toHaveLength(1);
    expect(msg?.history[0]).toMatchObject({ text: "v1", blocks: [section("stage 1")] });
    expect(peer.messages(CHANNEL)).toHaveLength(1);
  });

  it("chat.update without blocks keeps the old blocks, as Slack does", async () => {
    const { ts } = await client.chat.postMessage({ channel: CHANNEL, text: "v1", blocks: [section("kept")] });
    await client.chat.update({ channel: CHANNEL, ts: ts!, text: "v2" });
    expect(peer.message(CHANNEL, ts!)?.blocks?.[0]).toMatchObject(section("kept"));
  });

  it("chat.update of an unknown ts is message_not_found and stores nothing", async () => {
    const err = await slackError(client.chat.update({ channel: CHANNEL, ts: "1700000000.000001", text: "x" }));
    expect(err.error).toBe("message_not_found");
    expect(peer.messages(CHANNEL)).toEqual([]);
  });

  it("threads: replies stay out of the channel view, count on the parent, and reply-to-reply joins the parent thread", async () => {
    const parent = await client.chat.postMessage({ channel: CHANNEL, text: "parent" });
    const r1 = await client.chat.postMessage({ channel: CHANNEL, text: "event 1", thread_ts: parent.ts! });
    await client.chat.postMessage({ channel: CHANNEL, text: "event 2", thread_ts: r1.ts! });

    expect(peer.messages(CHANNEL).map((m) => m.text)).toEqual(["parent"]);
    expect(peer.thread(CHANNEL, parent.ts!).map((m) => [m.text, m.thread_ts])).toEqual([
      ["event 1", parent.ts],
      ["event 2", parent.ts],
    ]);
    expect(peer.message(CHANNEL, parent.ts!)).toMatchObject({ reply_count: 2, thread_ts: parent.ts });

    const replies = await client.conversations.replies({ channel: CHANNEL, ts: parent.ts! });
    expect(replies.messages?.map((m) => m.text)).toEqual(["parent", "event 1", "event 2"]);
  });

  it("a thread_ts that is no message is refused", async () => {
    const err = await slackError(client.chat.postMessage({ channel: CHANNEL, text: "x", thread_ts: "1600000000.000000" }));
    expect(err.error).toBe("thread_not_found");
  });

  it("chat.postEphemeral is visible only through ephemeralsFor(user)", async () => {
    const res = await client.chat.postEphemeral({ channel: CHANNEL, user: "U0ALICE", text: "only you can see this" });
    expect(res.message_ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(peer.ephemeralsFor("U0ALICE")).toEqual([
      expect.objectContaining({ channel: CHANNEL, user: "U0ALICE", text: "only you can see this", via: "chat.postEphemeral" }),
    ]);
    expect(peer.ephemeralsFor("U0BOB")).toEqual([]);
    expect(peer.messages(CHANNEL)).toEqual([]);
  });

  it("answers channel errors as HTTP 200 ok:false", async () => {
    expect((await slackError(client.chat.postMessage({ channel: "C0NOPE", text: "x" }))).error).toBe("channel_not_found");
    expect((await slackError(client.chat.postMessage({ channel: "C0OUTSIDE", text: "x" }))).error).toBe("not_in_channel");
    // An ephemeral too needs the bot in the channel: the start form then falls back to a direct message.
    expect((await slackError(client.chat.postEphemeral({ channel: "C0OUTSIDE", user: "U0ALICE", text: "x" }))).error).toBe("not_in_channel");
    expect((await slackError(client.chat.postMessage({ channel: CHANNEL, text: "" }))).error).toBe("no_text");
    expect(peer.calls.map((c) => [c.status, c.error])).toEqual([
      [200, "channel_not_found"],
      [200, "not_in_channel"],
      [200, "not_in_channel"],
      [200, "no_text"],
    ]);
  });

  it("posting to a user id lands in a DM channel", async () => {
    const res = await client.chat.postMessage({ channel: "U0ALICE", text: "your rollout is waiting" });
    expect(res.channel).toBe("D0ALICE");
    expect(peer.messages("D0ALICE").map((m) => m.text)).toEqual(["your rollout is waiting"]);
  });

  it("chat.getPermalink, users.info, usergroups and conversations.info answer from the seeded workspace", async () => {
    const { ts } = await client.chat.postMessage({ channel: CHANNEL, text: "x" });
    const link = await client.chat.getPermalink({ channel: CHANNEL, message_ts: ts! });
    expect(link.permalink).toBe(`${peer.url}/archives/${CHANNEL}/p${ts!.replace(".", "")}`);
    expect((await slackError(client.chat.getPermalink({ channel: CHANNEL, message_ts: "1.000001" }))).error).toBe("message_not_found");

    const alice = await client.users.info({ user: "U0ALICE" });
    expect(alice.user).toMatchObject({ id: "U0ALICE", name: "alice", is_admin: true, profile: { email: "alice@example.com" } });
    expect((await slackError(client.users.info({ user: "U0GHOST" }))).error).toBe("user_not_found");

    expect((await client.usergroups.users.list({ usergroup: "S0SRE" })).users).toEqual(["U0ALICE", "U0BOB"]);
    expect((await slackError(client.usergroups.users.list({ usergroup: "S0NONE" }))).error).toBe("no_such_subteam");
    const groups = await client.usergroups.list({ include_users: true });
    expect(groups.usergroups).toEqual([expect.objectContaining({ id: "S0SRE", handle: "sre", users: ["U0ALICE", "U0BOB"] })]);

    const info = await client.conversations.info({ channel: CHANNEL });
    expect(info.channel).toMatchObject({ id: CHANNEL, name: "deploys", is_member: true });
  });

  it("message ts values are unique and increasing, even for concurrent posts", async () => {
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => client.chat.postMessage({ channel: CHANNEL, text: `m${i}` })));
    const stamps = peer.messages(CHANNEL).map((m) => m.ts);
    expect(new Set(results.map((r) => r.ts)).size).toBe(40);
    expect(stamps).toEqual([...stamps].sort((a, b) => Number(a) - Number(b)));
    expect(new Set(stamps).size).toBe(40);
  });

  it("wrong token is invalid_auth, no token is not_authed, and neither changes anything", async () => {
    const wrong = new WebClient("xoxb-wrong", { slackApiUrl: peer.apiUrl, logger: recordingLogger() });
    expect((await slackError(wrong.chat.postMessage({ channel: CHANNEL, text: "x" }))).error).toBe("invalid_auth");
    const none = new WebClient(undefined, { slackApiUrl: peer.apiUrl, logger: recordingLogger() });
    expect((await slackError(none.chat.postMessage({ channel: CHANNEL, text: "x" }))).error).toBe("not_authed");
    expect(peer.messages(CHANNEL)).toEqual([]);
  });

  it("unknown methods answer unknown_method", async () => {
    expect((await slackError(client.apiCall("chat.teleport", {}))).error).toBe("unknown_method");
  });

  it("failNext makes the next call fail without touching the store", async () => {
    peer.failNext("chat.update", "internal_error");
    const { ts } = await client.chat.postMessage({ channel: CHANNEL, text: "v1" });
    expect((await slackError(client.chat.update({ channel: CHANNEL, ts: ts!, text: "v2" }))).error).toBe("internal_error");
    expect(peer.message(CHANNEL, ts!)?.text).toBe("v1");
    await client.chat.update({ channel: CHANNEL, ts: ts!, text: "v2" });
    expect(peer.message(CHANNEL, ts!)?.text).toBe("v2");
  });
});

describe("rate limits", () => {
  it("a 429 with Retry-After is waited out and retried by WebClient, leaving exactly one message", async () => {
    peer.rateLimit("chat.postMessage", { retryAfterSeconds: 1, times: 1 });
    // Default retry policy, as the bot would use it: the client pauses for Retry-After, then retries.
    const started = Date.now();
    const res = await client.chat.postMessage({ channel: CHANNEL, text: "once" });
    const elapsed = Date.now() - started;

    expect(res.ok).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(peer.callsOf("chat.postMessage").map((c) => [c.status, c.error ?? "ok"])).toEqual([
      [429, "ratelimited"],
      [200, "ok"],
    ]);
    expect(peer.messages(CHANNEL).map((m) => m.text)).toEqual(["once"]);
  });

  it("the 429 answer carries Retry-After and a ratelimited body; the call changes nothing", async () => {
    const { ts } = await client.chat.postMessage({ channel: CHANNEL, text: "v1" });
    peer.rateLimit("chat.update", { retryAfterSeconds: 7, times: 2 });
    const raw = await fetch(`${peer.apiUrl}chat.update`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${TOKEN}` },
      body: new URLSearchParams({ channel: CHANNEL, ts: ts!, text: "v2" }).toString(),
    });
    expect(raw.status).toBe(429);
    expect(raw.headers.get("retry-after")).toBe("7");
    expect(await raw.json()).toEqual({ ok: false, error: "ratelimited" });
    expect(peer.message(CHANNEL, ts!)).toMatchObject({ text: "v1", history: [] });

    // A client told not to retry sees the rate limit as an error (the second of the two 429s).
    const impatient = new WebClient(TOKEN, { slackApiUrl: peer.apiUrl, logger: recordingLogger(), rejectRateLimitedCalls: true });
    await expect(impatient.chat.update({ channel: CHANNEL, ts: ts!, text: "v2" })).rejects.toMatchObject({
      code: ErrorCode.RateLimitedError,
      retryAfter: 7,
    });
    expect(peer.message(CHANNEL, ts!)?.text).toBe("v1");
    // The limit is used up: the next call goes through.
    await impatient.chat.update({ channel: CHANNEL, ts: ts!, text: "v2" });
    expect(peer.message(CHANNEL, ts!)?.text).toBe("v2");
    expect(peer.callsOf("chat.update").map((c) => c.retryAfterSeconds)).toEqual([7, 7, undefined]);
  });
});

describe("slow answers", () => {
  it("delayNext answers late; a client that gave up is recorded as gone, and the call still took effect", async () => {
    const { ts } = await client.chat.postMessage({ channel: CHANNEL, text: "v1" });
    peer.delayNext("chat.update", { delayMs: 300, times: 2 });
    const started = Date.now();
    await client.chat.update({ channel: CHANNEL, ts: ts!, text: "v2" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);

    const hasty = new WebClient(TOKEN, { slackApiUrl: peer.apiUrl, logger: recordingLogger(), timeout: 100, retryConfig: { retries: 0 } });
    await expect(hasty.chat.update({ channel: CHANNEL, ts: ts!, text: "v3" })).rejects.toMatchObject({ code: ErrorCode.RequestError });
    await new Promise((r) => setTimeout(r, 400));
    expect(peer.callsOf("chat.update").map((c) => [c.delayedMs, c.clientGone ?? false, c.ok])).toEqual([
      [300, false, true],
      [300, true, true],
    ]);
    expect(peer.message(CHANNEL, ts!)?.text).toBe("v3");
  });
});
