import { connect } from "node:net";
import { App } from "@slack/bolt";
import { Queue, Worker } from "bullmq";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RequestsFirst } from "../../src/queue/requests-first.ts";
import { StrictHttpReceiver } from "../../src/slack/receiver.ts";
import { SocketModeReceiver } from "../../src/slack/socket-receiver.ts";
import { signSlackRequest, startSlackPeer } from "../../sandbox/peers/slack/index.ts";
import { cleanupPrefix, randomPrefix, REDIS_URL, testRedis } from "../support/redis.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Issue 24: acks before jobs. While 3 or more Slack requests wait for their answer, the effect worker (a real BullMQ
 * Worker over the real Redis) takes at most `busy` jobs at once, and every job still runs exactly once; the
 * receivers (HTTP, Socket Mode) report every request's arrival and its answer exactly once, refused or
 * dropped ones too.
 */

const log = pino({ level: "silent" });
const connection = { url: REDIS_URL, maxRetriesPerRequest: null };

describe("the worker while Slack requests wait", () => {
  const redis = testRedis();
  const prefix = randomPrefix("reqfirst");
  let queue: Queue;
  let worker: Worker;
  let running = 0;
  const ran: string[] = [];
  const peaks: { held: number; free: number } = { held: 0, free: 0 };
  let phase: "held" | "free" = "held";
  const gate = new RequestsFirst({ busy: 2, idle: 16, holdAt: 3, quietMs: 20 });

  beforeAll(async () => {
    queue = new Queue("rf", { connection, prefix });
    worker = new Worker(
      "rf",
      async (job) => {
        running++;
        peaks[phase] = Math.max(peaks[phase], running);
        await sleep(100);
        running--;
        ran.push(job.id!);
      },
      { connection, prefix, concurrency: 16, autorun: false },
    );
    gate.attach(worker);
  });
  afterAll(async () => {
    await worker.close();
    await queue.close();
    await cleanupPrefix(redis, prefix);
    await redis.quit();
  });

  it("takes at most 2 jobs at once while 3 requests wait, 16 again once they are answered, each job once", async () => {
    // Two requests waiting (a click or two answered in milliseconds) do not hold the worker back; a third does.
    gate.arrived();
    gate.arrived();
    expect(worker.concurrency).toBe(16);
    gate.arrived();
    expect(worker.concurrency).toBe(2);
    await queue.addBulk(Array.from({ length: 60 }, (_, i) => ({ name: "j", data: {}, opts: { jobId: `j${i}` } })));
    void worker.run();
    // Work goes on meanwhile, two at a time.
    await waitFor(() => ran.length >= 10, { timeoutMs: 5_000, what: "jobs to run while the request waits" });
    expect(peaks.held).toBe(2);
    phase = "free";
    for (let i = 0; i < 3; i++) gate.answered();
    expect(gate.pending).toBe(0);
    await waitFor(() => worker.concurrency === 16 || undefined, { timeoutMs: 1_000, what: "the worker's concurrency back to 16" });
    await waitFor(() => ran.length === 60, { timeoutMs: 10_000, what: "every job to run" });
    expect(peaks.free).toBeGreaterThan(2);
    expect(new Set(ran).size).toBe(60);
  });

  it("stays held while 3 or more wait, and lets go once fewer have waited for a moment", async () => {
    for (let i = 0; i < 4; i++) gate.arrived();
    gate.answered();
    await sleep(60);
    expect(worker.concurrency).toBe(2);
    gate.answered();
    await waitFor(() => worker.concurrency === 16 || undefined, { timeoutMs: 1_000, what: "the worker's concurrency back to 16" });
    gate.answered();
    gate.answered();
    expect([gate.pending, worker.concurrency]).toEqual([0, 16]);
  });
});

