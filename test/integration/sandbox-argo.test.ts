import { describe, expect, it } from "vitest";
import { useSandbox } from "../support/sandbox.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 22's sandbox stories, through the page's API as the page calls it: deploy a new image of the Argo
 * Rollout `orders/orders`, promote it from its message; deploy again, make its analysis fail, see the abort
 * broadcast and retry it. The simulated controller runs on its own clock, as the real one does.
 */

const ALICE = "U0ALICE01";
const BOB = "U0BOB0001";
const sandbox = useSandbox();
const { post } = sandbox;
const world = () => sandbox.world();
const message = (id: string, contains: string) => sandbox.message(ALICE, id, contains);
const click = sandbox.click;

describe("the sandbox's Argo Rollouts stories", () => {
  it("a new image is promoted from the page, step by step, by two people", async () => {
    expect((await post("/api/argo", { deploy: true })).body).toEqual({ ok: true, said: "deployed example/orders:1.1" });
    const paused = await message("orders#1", "waits for Promote");
    expect(await click(ALICE, paused.ts, "Promote")).toEqual({ status: 200, body: { ok: true } });
    // The analysis passes, the timed pause ends by itself (30 s): Bob then promotes fully.
    const atAnalysis = await message("orders#1", "Analysis");
    expect(await click(BOB, atAnalysis.ts, "Promote fully")).toEqual({ status: 200, body: { ok: true } });
    await message("orders#1", "Completed: the new revision is stable");
    expect(world().kube.get("rollouts", "orders", "orders")?.status).toMatchObject({ phase: "Healthy" });
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
    await waitFor(
      () =>
        world()
          .kube.mutations("rollouts", "orders", "orders")
          .find((r) => JSON.stringify(r.body) === '{"status":{"abort":false}}'),
      {
        what: "the retry request",
        timeoutMs: 30_000,
      },
    );
    expect(await post("/api/argo", { analysis: "Nope" } as unknown)).toMatchObject({ status: 400 });
  }, 90_000);
});
