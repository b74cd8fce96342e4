import { describe, expect, it } from "vitest";
import { SANDBOX_CHANNEL } from "../../sandbox/seed.ts";
import { useSandbox } from "../support/sandbox.ts";

/**
 * Issue 22's Flagger sandbox story, through the page's API as the page calls it: deploy a new revision of the
 * Canary `store/checkout`, approve each gate from its message. The simulated Flagger calls the bot's gates on
 * its own clock, as the real one does. (Its own world: the sandbox has one channel, and the Argo stories'
 * thread lines would pace this story's messages behind them.)
 */

const ALICE = "U0ALICE01";
const BOB = "U0BOB0001";
const sandbox = useSandbox();
const { post } = sandbox;
const world = () => sandbox.world();
const message = (id: string, contains: string) => sandbox.message(ALICE, id, contains);
const click = sandbox.click;

describe("the sandbox's Flagger story", () => {
  it("Flagger: a new revision waits at its gates, is approved from the page by two people, and completes", async () => {
    expect((await post("/api/flagger", { deploy: true })).body.said).toMatch(/^deployed revision [0-9a-f]{10}$/);
    const atRollout = await message("checkout#1", "`confirm-rollout` waiting");
    expect(await click(ALICE, atRollout.ts, "Approve")).toEqual({ status: 200, body: { ok: true } });
    const atIncrease = await message("checkout#1", "`confirm-traffic-increase` waiting");
    await click(ALICE, atIncrease.ts, "Approve all remaining steps");
    const atPromotion = await message("checkout#1", "`confirm-promotion` waiting");
    // Read from the Canary: maxWeight held while Flagger waits to promote, and its analysis settings.
    await message("checkout#1", "(held at maxWeight");
    await message("checkout#1", "maxWeight 50");
    await click(BOB, atPromotion.ts, "Approve");
    await message("checkout#1", "Succeeded: promoted to primary");
    expect(world().kube.get("canaries", "store", "checkout")?.status).toMatchObject({ phase: "Succeeded" });
    // The Canary existed when the bot started: nothing was said about it missing.
    expect(
      world()
        .slack.messages(SANDBOX_CHANNEL.id)
        .filter((m) => (m.text ?? "").includes("Flagger Canary `store/checkout`")),
    ).toEqual([]);
    expect(await post("/api/flagger", { failing: "yes" } as unknown)).toMatchObject({ status: 400 });
  }, 60_000);
});
