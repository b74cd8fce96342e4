import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeApiPeer, KubeObject } from "../../sandbox/peers/kube-api.ts";
import { GITOPS_TYPES } from "../../sandbox/peers/kube-api-gitops.ts";
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
import { testRedis } from "../support/redis.ts";
import { percentOnSplit } from "../support/split.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 24's follow-ups, with three Kubernetes API peers (each recording its cluster on every request): a wave
 * keeps checking the clusters it finished (a revert there is drift on that cluster, shown on its row, and the
 * wave does not go on over it); every cluster a wave wrote to gets its "back to git" note at the end, read in
 * that cluster; and a wave recorded before object claims existed gets its claims when a process picks it up.
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
    metrics: { source: none, refreshSeconds: 5 }
  - name: shop
    cluster: staging
    namespace: web
    stable: shop-v1
    steps: [50, 100]
  - name: shop
    cluster: prod-eu
    namespace: web
    stable: shop-v1
    steps: [50, 100]
  - name: owned
    clusters: [staging, prod-eu]
    namespace: web
    stable: owned-v1
    steps: [50, 100]
`;

/** A TrafficSplit on stable; `flux`: applied by a Flux Kustomization that leaves fields it did not set alone (`ssa: IfNotPresent`). */
function seedSplit(peer: KubeApiPeer, name: string, flux = false) {
  peer.seed("trafficsplits", "web", {
    kind: "TrafficSplit",
    metadata: {
      name,
      namespace: "web",
      ...(flux
        ? {
            labels: { "kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system" },
            annotations: { "kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent" },
          }
        : {}),
    },
    spec: {
      service: name,
      backends: [
        { service: `${name}-v1`, weight: 100 },
        { service: `${name}-v2`, weight: 0 },
      ],
    },
  } as KubeObject);
}

/** The bot's log lines, as JSON objects. */
const logged: { level: number; msg: string; [k: string]: unknown }[] = [];
const log = pino(
  { level: "info" },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) logged.push(JSON.parse(line) as (typeof logged)[number]);
      done();
    },
  }),
);

let h: Harness;
const redis = testRedis();
const peer = (c: string) => h.clusters.get(c)!;
const canary = (c: string, name = "shop") => percentOnSplit(peer(c).get("trafficsplits", "web", name)?.spec, `${name}-v2`);
const thread = (x: Harness, id: string) => {
  const parent = rolloutMessage(x, id)?.ts;
  return parent
    ? x.slack
        .thread(CHANNEL, parent)
        .filter((m) => m.ts !== parent)
        .map((m) => m.text ?? "")
    : [];
};

/** Walk the wave's current cluster from its first step to Finish. */
async function throughCluster(x: Harness, id: string, cluster: string) {
  await waitForMessage(x, id, (t) => t.includes("Advance to 100%") && t.includes(`in cluster ${cluster}`));
  await clickButton(x, id, ALICE, /Advance to 100%/);
  await waitForMessage(x, id, (t) => t.includes("Finish") && t.includes(`in cluster ${cluster}`));
  await clickButton(x, id, ALICE, /^Finish/);
}

beforeAll(async () => {
  h = await startHarness({ clusters: [...THREE], targetsYaml: TARGETS, kube: { resources: GITOPS_TYPES }, log });
  for (const c of THREE) {
    seedSplit(peer(c), "shop");
    seedSplit(peer(c), "owned", true);
  }
});
afterAll(async () => {
  await h?.close();
  await redis.quit();
});

describe("a finished cluster changed behind the wave", () => {
  const setSplit = (c: string, v1: number, v2: number) =>
    peer(c).edit("trafficsplits", "web", "shop", (o) => {
      (o.spec as { backends: unknown }).backends = [
        { service: "shop-v1", weight: v1 },
        { service: "shop-v2", weight: v2 },
      ];
    });
  const splitReads = (c: string) => peer(c).requests.filter((r) => r.method === "GET" && r.resource === "trafficsplits").length;
  const writesIn = (c: string) => peer(c).requests.filter((r) => r.mutating).length;
  const buttons = (id: string) => h.slack.buttons(CHANNEL, rolloutMessage(h, id)!.ts).map((b) => b.text);

  it("a revert in staging during the gate shows on its row with who did it, keeps the gate shut, and clears once put back", async () => {
    for (const c of THREE) seedSplit(peer(c), "shop");
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop --to shop-v2 --clusters staging,prod-eu" });
    await throughCluster(h, "shop#1", "staging");
    await waitForMessage(h, "shop#1", "Waiting at the gate before prod-eu");
    expect(buttons("shop#1")).toEqual(["Advance to prod-eu", "Abort"]);

    // Someone puts staging back on the old version by hand while the wave waits at the gate.
    const written = writesIn("staging");
    setSplit("staging", 100, 0);
    const m = await waitForMessage(h, "shop#1", "changed since it finished", 15_000);
    const text = JSON.stringify(m.blocks);
    expect(text).toMatch(/\*staging\*: shop-v2 100% · verdict none · :warning: changed since it finished: now shop-v2 0%, by `kubectl-edit` at \d\d:\d\d UTC/);
    expect(text).toContain("it stays closed while staging no longer holds what the wave verified there");
    expect(buttons("shop#1")).toEqual(["Abort"]);
    const said = await waitFor(() => thread(h, "shop#1").find((t) => t.includes("changed since the wave finished there")), { what: "the drift in the thread" });
    expect(said).toMatch(/^staging: /);
    expect(said).toContain("its route sends 0% to shop-v2");
    expect(said).toMatch(/Last changed by `kubectl-edit` at \d\d:\d\d UTC/);
    // A person's Advance is refused too, saying why; nothing is written back over the edit.
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "advance shop#1" });
    expect(await waitForEphemeral(h, ALICE, "taging changed since it finished (its row on the message says how)")).toContain("Nothing was changed");
    expect((await h.bot.store.get("shop#1"))?.status).toBe("at-gate");
    expect(writesIn("staging")).toBe(written);
    expect(canary("staging")).toBe(0);
    expect(writesIn("prod-eu")).toBe(0);

    // Two more checks: one read of staging's split each, and the thread says it once.
    const reads = splitReads("staging");
    await new Promise((r) => setTimeout(r, 10_500));
    expect(splitReads("staging") - reads).toBeGreaterThanOrEqual(1);
    expect(splitReads("staging") - reads).toBeLessThanOrEqual(3);
    expect(thread(h, "shop#1").filter((t) => t.includes("changed since the wave finished there"))).toHaveLength(1);

    // Put back as the wave left it: the next check clears the row and the gate can be opened again.
    setSplit("staging", 0, 100);
    await waitForMessage(h, "shop#1", (t) => t.includes("Advance to prod-eu") && !t.includes("changed since it finished"), 15_000);
    await waitFor(() => thread(h, "shop#1").find((t) => t.includes("staging holds all traffic on the new version again")), { what: "the all-clear" });
    await clickButton(h, "shop#1", ALICE, /Advance to prod-eu/);
    await waitForMessage(h, "shop#1", (t) => t.includes("Advance to 100%") && t.includes("in cluster prod-eu"));
    await clickButton(h, "shop#1", ALICE, /Advance to 100%/);
    await waitForMessage(h, "shop#1", (t) => t.includes("Finish") && t.includes("in cluster prod-eu"));

    // staging changed again while prod-eu runs: the wave does not finish over it (no Finish button, Finish refused).
    setSplit("staging", 90, 10);
    const blocked = await waitForMessage(h, "shop#1", "the wave does not move on over it", 15_000);
    expect(JSON.stringify(blocked.blocks)).toContain("now shop-v2 10%");
    expect(buttons("shop#1")).toEqual(["Hold", "Abort"]);
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "finish shop#1" });
    await waitFor(() => ephemeralTexts(h, ALICE).filter((t) => t.includes("taging changed since it finished (its row")).length === 2 || undefined, {
      what: "Finish refused",
    });
    expect((await h.bot.store.get("shop#1"))?.status).toBe("active");

    // Abort reverts every cluster, staging's edit included.
    await clickButton(h, "shop#1", ALICE, /Abort/);
    await waitForStatus(h, "shop#1", "aborted");
    expect([canary("staging"), canary("prod-eu")]).toEqual([0, 0]);
  }, 90_000);
});

describe("what git must say, per cluster", () => {
  /** The back-to-git notes in the thread, by the cluster each names. */
  const notes = (id: string) =>
    thread(h, id)
      .filter((t) => t.includes("Back to git in cluster"))
      .map((t) => ({ cluster: /Back to git in cluster ([a-z-]+)\./.exec(t)?.[1], text: t }));

  it("Abort in prod-eu: a note for prod-eu and one for staging (finished, then reverted), each read in its own cluster", async () => {
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start owned --to owned-v2" });
    await waitForMessage(h, "owned#1", (t) => t.includes("Advance to 100%") && t.includes("in cluster staging"));
    await clickButton(h, "owned#1", ALICE, /Advance to 100%/);
    await waitForMessage(h, "owned#1", (t) => t.includes("Finish") && t.includes("in cluster staging"));
    await clickButton(h, "owned#1", ALICE, /^Finish/);
    await waitForMessage(h, "owned#1", "Waiting at the gate before prod-eu");
    await clickButton(h, "owned#1", ALICE, /Advance to prod-eu/);
    await waitForMessage(h, "owned#1", (t) => t.includes("Advance to 100%") && t.includes("in cluster prod-eu"));
    for (const c of ["staging", "prod-eu"]) peer(c).reset();
    await clickButton(h, "owned#1", ALICE, /Abort/);
    await waitForStatus(h, "owned#1", "aborted");
    const said = await waitFor(() => (notes("owned#1").length === 2 ? notes("owned#1") : undefined), { what: "a note per cluster" });
    // Newest first, as the reverts; each says the cluster holds what git held (the abort put stable back at 100).
    expect(said.map((n) => n.cluster)).toEqual(["prod-eu", "staging"]);
    for (const n of said) expect(n.text).toContain("TrafficSplit `web/owned` (Flux Kustomization `apps` in `flux-system`): the cluster holds what git held");
    // Each cluster's note was read from its own API, after its revert.
    for (const c of ["staging", "prod-eu"]) expect(peer(c).requests.some((r) => r.method === "GET" && r.path.endsWith("/trafficsplits/owned"))).toBe(true);
    expect([canary("staging", "owned"), canary("prod-eu", "owned")]).toEqual([0, 0]);
  });

  it("Finish of the last cluster: a note for every cluster, each with its own patch for git", async () => {
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start owned --to owned-v2" });
    await throughCluster(h, "owned#2", "staging");
    await waitForMessage(h, "owned#2", "Waiting at the gate before prod-eu");
    await clickButton(h, "owned#2", ALICE, /Advance to prod-eu/);
    await throughCluster(h, "owned#2", "prod-eu");
    await waitForStatus(h, "owned#2", "completed");
    const said = await waitFor(() => (notes("owned#2").length === 2 ? notes("owned#2") : undefined), { what: "a note per cluster" });
    expect(said.map((n) => n.cluster).sort()).toEqual(["prod-eu", "staging"]);
    for (const n of said) {
      expect(n.text).toContain("TrafficSplit `web/owned` (Flux Kustomization `apps` in `flux-system`): *the cluster now differs from git*");
      expect(n.text).toMatch(/- service: owned-v2\n\s+weight: 100/);
    }
    expect(notes("owned#2").length).toBe(2); // once each
  });
});

describe("a running wave recorded before object claims existed", () => {
  it("gets its claims when a process picks it up; a claim another running rollout took meanwhile is left to it and logged", async () => {
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop --to shop-v2 --clusters staging,prod-eu" });
    await waitForMessage(h, "shop#2", (t) => t.includes("Advance to 100%") && t.includes("in cluster staging"));
    const key = (c: string) => h.bot.store.keys.objects("shop", c);
    expect(await redis.mget(key("staging"), key("prod-eu"))).toEqual(["shop#2", "shop#2"]);
    // As a version of the bot before claims left it: no claim keys at all.
    await redis.del(key("staging"), key("prod-eu"));
    // Unprotected, the same objects in prod-eu can be started under their declared name meanwhile.
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop@prod-eu --to shop-v2" });
    await waitForMessage(h, "shop@prod-eu#1", "Advance to 100%");
    expect(await redis.get(key("prod-eu"))).toBe("shop@prod-eu#1");

    await h.stopBot();
    logged.length = 0;
    const next = await startHarness({ reuse: h, clusters: [...THREE], targetsYaml: TARGETS, kube: { resources: GITOPS_TYPES }, log });
    try {
      await waitFor(async () => ((await redis.get(key("staging"))) === "shop#2" ? true : undefined), { what: "the wave's claim on staging" });
      expect(await redis.pttl(key("staging"))).toBe(-1); // for as long as the rollout runs
      // prod-eu's claim stays with the rollout that holds it; both are left running, and the log says so.
      expect(await redis.get(key("prod-eu"))).toBe("shop@prod-eu#1");
      const warned = await waitFor(() => logged.find((l) => l.msg.startsWith("running rollout has no claim on its objects in a cluster another")), {
        what: "the warning",
      });
      expect(warned).toMatchObject({ level: 40, rolloutId: "shop#2", cluster: "prod-eu", holder: "shop@prod-eu#1" });
      expect(logged.find((l) => l.msg.startsWith("running rollout had no claim"))).toMatchObject({ rolloutId: "shop#2", clusters: ["staging"] });
      expect((await next.bot.store.get("shop#2"))?.status).toBe("active");
      expect((await next.bot.store.get("shop@prod-eu#1"))?.status).toBe("active");

      // The claim taken now protects staging: its declared target cannot start while the wave runs there.
      const before = peer("staging").requests.filter((r) => r.mutating).length;
      await next.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop@staging --to shop-v2" });
      await waitForEphemeral(next, ALICE, "target is busy: rollout `shop#2`");
      expect(peer("staging").requests.filter((r) => r.mutating).length).toBe(before);

      await clickButton(next, "shop@prod-eu#1", ALICE, /Abort/);
      await waitForStatus(next, "shop@prod-eu#1", "aborted");
      await clickButton(next, "shop#2", ALICE, /Abort/);
      await waitForStatus(next, "shop#2", "aborted");
      expect(await redis.exists(key("staging"), key("prod-eu"))).toBe(0);
      expect([canary("staging"), canary("prod-eu")]).toEqual([0, 0]);
    } finally {
      await next.close();
    }
  });
});