describe("the HTTP receiver reports each request's wait", () => {
  const counts = { arrived: 0, answered: 0 };
  const secret = "signing-secret";
  let receiver: StrictHttpReceiver;
  let url = "";
  beforeAll(async () => {
    receiver = new StrictHttpReceiver({
      signingSecret: secret,
      port: 0,
      host: "127.0.0.1",
      log,
      waiting: { arrived: () => counts.arrived++, answered: () => counts.answered++ },
    });
    const app = new App({ receiver, authorize: async () => ({ botToken: "xoxb-test" }) });
    app.command("/rollout", async ({ ack }) => {
      await sleep(300);
      await ack();
    });
    await receiver.start();
    url = `http://127.0.0.1:${receiver.port}/slack/events`;
  });
  afterAll(async () => {
    await receiver.stop();
  });

  const signed = (body: string) => {
    const ts = Math.floor(Date.now() / 1000);
    return fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": String(ts),
        "x-slack-signature": signSlackRequest(secret, ts, body),
      },
      body,
    });
  };

  it("counts a command as waiting until its ack, and refused or dropped requests once each", async () => {
    const body = new URLSearchParams({
      command: "/rollout",
      text: "list",
      user_id: "U1",
      channel_id: "C1",
      team_id: "T1",
      response_url: "https://hooks.slack.com/x",
    }).toString();
    const answer = signed(body);
    await waitFor(() => counts.arrived === 1 || undefined, { timeoutMs: 2_000, what: "the command to arrive" });
    await sleep(100);
    expect(counts).toEqual({ arrived: 1, answered: 0 });
    expect((await answer).status).toBe(200);
    await waitFor(() => counts.answered === 1 || undefined, { timeoutMs: 2_000, what: "its answer" });

    const unsigned = await fetch(url, { method: "POST", body: "x=1" });
    expect(unsigned.status).toBe(401);
    // A client that announces a body and hangs up half-way.
    const socket = connect(receiver.port, "127.0.0.1");
    const ts = Math.floor(Date.now() / 1000);
    socket.write(
      `POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Slack-Request-Timestamp: ${ts}\r\nX-Slack-Signature: v0=${"ab".repeat(32)}\r\nContent-Length: 100\r\n\r\nabc`,
    );
    await waitFor(() => counts.arrived === 3 || undefined, { timeoutMs: 2_000, what: "the dropped request to arrive" });
    socket.destroy();
    await waitFor(() => (counts.answered === 3 ? true : undefined), { timeoutMs: 2_000, what: "the dropped request to count as answered" });
    await sleep(100);
    expect(counts).toEqual({ arrived: 3, answered: 3 });
  });
});

describe("the Socket Mode receiver reports each envelope's wait", () => {
  it("counts a command as waiting until its ack goes back on the socket", async () => {
    const appToken = "xapp-1-A0APP0001-local";
    const slack = await startSlackPeer({ botToken: "xoxb-test", appToken, channels: [{ id: "C1", name: "deploys" }] });
    const counts = { arrived: 0, answered: 0 };
    const receiver = new SocketModeReceiver({
      appToken,
      apiUrl: slack.apiUrl,
      log,
      waiting: { arrived: () => counts.arrived++, answered: () => counts.answered++ },
    });
    const app = new App({ receiver, authorize: async () => ({ botToken: "xoxb-test" }) });
    app.command("/rollout", async ({ ack }) => {
      await sleep(300);
      await ack();
    });
    try {
      await receiver.start();
      await waitFor(() => receiver.connected || undefined, { timeoutMs: 5_000, what: "the socket to connect" });
      const acked = slack.socket!.deliver("slash_commands", { command: "/rollout", text: "list", user_id: "U1", channel_id: "C1", team_id: "T1" });
      await waitFor(() => counts.arrived === 1 || undefined, { timeoutMs: 2_000, what: "the envelope to arrive" });
      await sleep(100);
      expect(counts).toEqual({ arrived: 1, answered: 0 });
      await acked;
      await waitFor(() => counts.answered === 1 || undefined, { timeoutMs: 2_000, what: "its ack" });
      await sleep(100);
      expect(counts).toEqual({ arrived: 1, answered: 1 });
    } finally {
      await receiver.stop();
      await slack.close();
    }
  });
});
