import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { WebClient } from "@slack/web-api";
import { SlackDriver, startSlackPeer, verifySlackSignature, type SlackPeer } from "../../../sandbox/peers/slack/index.ts";
import { recordingLogger } from "../../../sandbox/peers/slack/recording-logger.ts";

const TOKEN = "xoxb-driver";
const SECRET = "driver-signing-secret";
const CHANNEL = "C0DRIVE";
const ALICE = "U0ALICE";

interface Received {
  headers: IncomingHttpHeaders;
  rawBody: string;
  verdict: ReturnType<typeof verifySlackSignature>;
}

/**
 * Stands in for the bot's receiver: checks the signature with our own verifier and the Content-Type
 * exactly as Bolt does, records what arrived, and answers 401/415 like a receiver that refuses.
 */
let received: Received[] = [];
/** What the stand-in answers a signed request with (an empty 200 when unset). */
let answer: { contentType: string; body: string } | undefined;
let server: Server;
let botUrl: string;
let peer: SlackPeer;
let driver: SlackDriver;
let client: WebClient;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const rawBody = Buffer.concat(chunks).toString("utf8");
      const header = (n: string) => {
        const v = req.headers[n];
        return Array.isArray(v) ? v[0] : v;
      };
      const verdict = verifySlackSignature({
        signingSecret: SECRET,
        rawBody,
        timestamp: header("x-slack-request-timestamp"),
        signature: header("x-slack-signature"),
      });
      received.push({ headers: req.headers, rawBody, verdict });
      if (!verdict.ok) {
        res.writeHead(401, { "content-type": "text/plain" }).end(verdict.reason);
      } else if (req.headers["content-type"] !== "application/x-www-form-urlencoded") {
        res.writeHead(415, { "content-type": "text/plain" }).end("unsupported content type");
      } else {
        res.writeHead(200, answer ? { "content-type": answer.contentType } : {}).end(answer?.body ?? "");
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  botUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
  peer = await startSlackPeer({
    botToken: TOKEN,
    channels: [{ id: CHANNEL, name: "deploys" }],
    users: [{ id: ALICE, name: "alice" }],
  });
  driver = new SlackDriver({ botUrl, signingSecret: SECRET, peer });
  client = new WebClient(TOKEN, { slackApiUrl: peer.apiUrl, logger: recordingLogger() });
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await peer.close();
});
beforeEach(() => {
  received = [];
  answer = undefined;
  peer.reset();
});

const only = (): Received => {
  expect(received).toHaveLength(1);
  return received[0]!;
};

async function postRolloutMessage(): Promise<string> {
  const { ts } = await client.chat.postMessage({
    channel: CHANNEL,
    text: "checkout at 10%",
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: "*checkout* 10%" } },
      {
        type: "actions",
        block_id: "rollout:r1",
        elements: [
          { type: "button", action_id: "advance", text: { type: "plain_text", text: "Advance" }, value: "r1:3", style: "primary" },
          { type: "button", action_id: "abort", text: { type: "plain_text", text: "Abort" }, value: "r1:3", style: "danger" },
        ],
      },
    ],
  });
  return ts!;
}

describe("SlackDriver.slash", () => {
  it("sends a signed, exactly form-encoded slash command with Slack's fields", async () => {
    const before = Math.floor(Date.now() / 1000);
    answer = { contentType: "application/json", body: JSON.stringify({ text: "ack" }) };
    const res = await driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start checkout --to 10% & wait" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ text: "ack" });

    const got = only();
    expect(got.verdict).toEqual({ ok: true });
    expect(got.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(Number(got.headers["x-slack-request-timestamp"])).toBeGreaterThanOrEqual(before);
    expect(got.rawBody).toBe(res.rawBody);

    const fields = Object.fromEntries(new URLSearchParams(got.rawBody));
    expect(fields).toEqual({
      token: expect.any(String),
      team_id: peer.teamId,
      team_domain: peer.teamDomain,
      channel_id: CHANNEL,
      channel_name: "deploys",
      user_id: ALICE,
      user_name: "alice",
      command: "/rollout",
      text: "start checkout --to 10% & wait",
      api_app_id: peer.appId,
      is_enterprise_install: "false",
      response_url: res.responseUrl,
      trigger_id: expect.stringMatching(/^\d+\.\d+\.[0-9a-f]{32}$/),
    });
    // Slack encodes spaces as '+', like its documented example body.
    expect(got.rawBody).toContain("text=start+checkout+--to+10%25+%26+wait");
    expect(res.responseUrl.startsWith(`${peer.url}/response/`)).toBe(true);
  });

  it("the response_url it hands out delivers ephemerally to the user who typed", async () => {
    const res = await driver.slash({ userId: ALICE, channelId: CHANNEL, text: "help", command: "/rollout-staging" });
    expect(new URLSearchParams(only().rawBody).get("command")).toBe("/rollout-staging");
    await fetch(res.responseUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text: "usage" }) });
    expect(peer.ephemeralsFor(ALICE).map((e) => [e.channel, e.text])).toEqual([[CHANNEL, "usage"]]);
  });

  it("unknown users and channels are created, since whoever typed exists in Slack", async () => {
    await driver.slash({ userId: "U0NEWBIE", channelId: "C0FRESH", text: "list" });
    expect(peer.user("U0NEWBIE")).toBeDefined();
    expect(peer.channel("C0FRESH")).toBeDefined();
  });
});

