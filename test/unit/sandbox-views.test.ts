import { describe, expect, it } from "vitest";
import type { StoredMessage } from "../../sandbox/peers/slack/index.ts";
import { channelView } from "../../sandbox/views/state.ts";

function msg(ts: string, extra: Partial<StoredMessage> = {}): StoredMessage {
  return { channel: "C1", ts, user: "U1", team: "T1", text: `m${ts}`, history: [], deleted: false, via: "chat.postMessage", at: 0, ...extra };
}

describe("the sandbox page's channel view", () => {
  it("shows parents and broadcast replies in the channel, every reply in its thread, and no deleted message", () => {
    const view = channelView([
      msg("1.0", { thread_ts: "1.0", reply_count: 2 }),
      msg("2.0", { thread_ts: "1.0" }),
      msg("3.0", { thread_ts: "1.0", reply_broadcast: true }),
      msg("4.0", { deleted: true }),
      msg("5.0", { edited: { user: "U1", ts: "6.0" } }),
    ]);
    expect(view.messages.map((m) => [m.ts, m.replyCount, m.broadcast, m.edited])).toEqual([
      ["1.0", 2, false, false],
      ["3.0", 0, true, false],
      ["5.0", 0, false, true],
    ]);
    expect(Object.fromEntries(Object.entries(view.threads).map(([k, v]) => [k, v.map((m) => m.ts)]))).toEqual({ "1.0": ["2.0", "3.0"] });
  });
});
