import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeApiPeer } from "../../sandbox/peers/kube-api.ts";
import { waitFor } from "../support/wait.ts";
import {
  CHANNEL,
  clickButton,
  ephemeralTexts,
  rolloutMessage,
  startHarness,
  waitForEphemeral,
  waitForMessage,
  waitForStatus,
  type Harness,
} from "../support/bot-harness.ts";
import { percentOnSplit, seedTrafficSplit } from "../support/split.ts";

/**
 * Issue 24: a wave. One target, `shop`, in three clusters (each a Kubernetes API peer recording its cluster on
 * every request), rolled through staging, prod-eu and prod-us behind a gate; Abort reverts every touched
 * cluster newest first; a cluster that does not answer holds the wave; a new process resumes in the right
 * cluster; `--clusters` picks only among the declared ones.
 */

const ALICE = "UALICE";
const THREE = ["staging", "prod-eu", "prod-us"] as const;
const TARGETS = `
clusters:
${THREE.map((c) => `  - name: ${c}\n    kubeconfig: "{{KUBECONFIG:${c}}}"`).join("\n")}
targets:
  - name: shop
    clusters: [staging, prod-eu, prod-us]
    namespace: web
    stable: shop-v1
    steps: [50, 100]
    cleanup: scale-down
  - name: shop
    cluster: prod-us
    namespace: web
    stable: shop-v1
  - name: cart
    cluster: prod-eu
    namespace: web
    stable: cart-v1
`;

function seedSplit(peer: KubeApiPeer) {
  // A Finish scaled the old version down: the next rollout finds it as the peer makes it, ready.
  if (peer.get("deployments", "web", "shop-v1")) peer.remove("deployments", "web", "shop-v1");
  seedTrafficSplit(peer, { name: "shop", service: "shop", namespace: "web" }, [
    { service: "shop-v1", weight: 100 },
    { service: "shop-v2", weight: 0 },
  ]);
}

let h: Harness;
const peer = (c: string) => h.clusters.get(c)!;
const canary = (c: string) => percentOnSplit(peer(c).get("trafficsplits", "web", "shop")?.spec, "shop-v2");
const writes = (p: KubeApiPeer) => p.requests.filter((r) => r.mutating);
const counts = () => [h.kube, ...THREE.map(peer)].map((p) => writes(p).length);
const thread = (id: string) => {
  const parent = rolloutMessage(h, id)?.ts;
  return parent
    ? h.slack
        .thread(CHANNEL, parent)
        .filter((m) => m.ts !== parent)
        .map((m) => m.text ?? "")
    : [];
};

/** Walk the wave's current cluster from its first step to Finish; the wave then waits at the gate (or completes). */
async function throughCluster(x: Harness, id: string, cluster: string) {
  await waitForMessage(x, id, (t) => t.includes("Advance to 100%") && t.includes(`in cluster ${cluster}`));
  expect(canary(cluster)).toBe(50);
  await clickButton(x, id, ALICE, /Advance to 100%/);
  await waitForMessage(x, id, (t) => t.includes("Finish") && t.includes(`in cluster ${cluster}`));
  await clickButton(x, id, ALICE, /^Finish/);
}

beforeAll(async () => {
  h = await startHarness({ clusters: [...THREE], targetsYaml: TARGETS });
  for (const c of THREE) seedSplit(peer(c));
  seedSplit(h.kube);
});
afterAll(async () => {
  await h?.close();
});

