import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WebClient } from "@slack/web-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSlackPeer, type SlackPeer } from "../../sandbox/peers/slack/index.ts";
import { recordingLogger } from "../../sandbox/peers/slack/recording-logger.ts";
import { SlackCallError } from "../../src/slack/errors.ts";
import { webApiPoster } from "../../src/slack/poster.ts";

/** Whether a failed reply to a starter is worth the job's retries: the error says so, from what Slack answered. */

const CHANNEL = "C0ERRORS";
const ALICE = "U0ALICE";

let peer: SlackPeer;
let broken: Server;
let brokenUrl: string;

beforeAll(async () => {
  peer = await startSlackPeer({ botToken: "xoxb-errors", channels: [{ id: CHANNEL, name: "errors" }], users: [{ id: ALICE }] });
  // A response_url host that is down for maintenance: it answers, but not with a reply.
  broken = createServer((_req, res) => res.writeHead(503).end("maintenance"));
  await new Promise<void>((resolve) => broken.listen(0, "127.0.0.1", resolve));
  brokenUrl = `http://127.0.0.1:${(broken.address() as AddressInfo).port}/response/x`;
});
afterAll(async () => {
  await peer.close();
  await new Promise((resolve) => broken.close(resolve));
});

async function failure(p: Promise<unknown>): Promise<SlackCallError> {
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SlackCallError);
  return err as SlackCallError;
}

describe("replies through a response_url", () => {
  const poster = () => webApiPoster(new WebClient("xoxb-errors", { slackApiUrl: peer.apiUrl, logger: recordingLogger() }));

  it("an expired response_url is refused for good: not transient, and nobody is told anything", async () => {
    const url = peer.newResponseUrl({ channelId: CHANNEL, userId: ALICE });
    peer.expireResponseUrl(url);
    const err = await failure(poster().respond(url, { text: "your start was rejected" }));
    expect(err.message).toBe("response_url answered 404");
    expect(err.transient).toBe(false);
    expect(peer.ephemeralsFor(ALICE)).toEqual([]);
  });

  it("a response_url whose server is failing is worth trying again", async () => {
    const err = await failure(poster().respond(brokenUrl, { text: "your start was rejected" }));
    expect(err.message).toBe("response_url answered 503");
    expect(err.transient).toBe(true);
  });

  it("a live response_url reaches the person, privately", async () => {
    const url = peer.newResponseUrl({ channelId: CHANNEL, userId: ALICE });
    await poster().respond(url, { text: "your start was rejected" });
    expect(peer.ephemeralsFor(ALICE).map((e) => e.text)).toEqual(["your start was rejected"]);
  });
});
