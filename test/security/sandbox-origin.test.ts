import { request } from "node:http";
import { connect } from "node:net";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSandboxServer, type SandboxServer } from "../../sandbox/server.ts";
import { SANDBOX_CHANNEL } from "../../sandbox/seed.ts";
import { randomSandboxPrefix, startWorld, type World } from "../../sandbox/world.ts";
import { REDIS_URL } from "../support/redis.ts";
import { sleep } from "../support/wait.ts";

/**
 * Issue 20, item 9: the sandbox drives a bot that takes whatever its page sends, so only the page may send.
 * The probes of the report: a `text/plain` POST with a foreign Origin started a rollout, a foreign Host got
 * 200, and the bot's ports bound 0.0.0.0. Now: JSON only, Origin and Host checked against the page's own
 * origin, and every port on 127.0.0.1 (a server bound to 0.0.0.0 would also answer on 127.0.0.2).
 */

const ALICE = "U0ALICE01";
let world: World;
let server: SandboxServer;
let origin = "";

beforeAll(async () => {
  world = await startWorld({
    redisUrl: REDIS_URL,
    keyPrefix: randomSandboxPrefix(),
    tickMs: 500,
    historyLength: 10,
    timing: { windowSeconds: 5, refreshSeconds: 5, autoNotice: "2s" },
    log: pino({ level: "silent" }),
  });
  server = await startSandboxServer(world, { port: 0 });
  origin = new URL(server.url).origin;
}, 60_000);
afterAll(async () => {
  await server?.close();
  await world?.close();
});

/** A request as a browser on another site (or a rebound DNS name) would send it; node's fetch would not let us set Host. */
function send(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  const u = new URL(path, server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: u.port, path: u.pathname + u.search, method: opts.method ?? "GET", headers: opts.headers ?? {} }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

const START = JSON.stringify({ user: ALICE, text: "start backend-svc --to backend-v2" });
const nothingHappened = async () => {
  await sleep(300);
  expect(world.slack.messages(SANDBOX_CHANNEL.id, { includeReplies: true })).toEqual([]);
  expect(world.slack.ephemeralsFor(ALICE)).toEqual([]);
  expect(await world.bot().store.active()).toEqual([]);
};

describe("the sandbox page's API takes only its own page's requests", () => {
  it("a cross-site text/plain POST (what a foreign page can send without asking) starts nothing", async () => {
    const res = await send("/api/command", {
      method: "POST",
      headers: { "content-type": "text/plain", origin: "http://evil.example", "sec-fetch-site": "cross-site" },
      body: START,
    });
    expect(res.status).toBe(403);
    expect(res.body).toContain("requests from http://evil.example are not taken");
    await nothingHappened();
  });

  it("a same-origin body that is not JSON is refused (415); a foreign Origin with JSON too (403)", async () => {
    expect((await send("/api/command", { method: "POST", headers: { "content-type": "text/plain", origin }, body: START })).status).toBe(415);
    expect(
      (await send("/api/command", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "user=U0ALICE01&text=list" }))
        .status,
    ).toBe(415);
    expect((await send("/api/command", { method: "POST", headers: { "content-type": "application/json", origin: "null" }, body: START })).status).toBe(403);
    expect(
      (await send("/api/command", { method: "POST", headers: { "content-type": "application/json", "sec-fetch-site": "cross-site" }, body: START })).status,
    ).toBe(403);
    await nothingHappened();
  });

  it("a foreign Host (DNS rebinding) gets 403 for the page, its state and its event stream", async () => {
    for (const path of ["/", `/api/state?user=${ALICE}`, `/api/events?user=${ALICE}`]) {
      const res = await send(path, { headers: { host: `attacker.example:${new URL(origin).port}` } });
      expect(res.status, path).toBe(403);
    }
  });

  it("the page's own request is taken (so the refusals above are about where they came from)", async () => {
    const res = await send("/api/command", {
      method: "POST",
      headers: { "content-type": "application/json", origin },
      body: JSON.stringify({ user: ALICE, text: "list" }),
    });
    expect(res).toEqual({ status: 200, body: JSON.stringify({ ok: true }) });
    expect((await send("/", { headers: { host: `localhost:${new URL(origin).port}` } })).status).toBe(200);
  });
});

describe("every port of the sandbox is on 127.0.0.1", () => {
  it("the page, the bot's Slack port and its health port answer on 127.0.0.1 only", async () => {
    const ports = [new URL(server.url).port, new URL(world.bot().url).port, new URL(world.bot().healthUrl).port].map(Number);
    const reachable = (host: string, port: number) =>
      new Promise<boolean>((resolve) => {
        const s = connect(port, host);
        s.once("connect", () => (s.destroy(), resolve(true)));
        s.once("error", () => resolve(false));
      });
    for (const port of ports) {
      expect(await reachable("127.0.0.1", port), `127.0.0.1:${port}`).toBe(true);
      expect(await reachable("127.0.0.2", port), `127.0.0.2:${port}`).toBe(false);
    }
  });
});