describe("a slash command's answer in its own 200 (Slack's immediate response)", () => {
  const typed = async (body: string, contentType = "application/json") => {
    answer = { contentType, body };
    return driver.slash({ userId: ALICE, channelId: CHANNEL, text: "status" });
  };
  const postTo = (url: string, body: unknown) => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

  it("a JSON message is shown to the person who typed, as a response_url post is, and is no post to it", async () => {
    const blocks = [{ type: "section", text: { type: "mrkdwn", text: "*checkout* 10%" } }];
    const res = await typed(JSON.stringify({ response_type: "ephemeral", text: "checkout at 10%", blocks }));
    expect(peer.ephemeralsFor(ALICE)).toEqual([
      expect.objectContaining({ channel: CHANNEL, text: "checkout at 10%", via: "ack", responseUrlId: expect.any(String) }),
    ]);
    expect(peer.ephemeralsFor(ALICE)[0]?.blocks?.[0]).toMatchObject(blocks[0]!);
    expect(peer.responses(res.responseUrl)).toEqual([expect.objectContaining({ via: "ack", status: 200, effect: "ephemeral", text: "checkout at 10%" })]);
    expect(peer.messages(CHANNEL)).toEqual([]);
    // The URL keeps all five of its posts.
    for (let i = 1; i <= 5; i++) expect((await postTo(res.responseUrl, { text: `later ${i}` })).status).toBe(200);
    expect((await postTo(res.responseUrl, { text: "one too many" })).status).toBe(404);
    expect(peer.responses(res.responseUrl).map((p) => [p.via, p.status])).toEqual([
      ["ack", 200],
      ...[1, 2, 3, 4, 5].map(() => ["response_url", 200]),
      ["response_url", 404],
    ]);
  });

  it("in_channel posts it to the channel; without response_type it is ephemeral", async () => {
    await typed(JSON.stringify({ response_type: "in_channel", text: "everyone sees this" }));
    expect(peer.messages(CHANNEL)).toEqual([expect.objectContaining({ text: "everyone sees this", via: "ack", user: peer.botUserId })]);
    await typed(JSON.stringify({ text: "only alice" }));
    expect(peer.ephemeralsFor(ALICE).map((e) => e.text)).toEqual(["only alice"]);
  });

  it("an empty 200, or JSON with nothing to show, is a plain ack; a refusal shows nothing", async () => {
    const empty = await driver.slash({ userId: ALICE, channelId: CHANNEL, text: "status" });
    const bare = await typed(JSON.stringify({ response_type: "in_channel" }));
    const refused = await driver.slash({ userId: ALICE, channelId: CHANNEL, text: "status", signatureOverride: "v0=00" });
    expect(refused.status).toBe(401);
    for (const r of [empty, bare, refused]) expect(peer.responses(r.responseUrl)).toEqual([]);
    expect(peer.ephemeralsFor(ALICE)).toEqual([]);
  });

  it("text that is not sent as JSON is shown as it is, JSON-looking or not", async () => {
    await typed("It's 80 degrees right now.", "text/plain; charset=utf-8");
    await typed(JSON.stringify({ text: "hi" }), "text/plain; charset=utf-8");
    expect(peer.ephemeralsFor(ALICE).map((e) => e.text)).toEqual(["It's 80 degrees right now.", '{"text":"hi"}']);
  });

  it("a body that says JSON but is not, or blocks Slack refuses, is refused and shows nothing", async () => {
    const broken = await typed("{not json");
    const badBlocks = await typed(JSON.stringify({ text: "x", blocks: [{ type: "section" }] }));
    expect(peer.responses(broken.responseUrl)).toEqual([expect.objectContaining({ via: "ack", effect: "rejected", error: "invalid_payload" })]);
    expect(peer.responses(badBlocks.responseUrl)).toEqual([expect.objectContaining({ via: "ack", effect: "rejected", error: "invalid_blocks" })]);
    expect(peer.ephemeralsFor(ALICE)).toEqual([]);
  });
});

