import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSandboxServer, type SandboxServer } from "../../src/sandbox/server.ts";
import type { PageState } from "../../src/sandbox/views/state.ts";
import { randomSandboxPrefix, startWorld, type World } from "../../src/sandbox/world.ts";
import { REDIS_URL } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 22's Flagger sandbox story, through the page's API as the page calls it: deploy a new revision of the
 * Canary `store/checkout`, approve each gate from its message. The simulated Flagger calls the bot's gates on
 * its own clock, as the real one does. (Its own world: the sandbox has one channel, and the Argo stories'
 * thread lines would pace this story's messages behind them.)
 */

const ALICE = "U0ALICE01";
const BOB = "U0BOB0001";
let world: World;
let server: SandboxServer;

beforeAll(async () => {
  world = await startWorld({
    redisUrl: REDIS_URL,
    keyPrefix: randomSandboxPrefix(),
    tickMs: 200,
    historyLength: 50,
    timing: { windowSeconds: 5, refreshSeconds: 5, autoNotice: "2s" },
    log: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
  });
  server = await startSandboxServer(world, { port: 0 });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await world?.close();
});

const get = async () => (await fetch(new URL(`/api/state?user=${ALICE}`, server.url))).json() as Promise<PageState>;
const post = async (path: string, body: unknown) => {
  const res = await fetch(new URL(path, server.url), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as { ok?: true; error?: string; said?: string } };
};
const message = (id: string, contains: string) =>
  waitFor(async () => (await get()).messages.find((m) => JSON.stringify(m.blocks).includes(`(${id})`) && JSON.stringify(m.blocks).includes(contains)), {
    what: `${id}'s message with ${contains}`,
    timeoutMs: 30_000,
  });
const click = async (user: string, ts: string, label: string) => {
  const b = world.slack.buttons("C0DEPLOYS", ts).find((x) => x.text === label)!;
  return post("/api/click", { user, ts, blockId: b.block_id, actionId: b.action_id });
};

describe("the sandbox's Flagger story", () => {
  it("Flagger: a new revision waits at its gates, is approved from the page by two people, and completes", async () => {
    expect((await post("/api/flagger", { deploy: true })).body.said).toMatch(/^deployed revision [0-9a-f]{10}$/);
    const atRollout = await message("checkout#1", "`confirm-rollout` waiting");
    expect(await click(ALICE, atRollout.ts, "Approve")).toEqual({ status: 200, body: { ok: true } });
    const atIncrease = await message("checkout#1", "`confirm-traffic-increase` waiting");
    await click(ALICE, atIncrease.ts, "Approve");
    const atPromotion = await message("checkout#1", "`confirm-promotion` waiting");
    await click(BOB, atPromotion.ts, "Approve");
    await message("checkout#1", "Succeeded: promoted to primary");
    expect(world.kube.get("canaries", "store", "checkout")?.status).toMatchObject({ phase: "Succeeded" });
    expect(await post("/api/flagger", { failing: "yes" } as unknown)).toMatchObject({ status: 400 });
  }, 60_000);
});
