import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { App } from "@slack/bolt";
import { freePort } from "../../../sandbox/peers/net.ts";
import { waitFor } from "../../support/wait.ts";
import { SlackDriver, startSlackPeer, type SlackPeer } from "../../../sandbox/peers/slack/index.ts";
import { recordingLogger } from "../../../sandbox/peers/slack/recording-logger.ts";

/**
 * The peer and driver against a real Bolt 5 app (HTTPReceiver), wired the way the bot will be:
 * `clientOptions.slackApiUrl` at the peer, signed requests from the driver. A toy app, not the bot:
 * this proves the local Slack speaks Bolt's dialect (signature, form parsing, respond(), auth.test).
 */

const TOKEN = "xoxb-bolt";
const SECRET = "bolt-signing-secret";
const CHANNEL = "C0BOLT";
const ALICE = "U0ALICE";

let peer: SlackPeer;
let app: App;
let driver: SlackDriver;
const boltLog = recordingLogger();

beforeAll(async () => {
  peer = await startSlackPeer({ botToken: TOKEN, channels: [{ id: CHANNEL, name: "deploys" }], users: [{ id: ALICE, name: "alice" }] });
  app = new App({
    token: TOKEN,
    signingSecret: SECRET,
    clientOptions: { slackApiUrl: peer.apiUrl },
    logger: boltLog,
  });

  app.command("/rollout", async ({ ack, command, client, respond }) => {
    await ack();
    await client.chat.postMessage({
      channel: command.channel_id,
      text: `Rollout ${command.text}`,
      blocks: [
        { type: "section", text: { type: "mrkdwn", text: `*${command.text}* at 10%` } },
        {
          type: "actions",
          elements: [
            { type: "button", action_id: "advance", text: { type: "plain_text", text: "Advance" }, value: "r1", style: "primary" },
            {
              type: "button",
              action_id: "abort",
              text: { type: "plain_text", text: "Abort" },
              value: "r1",
              style: "danger",
              confirm: {
                title: { type: "plain_text", text: "Abort?" },
                text: { type: "plain_text", text: "All traffic returns to stable." },
                confirm: { type: "plain_text", text: "Abort" },
                deny: { type: "plain_text", text: "Keep going" },
              },
            },
          ],
        },
      ],
    });
    await respond({ text: `Started ${command.text} for <@${command.user_id}>` });
  });

  app.action("advance", async ({ ack, body, client, respond }) => {
    await ack();
    if (body.type !== "block_actions" || !body.channel || !body.message) throw new Error("unexpected payload");
    await client.chat.update({
      channel: body.channel.id,
      ts: body.message.ts,
      text: "at 25%",
      blocks: [{ type: "section", text: { type: "mrkdwn", text: "at 25%" } }],
    });
    await client.chat.postMessage({ channel: body.channel.id, thread_ts: body.message.ts, text: `advanced by <@${body.user.id}>` });
    await respond({ response_type: "ephemeral", replace_original: false, text: "You advanced r1" });
  });

  const port = await freePort();
  await app.start(port);
  driver = new SlackDriver({ botUrl: `http://127.0.0.1:${port}/slack/events`, signingSecret: SECRET, peer });
});
afterAll(async () => {
  await app.stop();
  await peer.close();
});
beforeEach(() => peer.reset());

describe("driver + peer with a real Bolt app", () => {
  it("a slash command is acked, posts via the Web API and answers through response_url", async () => {
    const res = await driver.slash({ userId: ALICE, channelId: CHANNEL, text: "checkout" });
    expect(res.status).toBe(200);

    const [msg] = await waitFor(() => (peer.messages(CHANNEL).length === 1 ? peer.messages(CHANNEL) : undefined));
    expect(msg).toMatchObject({ text: "Rollout checkout", user: peer.botUserId });
    await waitFor(() => peer.ephemeralsFor(ALICE).length === 1);
    expect(peer.ephemeralsFor(ALICE)[0]).toMatchObject({ text: "Started checkout for <@U0ALICE>", via: "response_url" });
    expect(peer.responses(res.responseUrl)).toHaveLength(1);
    // Bolt verifies its token with auth.test on the first request it handles (whichever test that is)
    // and runs no listener if that fails; every call it made here succeeded.
    expect(peer.calls.every((c) => c.ok && ["auth.test", "chat.postMessage"].includes(c.method))).toBe(true);
  });

  it("a click on the rendered button reaches the action handler, which updates, threads and replies", async () => {
    await driver.slash({ userId: ALICE, channelId: CHANNEL, text: "checkout" });
    const [msg] = await waitFor(() => (peer.messages(CHANNEL).length === 1 ? peer.messages(CHANNEL) : undefined));
    const ts = msg!.ts;

    const click = await driver.clickButton({ userId: ALICE, channelId: CHANNEL, messageTs: ts, matcher: "Advance" });
    expect(click.status).toBe(200);

    await waitFor(() => peer.message(CHANNEL, ts)?.text === "at 25%", { what: "chat.update" });
    await waitFor(() => peer.thread(CHANNEL, ts).length === 1, { what: "thread reply" });
    expect(peer.thread(CHANNEL, ts)[0]?.text).toBe("advanced by <@U0ALICE>");
    await waitFor(() => peer.responses(click.responseUrl).length === 1, { what: "respond()" });
    expect(peer.ephemeralsFor(ALICE).map((e) => e.text)).toContain("You advanced r1");
    expect(peer.message(CHANNEL, ts)?.history).toHaveLength(1);
  });

  it("Bolt refuses forged, tampered and stale requests with 401, and nothing reaches Slack", async () => {
    const forged = await driver.slash({ userId: ALICE, channelId: CHANNEL, text: "checkout", signatureOverride: "v0=00" });
    const tampered = await driver.slash({ userId: ALICE, channelId: CHANNEL, text: "checkout", tamperBody: true });
    const stale = await driver.slash({
      userId: ALICE,
      channelId: CHANNEL,
      text: "checkout",
      timestampOverride: Math.floor(Date.now() / 1000) - 301,
    });
    expect([forged.status, tampered.status, stale.status]).toEqual([401, 401, 401]);
    // A genuine request afterwards: once its message is there, the refused ones had their chance.
    await driver.slash({ userId: ALICE, channelId: CHANNEL, text: "genuine" });
    await waitFor(() => peer.messages(CHANNEL).length > 0);
    expect(peer.messages(CHANNEL).map((m) => m.text)).toEqual(["Rollout genuine"]);
    expect(peer.callsOf("chat.postMessage")).toHaveLength(1);
  });

  it("Bolt does not read a form whose Content-Type carries a charset (why the driver sends it exactly)", async () => {
    const res = await driver.slash({
      userId: ALICE,
      channelId: CHANNEL,
      text: "checkout",
      contentType: "application/x-www-form-urlencoded; charset=utf-8",
    });
    expect(res.status).toBe(400);
    expect(boltLog.lines.some((l) => l.level === "warn" && l.text.startsWith("Malformed request body"))).toBe(true);
    expect(peer.callsOf("chat.postMessage")).toEqual([]);
  });
});
