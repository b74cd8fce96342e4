import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeApiPeer, KubeObject } from "../../sandbox/peers/kube-api.ts";
import { waitFor } from "../support/wait.ts";
import { CHANNEL, clickButton, ephemeralTexts, startHarness, waitForEphemeral, waitForMessage, waitForStatus, type Harness } from "../support/bot-harness.ts";
import { percentOnSplit } from "../support/split.ts";

/**
 * Issue 24: one bot, several clusters. The same target name declared in the bot's own cluster and in two
 * others (each a Kubernetes API peer recording its cluster on every request): a rollout of `shop@prod-eu`
 * writes to prod-eu only, /readyz names the cluster that does not answer, and the cluster shows wherever
 * the rollout is named.
 */

const ALICE = "UALICE";
const TARGETS = `
clusters:
  - name: prod-eu
    kubeconfig: "{{KUBECONFIG:prod-eu}}"
  - name: prod-us
    kubeconfig: "{{KUBECONFIG:prod-us}}"
targets:
  - name: shop
    namespace: web
    stable: shop-v1
    steps: [50, 100]
  - name: shop
    cluster: prod-eu
    namespace: web
    stable: shop-v1
    steps: [50, 100]
  - name: shop
    cluster: prod-us
    namespace: web
    stable: shop-v1
    steps: [50, 100]
`;

function seedSplit(peer: KubeApiPeer, canary = "shop-v2") {
  peer.seed("trafficsplits", "web", {
    kind: "TrafficSplit",
    metadata: { name: "shop", namespace: "web" },
    spec: {
      service: "shop",
      backends: [
        { service: "shop-v1", weight: 100 },
        { service: canary, weight: 0 },
      ],
    },
  } as KubeObject);
}

const canaryPercent = (peer: KubeApiPeer) => percentOnSplit(peer.get("trafficsplits", "web", "shop")?.spec, "shop-v2");
const writes = (peer: KubeApiPeer) => peer.requests.filter((r) => r.mutating);

let h: Harness;
let eu: KubeApiPeer;
let us: KubeApiPeer;
beforeAll(async () => {
  h = await startHarness({ clusters: ["prod-eu", "prod-us"], targetsYaml: TARGETS });
  eu = h.clusters.get("prod-eu")!;
  us = h.clusters.get("prod-us")!;
  seedSplit(h.kube);
  seedSplit(eu);
  // prod-us routes to shop-v3 where the others route to shop-v2: a write meant for another cluster would fail here.
  seedSplit(us, "shop-v3");
});
afterAll(async () => {
  await h?.close();
});