describe("SlackDriver signing options", () => {
  const slash = (opts: Parameters<SlackDriver["slash"]>[0] extends infer T ? Partial<T> : never) =>
    driver.slash({ userId: ALICE, channelId: CHANNEL, text: "status", ...opts });

  it("omitSignature / omitTimestamp leave the headers out", async () => {
    expect((await slash({ omitSignature: true })).status).toBe(401);
    expect(received[0]?.headers["x-slack-signature"]).toBeUndefined();
    expect((await slash({ omitTimestamp: true })).status).toBe(401);
    expect(received[1]?.headers["x-slack-request-timestamp"]).toBeUndefined();
    expect(received.map((r) => r.verdict)).toEqual([
      { ok: false, reason: "missing_headers" },
      { ok: false, reason: "missing_headers" },
    ]);
  });

  it("signatureOverride and tamperBody produce a signature that does not match", async () => {
    const forged = await slash({ signatureOverride: "v0=deadbeef" });
    expect(forged).toMatchObject({ status: 401, text: "bad_signature" });
    expect(received[0]?.headers["x-slack-signature"]).toBe("v0=deadbeef");

    const tampered = await slash({ tamperBody: true });
    expect(tampered).toMatchObject({ status: 401, text: "bad_signature" });
    expect(received[1]?.rawBody.endsWith("&tampered=1")).toBe(true);
  });

  it("timestampOverride signs an old request correctly, which is refused only for its age", async () => {
    const old = Math.floor(Date.now() / 1000) - 600;
    const res = await slash({ timestampOverride: old });
    expect(res).toMatchObject({ status: 401, text: "stale" });
    const got = only();
    expect(got.headers["x-slack-request-timestamp"]).toBe(String(old));
    const withinWindow = verifySlackSignature({
      signingSecret: SECRET,
      rawBody: got.rawBody,
      timestamp: String(old),
      signature: String(got.headers["x-slack-signature"]),
      nowSeconds: old,
    });
    expect(withinWindow).toEqual({ ok: true });
  });

  it("contentType overrides the exact Content-Type", async () => {
    const res = await slash({ contentType: "application/x-www-form-urlencoded; charset=utf-8" });
    expect(res.status).toBe(415);
  });
});

