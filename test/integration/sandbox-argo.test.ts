import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSandboxServer, type SandboxServer } from "../../src/sandbox/server.ts";
import type { PageState } from "../../src/sandbox/views/state.ts";
import { randomSandboxPrefix, startWorld, type World } from "../../src/sandbox/world.ts";
import { REDIS_URL } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 22's sandbox stories, through the page's API as the page calls it: deploy a new image of the Argo
 * Rollout `orders/orders`, promote it from its message; deploy again, make its analysis fail, see the abort
 * broadcast and retry it. The simulated controller runs on its own clock, as the real one does.
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

describe("the sandbox's Argo Rollouts stories", () => {
  it("a new image is promoted from the page, step by step, by two people", async () => {
    expect((await post("/api/argo", { deploy: true })).body).toEqual({ ok: true, said: "deployed example/orders:1.1" });
    const paused = await message("orders#1", "waits for Promote");
    expect(await click(ALICE, paused.ts, "Promote")).toEqual({ status: 200, body: { ok: true } });
    // The analysis passes, the timed pause ends by itself (30 s): Bob then promotes fully.
    const atAnalysis = await message("orders#1", "Analysis");
    expect(await click(BOB, atAnalysis.ts, "Promote fully")).toEqual({ status: 200, body: { ok: true } });
    await message("orders#1", "Completed: the new revision is stable");
    expect(world.kube.get("rollouts", "orders", "orders")?.status).toMatchObject({ phase: "Healthy" });
  }, 90_000);

  it("a failing analysis aborts it, shown on its message; Retry sends the plugin's retry", async () => {
    expect((await post("/api/argo", { analysis: "Failed" })).body.said).toBe("analyses now end Failed");
    await post("/api/argo", { deploy: true });
    const paused = await message("orders#2", "waits for Promote");
    await click(ALICE, paused.ts, "Promote");
    // (Its broadcast follows in the thread, paced at Slack's one message per second: test/integration/argo-rollouts.test.ts proves it.)
    const aborted = await message("orders#2", "Aborted: all traffic on stable");
    expect(JSON.stringify(aborted.blocks)).toContain("0 ok / 1 failed of 3");
    await post("/api/argo", { analysis: "Successful" });
    expect(await click(BOB, aborted.ts, "Retry")).toEqual({ status: 200, body: { ok: true } });
    // Retry is the plugin's `retry rollout`; the controller then runs the steps again (the message follows).
    await waitFor(() => world.kube.mutations("rollouts", "orders", "orders").find((r) => JSON.stringify(r.body) === '{"status":{"abort":false}}'), {
      what: "the retry request",
      timeoutMs: 30_000,
    });
    expect(await post("/api/argo", { analysis: "Nope" } as unknown)).toMatchObject({ status: 400 });
  }, 90_000);
});