describe("targets in several clusters", () => {
  it("a rollout of shop@prod-eu writes to prod-eu only, through to Finish, while shop in the bot's own cluster stays untouched", async () => {
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop@prod-eu --to shop-v2" });
    await waitForEphemeral(h, ALICE, "Starting rollout `shop@prod-eu#1`");
    const first = await waitForMessage(h, "shop@prod-eu#1", "Advance to 100%");
    expect(JSON.stringify(first.blocks)).toContain("`shop` in cluster prod-eu");
    expect(canaryPercent(eu)).toBe(50);
    await clickButton(h, "shop@prod-eu#1", ALICE, /Advance to 100%/);
    await waitForMessage(h, "shop@prod-eu#1", "Finish");
    await clickButton(h, "shop@prod-eu#1", ALICE, /^Finish/);
    await waitForStatus(h, "shop@prod-eu#1", "completed");
    expect(canaryPercent(eu)).toBe(100);

    // Every write went to prod-eu's API, each recorded as prod-eu's; the other two clusters got none.
    expect(writes(eu).length).toBeGreaterThan(0);
    expect(new Set(writes(eu).map((r) => r.cluster))).toEqual(new Set(["prod-eu"]));
    expect(writes(us)).toEqual([]);
    expect(writes(h.kube)).toEqual([]);
    expect(percentOnSplit(us.get("trafficsplits", "web", "shop")?.spec, "shop-v3")).toBe(0);
    expect(canaryPercent(h.kube)).toBe(0);

    // The record remembers its cluster; the same name elsewhere is another target, free to start.
    const record = await h.bot.store.get("shop@prod-eu#1");
    expect(record?.target).toMatchObject({ name: "shop", cluster: "prod-eu" });
    // The audit trail names the target with its cluster, the person's start and the worker's verified writes alike.
    const { entries } = await h.bot.audit.timeline("shop@prod-eu#1", 50);
    expect(entries.map((e) => e.action)).toEqual(expect.arrayContaining(["start", "advance", "finish"]));
    expect(new Set(entries.map((e) => e.target).filter(Boolean))).toEqual(new Set(["shop@prod-eu"]));
    expect(await h.bot.store.activeFor("shop")).toBeUndefined();
  });

  it("shop and shop@prod-us run at once, each in its own cluster, and list names both with their cluster", async () => {
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop --to shop-v2" });
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop@prod-us --to shop-v3" });
    await waitForMessage(h, "shop#1", "Advance to 100%");
    await waitForMessage(h, "shop@prod-us#1", "Advance to 100%");
    expect(canaryPercent(h.kube)).toBe(50);
    expect(percentOnSplit(us.get("trafficsplits", "web", "shop")?.spec, "shop-v3")).toBe(50);
    // shop-v3 never reached the bot's own cluster, nor shop-v2 prod-us.
    expect(JSON.stringify(writes(h.kube).map((r) => r.body))).not.toContain("shop-v3");
    expect(JSON.stringify(writes(us).map((r) => r.body))).not.toContain("shop-v2");

    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "list" });
    // One reply names both, each with its cluster (or none: the bot's own).
    const listed = await waitFor(() => ephemeralTexts(h, ALICE).find((t) => t.includes("shop@prod-us#1") && t.includes("shop#1") && !t.includes("Starting")), {
      what: "the list naming both rollouts",
    });
    expect(listed).not.toContain("shop@prod-eu#1"); // ended: list shows running rollouts

    // /metrics: running rollouts per cluster, and mesh calls timed per cluster (the bot's own without the label).
    const metrics = await (await fetch(`${h.bot.healthUrl}/metrics`)).text();
    expect(metrics).toMatch(/rollout_bot_active_rollouts_by_cluster\{cluster="prod-us"\} 1\n/);
    expect(metrics).toMatch(/rollout_bot_active_rollouts_by_cluster\{cluster="own"\} 1\n/);
    expect(metrics).toMatch(/rollout_bot_active_rollouts_by_cluster\{cluster="prod-eu"\} 0\n/);
    expect(metrics).toMatch(/rollout_bot_mesh_call_duration_seconds_count\{router="smi",op="write",cluster="prod-eu"\} \d+/);
    expect(metrics).toMatch(/rollout_bot_mesh_call_duration_seconds_count\{router="smi",op="write"\} \d+/);

    for (const id of ["shop#1", "shop@prod-us#1"]) {
      await clickButton(h, id, ALICE, /Abort/);
      await waitForStatus(h, id, "aborted");
    }
    expect(canaryPercent(h.kube)).toBe(0);
    expect(percentOnSplit(us.get("trafficsplits", "web", "shop")?.spec, "shop-v3")).toBe(0);
  });

  it("a cluster the file does not declare is an unknown target, and nothing is written", async () => {
    const before = [h.kube, eu, us].map((p) => writes(p).length);
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop@prod-asia --to shop-v2" });
    const said = await waitForEphemeral(h, ALICE, "shop@prod-asia");
    expect(said).toContain("shop@prod-eu");
    expect([h.kube, eu, us].map((p) => writes(p).length)).toEqual(before);
  });

  it("/readyz names the cluster whose API does not answer", async () => {
    expect((await fetch(`${h.bot.healthUrl}/readyz`)).status).toBe(200);
    us.failNext({ pathIncludes: "/version", status: 503, times: 1_000 });
    const res = await fetch(`${h.bot.healthUrl}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain("kubernetes API (cluster prod-us)");
    us.reset();
    expect((await fetch(`${h.bot.healthUrl}/readyz`)).status).toBe(200);
  });

  it("the start form offers each cluster's target by its own name, and starting one writes to that cluster", async () => {
    seedSplit(eu);
    const before = h.slack.callsOf("views.open").length;
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "" });
    await waitFor(() => h.slack.callsOf("views.open")[before], { what: "views.open" });
    const view = [...h.slack.surfaces.views.values()].filter((v) => v.type === "modal" && v.user === ALICE).at(-1)!;
    const json = JSON.stringify(view.blocks);
    expect(json).toContain("shop@prod-eu (smi in web, stable shop-v1)");
    expect(json).toContain('"value":"shop@prod-eu"');
    expect(json).toContain("shop (smi in web, stable shop-v1)");
    const mine = [h.kube, us].map((p) => writes(p).length);
    const res = await h.driver.submitView({
      userId: ALICE,
      viewId: view.id,
      values: {
        target: { target: { type: "static_select", selected_option: { value: "shop@prod-eu" } } },
        version: { version: { type: "plain_text_input", value: "shop-v2" } },
        steps: { steps: { type: "plain_text_input", value: null } },
        mode: { mode: { type: "radio_buttons", selected_option: { value: "manual" } } },
        interval: { interval: { type: "plain_text_input", value: null } },
        deadline: { deadline: { type: "plain_text_input", value: null } },
        channel: { channel: { type: "conversations_select", selected_conversation: CHANNEL } },
      },
    });
    expect(res.status).toBe(200);
    await waitForMessage(h, "shop@prod-eu#2", "Advance to 100%");
    expect(canaryPercent(eu)).toBe(50);
    expect([h.kube, us].map((p) => writes(p).length)).toEqual(mine);
    await clickButton(h, "shop@prod-eu#2", ALICE, /Abort/);
    await waitForStatus(h, "shop@prod-eu#2", "aborted");
  });
  it("a new process picks up a running rollout in its cluster: the next step goes to prod-eu, nowhere else", async () => {
    seedSplit(eu); // back to shop-v1 after the first test's Finish
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop@prod-eu --to shop-v2" });
    await waitForMessage(h, "shop@prod-eu#3", "Advance to 100%");
    expect(canaryPercent(eu)).toBe(50);
    // The process stops; another starts over the same Redis and peers, knowing the rollout only from its record.
    await h.stopBot();
    const next = await startHarness({ reuse: h, clusters: ["prod-eu", "prod-us"], targetsYaml: TARGETS });
    try {
      const before = [h.kube, us].map((p) => writes(p).length);
      await clickButton(next, "shop@prod-eu#3", ALICE, /Advance to 100%/);
      await waitForStatus(next, "shop@prod-eu#3", "active");
      await waitFor(() => (canaryPercent(eu) === 100 ? true : undefined), { what: "prod-eu's split at 100%" });
      expect([h.kube, us].map((p) => writes(p).length)).toEqual(before);
      await clickButton(next, "shop@prod-eu#3", ALICE, /Abort/);
      await waitForStatus(next, "shop@prod-eu#3", "aborted");
      expect(canaryPercent(eu)).toBe(0);
    } finally {
      await next.close();
    }
  });
});