describe("SlackDriver.click", () => {
  it("sends a block_actions payload built from the stored message and the rendered button", async () => {
    const ts = await postRolloutMessage();
    const button = peer.findButton(CHANNEL, ts, "Advance");
    expect(button).toEqual({ action_id: "advance", block_id: "rollout:r1", value: "r1:3", text: "Advance", style: "primary" });

    const res = await driver.click({ userId: ALICE, channelId: CHANNEL, messageTs: ts, button });
    expect(res.status).toBe(200);
    const got = only();
    expect(got.verdict).toEqual({ ok: true });
    expect(got.headers["content-type"]).toBe("application/x-www-form-urlencoded");

    const form = new URLSearchParams(got.rawBody);
    expect([...form.keys()]).toEqual(["payload"]);
    const payload = JSON.parse(form.get("payload")!) as Record<string, unknown>;
    expect(payload).toMatchObject({
      type: "block_actions",
      user: { id: ALICE, username: "alice", name: "alice", team_id: peer.teamId },
      api_app_id: peer.appId,
      token: expect.any(String),
      container: { type: "message", message_ts: ts, channel_id: CHANNEL, is_ephemeral: false },
      trigger_id: expect.any(String),
      team: { id: peer.teamId, domain: peer.teamDomain },
      channel: { id: CHANNEL, name: "deploys" },
      response_url: res.responseUrl,
      actions: [
        {
          type: "button",
          action_id: "advance",
          block_id: "rollout:r1",
          text: { type: "plain_text", text: "Advance" },
          value: "r1:3",
          action_ts: expect.stringMatching(/^\d{10}\.\d{6}$/),
        },
      ],
    });
    expect(payload.message).toEqual(peer.renderMessage(peer.message(CHANNEL, ts)!));
    expect(payload.message).toMatchObject({ ts, text: "checkout at 10%", bot_id: peer.botId, user: peer.botUserId });
  });

  it("clickButton finds the button by text and replace_original through its response_url edits that message", async () => {
    const ts = await postRolloutMessage();
    const res = await driver.clickButton({ userId: ALICE, channelId: CHANNEL, messageTs: ts, matcher: /abort/i });
    const payload = JSON.parse(new URLSearchParams(only().rawBody).get("payload")!) as { actions: Array<{ action_id: string }> };
    expect(payload.actions[0]?.action_id).toBe("abort");

    await fetch(res.responseUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ replace_original: true, text: "aborted" }),
    });
    expect(peer.message(CHANNEL, ts)?.text).toBe("aborted");
  });

  it("refuses to click a button the message does not show, unless told the click is stale", async () => {
    const ts = await postRolloutMessage();
    const button = peer.findButton(CHANNEL, ts, "advance");
    await client.chat.update({ channel: CHANNEL, ts, text: "done", blocks: [{ type: "section", text: { type: "plain_text", text: "done" } }] });

    await expect(driver.click({ userId: ALICE, channelId: CHANNEL, messageTs: ts, button })).rejects.toThrow(/not in message/);
    expect(received).toEqual([]);
    expect(() => peer.findButton(CHANNEL, ts, "Advance")).toThrow(/0 buttons match/);

    const res = await driver.click({ userId: ALICE, channelId: CHANNEL, messageTs: ts, button, stale: true });
    expect(res.status).toBe(200);
    const payload = JSON.parse(new URLSearchParams(only().rawBody).get("payload")!) as Record<string, unknown>;
    expect(payload).toMatchObject({ actions: [{ action_id: "advance", value: "r1:3" }], message: { text: "done" } });
  });

  it("a click in a thread reply names the thread in its container", async () => {
    const parent = await postRolloutMessage();
    const { ts } = await client.chat.postMessage({
      channel: CHANNEL,
      thread_ts: parent,
      text: "retry?",
      blocks: [{ type: "actions", elements: [{ type: "button", action_id: "retry", text: { type: "plain_text", text: "Retry" } }] }],
    });
    await driver.clickButton({ userId: ALICE, channelId: CHANNEL, messageTs: ts!, matcher: "retry" });
    const payload = JSON.parse(new URLSearchParams(only().rawBody).get("payload")!) as Record<string, unknown>;
    expect(payload.container).toMatchObject({ message_ts: ts, thread_ts: parent });
    expect(payload.message).toMatchObject({ ts, thread_ts: parent });
  });

  it("clicks on an ephemeral message say so and carry no message", async () => {
    const { message_ts } = await client.chat.postEphemeral({
      channel: CHANNEL,
      user: ALICE,
      text: "Really abort?",
      blocks: [{ type: "actions", elements: [{ type: "button", action_id: "confirm-abort", text: { type: "plain_text", text: "Yes" } }] }],
    });
    await expect(driver.clickButton({ userId: "U0BOB", channelId: CHANNEL, messageTs: message_ts!, matcher: "Yes" })).rejects.toThrow(
      /cannot click an ephemeral/,
    );

    await driver.clickButton({ userId: ALICE, channelId: CHANNEL, messageTs: message_ts!, matcher: "Yes" });
    const payload = JSON.parse(new URLSearchParams(only().rawBody).get("payload")!) as Record<string, unknown>;
    expect(payload.container).toMatchObject({ message_ts, is_ephemeral: true });
    expect(payload).not.toHaveProperty("message");
  });
});

