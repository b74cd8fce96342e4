import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebClient } from "@slack/web-api";
import { startSlackPeer, type SlackPeer } from "../../../sandbox/peers/slack/index.ts";
import { recordingLogger } from "../../../sandbox/peers/slack/recording-logger.ts";
import { SlackChannelVisibility } from "../../../src/slack/channel-visibility.ts";

/**
 * Issue 20: who can see a channel, as the local Slack answers it (conversations.info, conversations.members
 * with Slack's cursor pagination; a private channel the bot is not in does not exist to it), and the bot's
 * reading of it for reads: public or a member, cached, and no when Slack cannot say.
 */

const TOKEN = "xoxb-local-members";
let peer: SlackPeer;
let client: WebClient;
const many = Array.from({ length: 2_500 }, (_, i) => `U${String(i).padStart(6, "0")}`);

beforeAll(async () => {
  peer = await startSlackPeer({
    botToken: TOKEN,
    channels: [
      { id: "C0PUBLIC", name: "deploys" },
      { id: "G0PRIVATE", name: "incident", is_private: true },
      { id: "G0HIDDEN", name: "hr", is_private: true, botIsMember: false },
    ],
  });
  for (const u of many) peer.join("G0PRIVATE", u);
  peer.join("G0PRIVATE", "UALICE");
  client = new WebClient(TOKEN, { slackApiUrl: peer.apiUrl, logger: recordingLogger() });
});
afterAll(() => peer.close());

describe("conversations.members on the local Slack", () => {
  it("pages with Slack's cursor until next_cursor is empty", async () => {
    const first = await client.conversations.members({ channel: "G0PRIVATE", limit: 1000 });
    expect(first.members).toHaveLength(1000);
    expect(first.response_metadata?.next_cursor).toBeTruthy();
    const all: string[] = [...first.members!];
    let cursor = first.response_metadata!.next_cursor!;
    while (cursor) {
      const page = await client.conversations.members({ channel: "G0PRIVATE", limit: 1000, cursor });
      all.push(...page.members!);
      cursor = page.response_metadata?.next_cursor ?? "";
    }
    expect(all).toEqual([...many, "UALICE"]);
    await expect(client.conversations.members({ channel: "G0HIDDEN" })).rejects.toMatchObject({ data: { error: "channel_not_found" } });
    await expect(client.conversations.info({ channel: "G0HIDDEN" })).rejects.toMatchObject({ data: { error: "channel_not_found" } });
  });
});

describe("SlackChannelVisibility", () => {
  it("public: anyone; private: members only; hidden or failing: no; answers cached for the TTL", async () => {
    const v = new SlackChannelVisibility({ client, ttlMs: 60_000 });
    const calls = () => peer.callsOf("conversations.members").length + peer.callsOf("conversations.info").length;
    expect(await v.canSee("UMALLORY", "C0PUBLIC")).toBe(true);
    expect(await v.canSee("UALICE", "G0PRIVATE")).toBe(true);
    expect(await v.canSee("U002499", "G0PRIVATE")).toBe(true); // on the third page
    expect(await v.canSee("UMALLORY", "G0PRIVATE")).toBe(false);
    expect(await v.canSee("UALICE", "G0HIDDEN")).toBe(false);
    const made = calls();
    for (const u of ["UALICE", "UMALLORY", "UBOB"]) await v.canSee(u, "G0PRIVATE");
    expect(calls()).toBe(made);

    peer.failNext("conversations.info", "internal_error", 5);
    const fresh = new SlackChannelVisibility({ client, ttlMs: 60_000 });
    expect(await fresh.canSee("UMALLORY", "C0PUBLIC")).toBe(false);
  });
});
