import { describe, expect, it } from "vitest";
import { percentOnSplit } from "../support/split.ts";
import { useSandbox } from "../support/sandbox.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 24's sandbox story: `payments` is a wave through the bot's own cluster (declared again as `staging`)
 * and prod-eu. Driven through the page's API as a person would (the Slack peer, the real bot), to Finish:
 * each cluster's TrafficSplit ends on the new version, and the page's Waves list shows the rows, the
 * position and each cluster's shares on the way.
 */

const ALICE = "U0ALICE01";
const sandbox = useSandbox();
const { get, post } = sandbox;
const world = () => sandbox.world();
const canary = (cluster: "staging" | "prod-eu") => percentOnSplit(world().kubeOf(cluster).get("trafficsplits", "pay", "payments")?.spec, "payments-v2");
const writes = (cluster: "staging" | "prod-eu") => world().kubeOf(cluster).mutations("trafficsplits", "pay", "payments").length;
const wave = async () => (await get(`/api/state?user=${ALICE}`)).waves.find((w) => w.key === "payments")!;

/** The wave's channel message once it shows `contains` (and, given `label`, offers that button), as Alice's page shows it. */
const message = (contains: string, label?: RegExp) =>
  waitFor(
    async () =>
      (await get(`/api/state?user=${ALICE}`)).messages.find((m) => {
        const text = JSON.stringify(m.blocks);
        return text.includes("Rollout payments#1:") && text.includes(contains) && (!label || button(m.ts, label));
      }),
    { what: `the wave's message with ${contains}${label ? ` and ${label}` : ""}`, timeoutMs: 30_000 },
  );

const button = (ts: string, label: RegExp) =>
  world()
    .slack.buttons("C0DEPLOYS", ts)
    .find((x) => label.test(x.text));

/** Click `label` on the wave's message once it shows `contains` and offers the button. */
async function click(label: RegExp, contains: string) {
  const m = await message(contains, label);
  const b = button(m.ts, label)!;
  expect(await post("/api/click", { user: ALICE, ts: m.ts, blockId: b.block_id, actionId: b.action_id })).toEqual({ status: 200, body: { ok: true } });
}

describe("the sandbox's wave story", () => {
  it("starts with payments on stable in both clusters and says how to start its wave", async () => {
    expect(await wave()).toEqual({
      key: "payments",
      position: "no rollout yet: /rollout start payments --to <version>",
      clusters: [
        {
          cluster: "staging",
          label: "staging (the bot's own cluster)",
          panel: "payments",
          weights: [
            { version: "payments-v1", percent: 100 },
            { version: "payments-v2", percent: 0 },
          ],
        },
        {
          cluster: "prod-eu",
          label: "prod-eu",
          panel: "payments@prod-eu",
          weights: [
            { version: "payments-v1", percent: 100 },
            { version: "payments-v2", percent: 0 },
          ],
        },
      ],
    });
    // `staging` is the bot's own cluster, reached through the kubeconfig file its peer writes.
    expect(world().targets.clusters?.get("staging")).toMatchObject({ kubeconfig: world().kube.kubeconfigPath });
  });

  it("runs the wave to Finish through the Slack peer: staging, the gate, prod-eu; both end at 100% on payments-v2", async () => {
    expect(await post("/api/command", { user: ALICE, text: "start payments --to payments-v2" })).toEqual({ status: 200, body: { ok: true } });
    await click(/^Advance to 50%/, "in cluster staging");
    await click(/^Advance to 100%/, "in cluster staging");
    await waitFor(() => (canary("staging") === 100 ? true : undefined), { what: "staging at 100%" });
    expect(writes("prod-eu")).toBe(0);
    await click(/^Finish/, "in cluster staging");
    await message("Waiting at the gate before prod-eu");

    // The page: the wave's position and rows, and each cluster's shares as the simulated traffic follows them.
    const atGate = await waitFor(
      async () => {
        const w = await wave();
        return w.position.includes("waiting at the gate") && w.clusters[0]!.weights[1]!.percent === 100 ? w : undefined;
      },
      { what: "the page's wave at the gate", timeoutMs: 15_000 },
    );
    expect(atGate.position).toBe("payments#1 · at-gate · cluster 1 of 2: staging, waiting at the gate");
    expect(atGate.clusters.map((c) => c.row)).toEqual(["finished · payments-v2 100% · verdict none", "not reached yet · no weights written"]);
    expect(atGate.clusters[1]!.weights).toEqual([
      { version: "payments-v1", percent: 100 },
      { version: "payments-v2", percent: 0 },
    ]);

    await click(/^Advance to prod-eu/, "Waiting at the gate before prod-eu");
    await click(/^Advance to 50%/, "in cluster prod-eu");
    await waitFor(() => (canary("prod-eu") === 50 ? true : undefined), { what: "prod-eu at 50%" });
    const running = await waitFor(
      async () => {
        const w = await wave();
        return w.clusters[1]!.weights[1]!.percent === 50 && w.position.includes("active") ? w : undefined;
      },
      { what: "the page showing prod-eu at 50%", timeoutMs: 15_000 },
    );
    expect(running.position).toBe("payments#1 · active · cluster 2 of 2: prod-eu");
    expect(running.clusters[0]!.weights[1]).toEqual({ version: "payments-v2", percent: 100 });
    await click(/^Advance to 100%/, "in cluster prod-eu");
    await click(/^Finish/, "in cluster prod-eu");
    await message("Completed");

    expect([canary("staging"), canary("prod-eu")]).toEqual([100, 100]);
    // Every write to prod-eu's TrafficSplit was prod-eu's own API's; the single-cluster backend-svc never moved.
    expect(
      new Set(
        world()
          .kubeOf("prod-eu")
          .mutations("trafficsplits")
          .map((m) => m.name),
      ),
    ).toEqual(new Set(["payments"]));
    expect(percentOnSplit(world().kube.get("trafficsplits", "default", "backend-svc")?.spec, "backend-v2")).toBe(0);
    const done = await waitFor(
      async () => {
        const w = await wave();
        return w.position.includes("completed") ? w : undefined;
      },
      { what: "the page's wave completed" },
    );
    expect(done.clusters.map((c) => c.row)).toEqual(["finished · payments-v2 100% · verdict none", "finished · payments-v2 100% · verdict none"]);
  }, 90_000);
});