describe("SlackDriver.pickInView", () => {
  const option = (v: string) => ({ text: { type: "plain_text" as const, text: v }, value: v });
  async function openModal(dispatch: boolean): Promise<string> {
    const res = await client.views.open({
      trigger_id: peer.surfaces.issueTrigger(ALICE),
      view: {
        type: "modal",
        callback_id: "form",
        title: { type: "plain_text", text: "Form" },
        submit: { type: "plain_text", text: "Go" },
        blocks: [
          {
            type: "input",
            block_id: "target",
            ...(dispatch ? { dispatch_action: true } : {}),
            label: { type: "plain_text", text: "Target" },
            element: { type: "static_select", action_id: "pick", options: [option("web"), option("cart")] },
          },
          { type: "input", block_id: "other", label: { type: "plain_text", text: "Other" }, element: { type: "plain_text_input", action_id: "x" } },
        ],
      },
    });
    return res.view!.id!;
  }

  it("sends the block_actions Slack sends for a dispatching select in a modal: container view, the view with its hash and state", async () => {
    const viewId = await openModal(true);
    await driver.pickInView({
      userId: ALICE,
      viewId,
      blockId: "target",
      value: "cart",
      values: { other: { x: { type: "plain_text_input", value: "typed" } } },
    });
    const payload = JSON.parse(new URLSearchParams(only().rawBody).get("payload")!) as Record<string, any>;
    expect(payload).toMatchObject({ type: "block_actions", container: { type: "view", view_id: viewId } });
    expect(payload.actions).toEqual([
      expect.objectContaining({ type: "static_select", action_id: "pick", block_id: "target", selected_option: expect.objectContaining({ value: "cart" }) }),
    ]);
    expect(payload.view).toMatchObject({ id: viewId, hash: peer.surfaces.views.get(viewId)!.hash, callback_id: "form" });
    expect(payload.view.state.values).toMatchObject({ other: { x: { value: "typed" } }, target: { pick: { selected_option: { value: "cart" } } } });
    expect(payload).not.toHaveProperty("response_url");
  });

  it("keeps what was entered across views.update while the block_id and action_id stay, as Slack's client does", async () => {
    const viewId = await openModal(true);
    await driver.pickInView({
      userId: ALICE,
      viewId,
      blockId: "target",
      value: "cart",
      values: { other: { x: { type: "plain_text_input", value: "typed" } } },
    });
    const next = (blocks: unknown[]) =>
      client.views.update({
        view_id: viewId,
        view: { type: "modal", title: { type: "plain_text", text: "Form" }, submit: { type: "plain_text", text: "Go" }, blocks: blocks as never },
      });
    const target = peer.surfaces.views.get(viewId)!.blocks[0]!;
    const other = (blockId: string) => ({
      type: "input",
      block_id: blockId,
      label: { type: "plain_text", text: "Other" },
      element: { type: "plain_text_input", action_id: "x", initial_value: "prefill" },
    });
    const stateOf = (res: { view?: unknown }) => (res.view as { state: { values: Record<string, unknown> } }).state.values;
    const kept = await next([target, other("other")]);
    expect(stateOf(kept)).toEqual({
      target: { pick: expect.objectContaining({ selected_option: expect.objectContaining({ value: "cart" }) }) },
      other: { x: { type: "plain_text_input", value: "typed" } },
    });
    // A new block_id is a new field: what was typed in the old one is gone, and the prefill shows.
    const renamed = await next([target, other("other:cart")]);
    expect(Object.keys(stateOf(renamed))).toEqual(["target"]);
  });

  it("refuses a pick Slack would not send (no dispatch_action) or an option the select does not offer", async () => {
    const quiet = await openModal(false);
    await expect(driver.pickInView({ userId: ALICE, viewId: quiet, blockId: "target", value: "web" })).rejects.toThrow(/no dispatch_action/);
    const viewId = await openModal(true);
    await expect(driver.pickInView({ userId: ALICE, viewId, blockId: "target", value: "nope" })).rejects.toThrow(/offers no option nope/);
    expect(received).toEqual([]);
  });

  it("views.open refuses an initial_option that is not one of the options, as Slack does", async () => {
    const res = await fetch(`${peer.apiUrl}views.open`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({
        trigger_id: peer.surfaces.issueTrigger(ALICE),
        view: {
          type: "modal",
          title: { type: "plain_text", text: "Form" },
          submit: { type: "plain_text", text: "Go" },
          blocks: [
            {
              type: "input",
              label: { type: "plain_text", text: "Target" },
              element: { type: "static_select", action_id: "pick", options: [option("web")], initial_option: option("cart") },
            },
          ],
        },
      }),
    });
    expect(await res.json()).toMatchObject({ ok: false, error: "invalid_arguments" });
  });
});
