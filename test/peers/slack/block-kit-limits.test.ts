import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ErrorCode, WebClient, type WebAPIPlatformError } from "@slack/web-api";
import { startSlackPeer, type SlackPeer } from "../../../sandbox/peers/slack/index.ts";
import { recordingLogger } from "../../../sandbox/peers/slack/recording-logger.ts";

const TOKEN = "xoxb-limits";
const CHANNEL = "C0LIMITS";

let peer: SlackPeer;
let client: WebClient;
const clientLog = recordingLogger();

beforeAll(async () => {
  peer = await startSlackPeer({ botToken: TOKEN, channels: [{ id: CHANNEL, name: "limits" }], users: [{ id: "U0ALICE" }] });
  client = new WebClient(TOKEN, { slackApiUrl: peer.apiUrl, logger: clientLog });
});
afterAll(() => peer.close());
beforeEach(() => peer.reset());

// Deliberately looser than @slack/types: the point is to send what the typed builders would refuse.
type Block = { type: string; [key: string]: unknown };
const x = (n: number) => "x".repeat(n);
const plain = (text: string) => ({ type: "plain_text", text });
const section = (text: string): Block => ({ type: "section", text: { type: "mrkdwn", text } });
const button = (over: Record<string, unknown> = {}): Block => ({
  type: "button",
  text: plain("Go"),
  action_id: "go",
  value: "v",
  ...over,
});
const actions = (...elements: Block[]): Block => ({ type: "actions", elements });
const confirm = (over: Record<string, unknown> = {}) => ({
  title: plain("Abort?"),
  text: { type: "mrkdwn", text: "Traffic returns to stable." },
  confirm: plain("Abort"),
  deny: plain("Cancel"),
  ...over,
});
const buttons = (n: number) => Array.from({ length: n }, (_, i) => button({ action_id: `b${i}` }));

async function rejection(blocks: Block[], text = "fallback"): Promise<WebAPIPlatformError["data"]> {
  try {
    await client.chat.postMessage({ channel: CHANNEL, text, blocks });
  } catch (err) {
    const e = err as Partial<WebAPIPlatformError>;
    if (e.code === ErrorCode.PlatformError && e.data) return e.data;
    throw err;
  }
  throw new Error("expected the message to be rejected");
}

/** Each limit from PROTOCOLS.md section 8: the largest allowed value passes, one more is refused. */
const cases: Array<{ limit: string; atLimit: Block[]; over: Block[]; pointer: string }> = [
  {
    limit: "50 blocks per message",
    atLimit: Array.from({ length: 50 }, () => ({ type: "divider" })),
    over: Array.from({ length: 51 }, () => ({ type: "divider" })),
    pointer: "/blocks",
  },
  { limit: "section text <= 3000", atLimit: [section(x(3000))], over: [section(x(3001))], pointer: "/blocks/0/text/text" },
  {
    limit: "section <= 10 fields",
    atLimit: [{ type: "section", fields: Array.from({ length: 10 }, () => plain("f")) }],
    over: [{ type: "section", fields: Array.from({ length: 11 }, () => plain("f")) }],
    pointer: "/blocks/0/fields",
  },
  {
    limit: "section field <= 2000",
    atLimit: [{ type: "section", fields: [plain(x(2000))] }],
    over: [{ type: "section", fields: [plain("ok"), plain(x(2001))] }],
    pointer: "/blocks/0/fields/1/text",
  },
  {
    limit: "header plain_text <= 150",
    atLimit: [{ type: "header", text: plain(x(150)) }],
    over: [{ type: "header", text: plain(x(151)) }],
    pointer: "/blocks/0/text/text",
  },
  {
    limit: "header must be plain_text",
    atLimit: [{ type: "header", text: plain("Rollout") }],
    over: [{ type: "header", text: { type: "mrkdwn", text: "*Rollout*" } }],
    pointer: "/blocks/0/text/type",
  },
  {
    limit: "button text <= 75",
    atLimit: [actions(button({ text: plain(x(75)) }))],
    over: [actions(button({ text: plain(x(76)) }))],
    pointer: "/blocks/0/elements/0/text/text",
  },
  {
    limit: "button value <= 2000",
    atLimit: [actions(button({ value: x(2000) }))],
    over: [actions(button({ value: x(2001) }))],
    pointer: "/blocks/0/elements/0/value",
  },
  {
    limit: "action_id <= 255",
    atLimit: [actions(button({ action_id: x(255) }))],
    over: [actions(button({ action_id: x(256) }))],
    pointer: "/blocks/0/elements/0/action_id",
  },
  {
    limit: "block_id <= 255",
    atLimit: [{ ...section("s"), block_id: x(255) }],
    over: [{ ...section("s"), block_id: x(256) }],
    pointer: "/blocks/0/block_id",
  },
  {
    limit: "actions block <= 25 elements",
    atLimit: [actions(...buttons(25))],
    over: [actions(...buttons(26))],
    pointer: "/blocks/0/elements",
  },
  {
    limit: "confirm title <= 100",
    atLimit: [actions(button({ confirm: confirm({ title: plain(x(100)) }) }))],
    over: [actions(button({ confirm: confirm({ title: plain(x(101)) }) }))],
    pointer: "/blocks/0/elements/0/confirm/title/text",
  },
  {
    limit: "confirm text <= 300",
    atLimit: [actions(button({ confirm: confirm({ text: plain(x(300)) }) }))],
    over: [actions(button({ confirm: confirm({ text: plain(x(301)) }) }))],
    pointer: "/blocks/0/elements/0/confirm/text/text",
  },
  {
    limit: "confirm button <= 30",
    atLimit: [actions(button({ confirm: confirm({ confirm: plain(x(30)) }) }))],
    over: [actions(button({ confirm: confirm({ confirm: plain(x(31)) }) }))],
    pointer: "/blocks/0/elements/0/confirm/confirm/text",
  },
  {
    limit: "deny button <= 30",
    atLimit: [actions(button({ confirm: confirm({ deny: plain(x(30)) }) }))],
    over: [actions(button({ confirm: confirm({ deny: plain(x(31)) }) }))],
    pointer: "/blocks/0/elements/0/confirm/deny/text",
  },
  {
    limit: "section accessory button text <= 75",
    atLimit: [{ ...section("s"), accessory: button({ text: plain(x(75)) }) }],
    over: [{ ...section("s"), accessory: button({ text: plain(x(76)) }) }],
    pointer: "/blocks/0/accessory/text/text",
  },
  {
    // Slack documents the rule per containing block: an App Home board repeats each rollout's buttons.
    limit: "action_ids unique within a block",
    atLimit: [actions(button({ action_id: "advance" })), actions(button({ action_id: "advance" }))],
    over: [actions(button({ action_id: "advance" }), button({ action_id: "advance" }))],
    pointer: "/blocks/0/elements/1/action_id",
  },
  {
    limit: "block_ids unique within the message",
    atLimit: [
      { ...section("a"), block_id: "one" },
      { ...section("b"), block_id: "two" },
    ],
    over: [
      { ...section("a"), block_id: "one" },
      { ...section("b"), block_id: "one" },
    ],
    pointer: "/blocks/1/block_id",
  },
];