describe("a wave through three clusters", () => {
  it("runs the plan in staging, prod-eu and prod-us in turn, a person opening each gate, to Finish; each cluster written only in its own API", async () => {
    for (const p of [h.kube, ...THREE.map(peer)]) p.reset();
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop --to shop-v2" });
    expect(await waitForEphemeral(h, ALICE, "Starting rollout `shop#1`")).toContain("A wave through staging → prod-eu → prod-us");

    await throughCluster(h, "shop#1", "staging");
    const gate = await waitForMessage(h, "shop#1", "Waiting at the gate before prod-eu");
    const json = JSON.stringify(gate.blocks);
    expect(json).toContain("cluster 1 of 3: staging finished");
    expect(json).toContain("*staging*: shop-v2 100%");
    expect(json).toContain("*prod-us*: no weights written");
    expect(json).toContain("Advance to prod-eu");
    expect(json).not.toContain("Finish");
    // staging's old version stays up behind the gate: an Abort later in the wave may send traffic back to it.
    expect(peer("staging").mutations("deployments")).toEqual([]);
    // Nothing reached prod-eu or prod-us before the gate opened.
    expect(writes(peer("prod-eu"))).toEqual([]);
    expect(writes(peer("prod-us"))).toEqual([]);
    expect(canary("staging")).toBe(100);

    await clickButton(h, "shop#1", ALICE, /Advance to prod-eu/);
    await throughCluster(h, "shop#1", "prod-eu");
    await waitForMessage(h, "shop#1", "Waiting at the gate before prod-us");
    await clickButton(h, "shop#1", ALICE, /Advance to prod-us/);
    await throughCluster(h, "shop#1", "prod-us");
    const done = await waitForStatus(h, "shop#1", "completed");

    expect(done.wave?.rows.map((r) => `${r.cluster}:${r.state}:${r.percent}`)).toEqual([
      "staging:finished:100",
      "prod-eu:finished:100",
      "prod-us:finished:100",
    ]);
    for (const c of THREE) {
      expect(canary(c)).toBe(100);
      // Every write in a cluster's API was that cluster's own.
      expect(writes(peer(c)).length).toBeGreaterThan(0);
      expect(new Set(writes(peer(c)).map((r) => r.cluster))).toEqual(new Set([c]));
    }
    // Only now, the wave complete, is the old version scaled down, in each cluster by its own API.
    for (const c of THREE)
      expect(
        peer(c)
          .mutations("deployments")
          .map((m) => `${m.method} ${m.name}/${m.subresource} ${m.status}`),
      ).toEqual(["PATCH shop-v1/scale 200"]); // a server-side apply of the Scale
    expect(writes(h.kube)).toEqual([]); // the bot's own cluster has a `shop` split too: never touched
    expect(canary("staging")).toBe(100);

    // The thread names the cluster of each step; the audit trail carries it on the worker's entries.
    const said = await waitFor(() => (thread("shop#1").some((t) => t.includes("went through staging → prod-eu → prod-us")) ? thread("shop#1") : undefined), {
      what: "the wave's completion in the thread",
    });
    expect(said.some((t) => t.startsWith("prod-eu: ") && t.includes("Applied and verified"))).toBe(true);
    expect(said.some((t) => t.includes("opened the gate: staging → prod-eu"))).toBe(true);
    const { entries } = await h.bot.audit.timeline("shop#1", 100);
    expect(new Set(entries.filter((e) => e.actor.startsWith("bot")).map((e) => e.target))).toEqual(new Set(["shop@staging", "shop@prod-eu", "shop@prod-us"]));
    // A person's decisions too: the Finish in prod-eu is prod-eu's.
    expect(entries.filter((e) => e.action === "finish" && e.outcome === "done").map((e) => e.target)).toEqual(["shop@staging", "shop@prod-eu", "shop@prod-us"]);
  });

  it("Abort in prod-eu reverts prod-eu, then staging (already at 100%), each read back at 0%, and never touches prod-us", async () => {
    for (const c of THREE) seedSplit(peer(c));
    for (const p of [h.kube, ...THREE.map(peer)]) p.reset();
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop --to shop-v2" });
    await throughCluster(h, "shop#2", "staging");
    await waitForMessage(h, "shop#2", "Waiting at the gate before prod-eu");
    await clickButton(h, "shop#2", ALICE, /Advance to prod-eu/);
    await waitForMessage(h, "shop#2", (t) => t.includes("Advance to 100%") && t.includes("in cluster prod-eu"));
    expect([canary("staging"), canary("prod-eu")]).toEqual([100, 50]);

    // When staging's revert arrives, prod-eu must already read 0%: newest first, each verified before the next.
    let euWhenStagingReverted: number | undefined;
    peer("staging").onNext({ method: "PATCH" }, () => {
      euWhenStagingReverted = canary("prod-eu");
    });
    await clickButton(h, "shop#2", ALICE, /Abort/);
    const aborted = await waitForStatus(h, "shop#2", "aborted");
    expect(euWhenStagingReverted).toBe(0);
    expect([canary("staging"), canary("prod-eu")]).toEqual([0, 0]);
    expect(writes(peer("prod-us"))).toEqual([]);
    expect(aborted.wave?.rows.map((r) => `${r.cluster}:${r.state}`)).toEqual(["staging:reverted", "prod-eu:reverted", "prod-us:untouched"]);
    const message = await waitForMessage(h, "shop#2", (t) => t.includes("Aborted: all traffic on stable"));
    const json = JSON.stringify(message.blocks);
    expect(json).toContain("*staging*: shop-v2 0% · verdict none · :leftwards_arrow_with_hook: back on stable, verified");
    expect(json).toContain("*prod-eu*: shop-v2 0%");
    expect(json).toContain("*prod-us*: no weights written · verdict none yet · :heavy_minus_sign: untouched: never reached, nothing written");
    const said = await waitFor(() => (thread("shop#2").some((t) => t.includes("staging: back on stable")) ? thread("shop#2") : undefined), {
      what: "the reverts in the thread",
    });
    expect(said.findIndex((t) => t.includes("prod-eu: back on stable"))).toBeLessThan(said.findIndex((t) => t.includes("staging: back on stable")));
  });

  it("a cluster that does not answer holds the wave and says which since when; it goes on by itself once it answers", async () => {
    for (const c of THREE) seedSplit(peer(c));
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop --to shop-v2" });
    await throughCluster(h, "shop#3", "staging");
    await waitForMessage(h, "shop#3", "Waiting at the gate before prod-eu");
    await clickButton(h, "shop#3", ALICE, /Advance to prod-eu/);
    await waitForMessage(h, "shop#3", (t) => t.includes("Advance to 100%") && t.includes("in cluster prod-eu"));

    // prod-eu's API drops every connection: the step to 100% cannot be written there.
    peer("prod-eu").failNext({ reset: true, times: 100_000 });
    const before = counts();
    await clickButton(h, "shop#3", ALICE, /Advance to 100%/);
    const held = await waitForMessage(h, "shop#3", "prod-eu does not answer since");
    expect(JSON.stringify(held.blocks)).toContain("The wave holds; nothing moves anywhere");
    const record = await h.bot.store.get("shop#3");
    expect(record?.wave?.unreachable).toMatchObject({ cluster: "prod-eu" });
    expect(canary("prod-eu")).toBe(50);
    // Nothing was written anywhere else meanwhile (prod-eu's count holds failed attempts only).
    const now = counts();
    expect([now[0], now[1], now[3]]).toEqual([before[0], before[1], before[3]]);

    peer("prod-eu").reset();
    await waitForStatus(h, "shop#3", "active", 60_000);
    await waitFor(() => (canary("prod-eu") === 100 ? true : undefined), { what: "prod-eu at 100%", timeoutMs: 60_000 });
    const resumed = await waitForMessage(h, "shop#3", (t) => !t.includes("does not answer since") && t.includes("Finish"), 60_000);
    expect(JSON.stringify(resumed.blocks)).toContain("cluster 2 of 3: prod-eu");
    expect((await h.bot.store.get("shop#3"))?.wave?.unreachable).toBeUndefined();
    await clickButton(h, "shop#3", ALICE, /Abort/);
    await waitForStatus(h, "shop#3", "aborted", 30_000);
    expect([canary("staging"), canary("prod-eu")]).toEqual([0, 0]);
  }, 120_000);

  it("a next cluster that does not answer when its gate opens holds the wave there; it is neither skipped nor sent back to the gate", async () => {
    for (const c of THREE) seedSplit(peer(c));
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop --to shop-v2 --clusters staging,prod-eu" });
    const id = "shop#4";
    await throughCluster(h, id, "staging");
    await waitForMessage(h, id, "Waiting at the gate before prod-eu");
    const landed = () => writes(peer("prod-eu")).filter((r) => r.status < 300).length;
    const before = landed();
    peer("prod-eu").failNext({ status: 503, times: 100_000 });
    await clickButton(h, id, ALICE, /Advance to prod-eu/);
    await waitForMessage(h, id, "prod-eu does not answer since");
    const held = await h.bot.store.get(id);
    expect(held).toMatchObject({ status: "starting", target: { cluster: "prod-eu" }, wave: { unreachable: { cluster: "prod-eu" } } });
    expect(landed()).toBe(before);
    peer("prod-eu").reset();
    await waitForMessage(h, id, (t) => t.includes("Advance to 100%") && t.includes("in cluster prod-eu"), 60_000);
    expect(canary("prod-eu")).toBe(50);
    await clickButton(h, id, ALICE, /Abort/);
    await waitForStatus(h, id, "aborted", 30_000);
    expect([canary("staging"), canary("prod-eu")]).toEqual([0, 0]);
  }, 120_000);

  it("--clusters picks and orders among the wave's clusters only; a refusal names the flag and changes nothing", async () => {
    for (const c of THREE) seedSplit(peer(c));
    const before = counts();
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop --to shop-v2 --clusters staging,prod-asia" });
    expect(await waitForEphemeral(h, ALICE, "`--clusters` for `shop`")).toContain("cluster `prod-asia` is not in the wave");
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start cart@prod-eu --to cart-v2 --clusters staging,prod-eu" });
    expect(await waitForEphemeral(h, ALICE, "cannot be used with `cart`")).toContain("it is not a wave");
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop --to shop-v2 --clusters prod-us" });
    await waitForEphemeral(h, ALICE, "a wave needs two or more clusters");
    expect(counts()).toEqual(before);
    expect(await h.bot.store.activeFor("shop")).toBeUndefined();

    // prod-us then staging: the order given, and prod-eu is not in this wave at all.
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop --to shop-v2 --clusters prod-us,staging" });
    await waitForMessage(h, "shop#5", (t) => t.includes("Advance to 100%") && t.includes("in cluster prod-us"));
    const r = await h.bot.store.get("shop#5");
    expect(r?.wave?.rows.map((x) => x.cluster)).toEqual(["prod-us", "staging"]);
    expect(canary("prod-us")).toBe(50);
    expect(canary("staging")).toBe(0);
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "list" });
    await waitFor(() => ephemeralTexts(h, ALICE).find((t) => t.includes("shop#5") && t.includes("wave cluster 1 of 2: prod-us")), {
      what: "list showing the wave",
    });
    await clickButton(h, "shop#5", ALICE, /Abort/);
    await waitForStatus(h, "shop#5", "aborted");
    expect(canary("prod-us")).toBe(0);
  });

  it("a wave and the same target declared in one of its clusters never run at once: the same TrafficSplit", async () => {
    for (const c of THREE) seedSplit(peer(c));
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop --to shop-v2" });
    await waitForMessage(h, "shop#6", (t) => t.includes("Advance to 100%") && t.includes("in cluster staging"));
    const before = writes(peer("prod-us")).length;
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop@prod-us --to shop-v2" });
    expect(await waitForEphemeral(h, ALICE, "target is busy: rollout `shop#6`")).toContain("Finish or abort it first");
    expect(writes(peer("prod-us")).length).toBe(before);
    await clickButton(h, "shop#6", ALICE, /Abort/);
    await waitForStatus(h, "shop#6", "aborted");

    // The other way round: shop@prod-us running keeps a wave through prod-us from starting.
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop@prod-us --to shop-v2" });
    await waitForMessage(h, "shop@prod-us#1", "Abort");
    const staged = writes(peer("staging")).length;
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop --to shop-v2" });
    await waitForEphemeral(h, ALICE, "target is busy: rollout `shop@prod-us#1`");
    expect(writes(peer("staging")).length).toBe(staged);
    await clickButton(h, "shop@prod-us#1", ALICE, /Abort/);
    await waitForStatus(h, "shop@prod-us#1", "aborted");
  });

  it("a new process picks up a wave mid-way and goes on in the cluster the record is at", async () => {
    for (const c of THREE) seedSplit(peer(c));
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop --to shop-v2" });
    await throughCluster(h, "shop#7", "staging");
    await waitForMessage(h, "shop#7", "Waiting at the gate before prod-eu");
    await clickButton(h, "shop#7", ALICE, /Advance to prod-eu/);
    await waitForMessage(h, "shop#7", (t) => t.includes("Advance to 100%") && t.includes("in cluster prod-eu"));
    await h.stopBot();
    const next = await startHarness({ reuse: h, clusters: [...THREE], targetsYaml: TARGETS });
    try {
      const before = counts();
      await clickButton(next, "shop#7", ALICE, /Advance to 100%/);
      await waitFor(() => (canary("prod-eu") === 100 ? true : undefined), { what: "prod-eu at 100%" });
      const after = counts();
      expect([after[0], after[1], after[3]]).toEqual([before[0], before[1], before[3]]);
      await clickButton(next, "shop#7", ALICE, /Abort/);
      await waitForStatus(next, "shop#7", "aborted", 30_000);
      expect([canary("staging"), canary("prod-eu"), canary("prod-us")]).toEqual([0, 0, 0]);
    } finally {
      await next.close();
    }
  });
});
