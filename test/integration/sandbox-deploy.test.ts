import { describe, expect, it } from "vitest";
import { useSandbox } from "../support/sandbox.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 23 in the sandbox, through the page's API against the real bot: the `world` story started with
 * `--image` shows the new pods coming up in its message; a bad image shows ImagePullBackOff within seconds
 * and what the bot made is removed.
 */

const ALICE = "U0ALICE01";
const sandbox = useSandbox();
const { get, post } = sandbox;

/** The channel message of rollout `id` once its blocks contain `contains`, as Alice's page shows it. */
const message = (id: string, contains: string) =>
  waitFor(
    async () =>
      (await get(`/api/state?user=${ALICE}`)).messages.find((m) => m.text?.startsWith(`Rollout ${id} (`) && JSON.stringify(m.blocks).includes(contains)),
    { what: `${id}'s message with ${contains}`, timeoutMs: 20_000, intervalMs: 100 },
  );

describe("the world story with --image", () => {
  it("a bad image: ImagePullBackOff in the message within seconds; a good one: the new pods counted as they come up", async () => {
    const asked = Date.now();
    await post("/api/command", { user: ALICE, text: "start world --image registry.example.com/world:does-not-exist" });
    await message("world#1", "is in ImagePullBackOff");
    expect(Date.now() - asked).toBeLessThan(10_000);
    await waitFor(() => (sandbox.world().kube.get("deployments", "web", "world-v3") ? undefined : true), { what: "the failed copy removed" });

    await post("/api/command", { user: ALICE, text: "start world --image registry.example.com/world:2.0" });
    await message("world#2", "Deploying `world-v3` (1 of 2 ready)");
    await message("world#2", "Start shifting (10%)");
    const pods = sandbox
      .world()
      .kube.list("pods", "web")
      .filter((p) => String(p.metadata?.name).startsWith("world-v3-"));
    expect(pods).toHaveLength(2);
  }, 60_000);
});