describe("Block Kit limits (chat.postMessage through @slack/web-api)", () => {
  it.each(cases)("$limit", async ({ atLimit, over, pointer }) => {
    const ok = await client.chat.postMessage({ channel: CHANNEL, text: "fallback", blocks: atLimit });
    expect(ok.ok).toBe(true);

    const err = await rejection(over);
    expect(err.error).toBe("invalid_blocks");
    const messages = err.response_metadata?.messages ?? [];
    expect(messages.some((m) => m.startsWith("[ERROR]") && m.endsWith(`[json-pointer:${pointer}]`))).toBe(true);
    // Only the at-limit message was stored.
    expect(peer.messages(CHANNEL)).toHaveLength(1);
  });

  it("reports every violation in one answer", async () => {
    const err = await rejection([section(x(3001)), { type: "header", text: plain(x(151)) }]);
    expect(err.response_metadata?.messages).toEqual([
      "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
      "[ERROR] must be less than 151 characters [json-pointer:/blocks/1/text/text]",
    ]);
    // WebClient picks these lines out of response_metadata and logs them as errors, so the bot's logs
    // will name the offending block.
    expect(clientLog.lines).toContainEqual({
      level: "error",
      text: "must be less than 151 characters [json-pointer:/blocks/1/text/text]",
    });
  });

  it("a whole message over ~12,000 characters is refused even when each block is within its limit", async () => {
    const ok = await client.chat.postMessage({
      channel: CHANNEL,
      text: "t",
      blocks: [section(x(3000)), section(x(3000)), section(x(3000)), section(x(2999))],
    });
    expect(ok.ok).toBe(true);
    const err = await rejection([section(x(3000)), section(x(3000)), section(x(3000)), section(x(3000))], "t");
    expect(err.error).toBe("msg_blocks_too_long");
    const plainErr = await client.chat.postMessage({ channel: CHANNEL, text: x(12_001) }).catch((e: WebAPIPlatformError) => e.data);
    expect(plainErr).toMatchObject({ ok: false, error: "msg_too_long" });
    expect(peer.messages(CHANNEL)).toHaveLength(1);
  });

  it("chat.update and chat.postEphemeral are held to the same limits and change nothing when refused", async () => {
    const { ts } = await client.chat.postMessage({ channel: CHANNEL, text: "v1", blocks: [section("v1")] });
    await expect(client.chat.update({ channel: CHANNEL, ts: ts!, text: "v2", blocks: [section(x(3001))] })).rejects.toMatchObject({
      data: { error: "invalid_blocks" },
    });
    expect(peer.message(CHANNEL, ts!)).toMatchObject({ text: "v1", history: [] });

    await expect(client.chat.postEphemeral({ channel: CHANNEL, user: "U0ALICE", text: "e", blocks: [actions(...buttons(26))] })).rejects.toMatchObject({
      data: { error: "invalid_blocks" },
    });
    expect(peer.ephemeralsFor("U0ALICE")).toEqual([]);
  });

  it("blocks that are not JSON are invalid_blocks_format", async () => {
    const res = await fetch(`${peer.apiUrl}chat.postMessage`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${TOKEN}` },
      body: new URLSearchParams({ channel: CHANNEL, text: "x", blocks: "[{not json" }).toString(),
    });
    expect(await res.json()).toEqual({ ok: false, error: "invalid_blocks_format" });
    expect(peer.messages(CHANNEL)).toEqual([]);
  });
});
