import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeApiPeer, KubeObject } from "../../sandbox/peers/kube-api.ts";
import { startMeshMetrics, type MeshMetrics } from "../../sandbox/peers/mesh-metrics.ts";
import { startPrometheus, type PrometheusServer } from "../../sandbox/peers/prometheus.ts";
import { PROMETHEUS_BIN } from "../support/prometheus.ts";
import { CHANNEL, clickButton, rolloutMessage, startHarness, waitForMessage, waitForStatus, type Harness } from "../support/bot-harness.ts";
import { percentOnSplit } from "../support/split.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Issue 24's follow-ups, on automatic gates (real Prometheus, three Kubernetes API peers): the gate opens on
 * what the wave is at the end of the bake time, not on how the cluster finished. A bake whose readings say the
 * canary got worse after its Finish holds the gate (a person may still Advance); a finished cluster reverted
 * by hand during the bake keeps it closed, shown on its row, and once put back the gate opens by itself.
 */

const ALICE = "UALICE";
const THREE = ["staging", "prod-eu", "prod-us"] as const;
let mesh: MeshMetrics;
let prom: PrometheusServer;
let h: Harness;

const metrics = () =>
  `{ source: prometheus, prometheusUrl: "${prom.url}", preset: linkerd2, scrapeIntervalSeconds: 1, windowSeconds: 5, refreshSeconds: 5, minRequests: 20, confidence: 0.99, maxErrorIncrease: 0.05 }`;

function seedSplit(peer: KubeApiPeer, ns: string, v1: number, v2: number) {
  peer.seed("trafficsplits", ns, {
    kind: "TrafficSplit",
    metadata: { name: "web", namespace: ns },
    spec: {
      service: "web",
      backends: [
        { service: "web-v1", weight: v1 },
        { service: "web-v2", weight: v2 },
      ],
    },
  } as KubeObject);
}

beforeAll(async () => {
  mesh = await startMeshMetrics();
  for (const ns of ["bake", "drift"]) {
    mesh.setTraffic({ namespace: ns, deployment: "web-v1", rps: 200, errorRate: 0, latencyMs: 8 });
    mesh.setTraffic({ namespace: ns, deployment: "web-v2", rps: 60, errorRate: 0, latencyMs: 9 });
  }
  prom = await startPrometheus({ scrapeTargets: [mesh.hostPort], scrapeIntervalSeconds: 1, binary: PROMETHEUS_BIN });
  const wave = (name: string, ns: string, bake: string) => `
  - name: ${name}
    clusters: [staging, prod-eu, prod-us]
    wave: { gate: auto, bakeTime: ${bake} }
    namespace: ${ns}
    smi: { trafficSplit: web, apexService: web }
    stable: web-v1
    steps: [50, 100]
    metrics: ${metrics()}`;
  const yaml = `
clusters:
${THREE.map((c) => `  - { name: ${c}, kubeconfig: "{{KUBECONFIG:${c}}}" }`).join("\n")}
targets:${wave("baked", "bake", "20s")}${wave("reverted", "drift", "15s")}
`;
  h = await startHarness({ clusters: [...THREE], targetsYaml: yaml });
  for (const c of THREE) for (const ns of ["bake", "drift"]) seedSplit(h.clusters.get(c)!, ns, 100, 0);
  await prom.whenScraping();
  await sleep(6_500);
}, 90_000);

afterAll(async () => {
  await h?.close();
  await prom?.stop();
  await mesh?.stop();
});

const peer = (c: string) => h.clusters.get(c)!;
const canary = (c: string, ns: string) => percentOnSplit(peer(c).get("trafficsplits", ns, "web")?.spec, "web-v2");
const writesIn = (c: string, ns: string) => peer(c).requests.filter((r) => r.mutating && r.namespace === ns).length;
const thread = (id: string) => h.slack.thread(CHANNEL, rolloutMessage(h, id)!.ts).map((m) => m.text ?? "");

/** staging from its first step to a healthy Finish, a person clicking; the wave then waits at its automatic gate. */
async function finishStagingHealthy(id: string): Promise<number> {
  await waitForMessage(h, id, (t) => t.includes("Advance to 100%") && t.includes("in cluster staging"), 20_000);
  await clickButton(h, id, ALICE, /Advance to 100%/);
  await waitFor(
    async () => {
      const r = await h.bot.store.get(id);
      return r?.appliedPercent === 100 && r.snapshot?.verdict.kind === "healthy" && r.snapshot.canaryPercent === 100 ? true : undefined;
    },
    { what: `${id}: a healthy verdict at 100% in staging`, timeoutMs: 60_000 },
  );
  await clickButton(h, id, ALICE, /^Finish/);
  await waitForMessage(h, id, "Waiting at the gate before prod-eu");
  const r = (await h.bot.store.get(id))!;
  expect(r.wave?.rows[0]).toMatchObject({ state: "finished", verdict: "healthy" });
  return r.wave!.atGate!.opensAt!;
}

describe("an automatic gate judges the wave at the end of the bake", () => {
  it("a bake whose readings say worse holds the gate with the reason; a person may still Advance", async () => {
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start baked --to web-v2" });
    const id = "baked#1";
    const opensAt = await finishStagingHealthy(id);
    expect((await h.bot.store.get(id))!.wave!.atGate!.bake?.start).toBeDefined();
    // After its Finish the canary, alone at 100%, starts failing 30% of its requests.
    mesh.setTraffic({ namespace: "bake", deployment: "web-v1", rps: 0, errorRate: 0 });
    mesh.setTraffic({ namespace: "bake", deployment: "web-v2", rps: 60, errorRate: 0.3, latencyMs: 9 });
    const said = await waitFor(() => thread(id).find((t) => t.includes("staging's bake:")), { what: "the bad bake in the thread", timeoutMs: 30_000 });
    expect(said).toMatch(/the new version failed \d+\.\d% of [\d,]+ requests since its Finish, above the 5\.\d% tolerated/);
    expect(said).toContain("The automatic gate to prod-eu stays closed: Advance goes on anyway");

    // Well past the bake time: the gate stayed closed, prod-eu got no write, and the message says why.
    await sleep(Math.max(0, opensAt - Date.now()) + 8_000);
    const held = await h.bot.store.get(id);
    expect(held?.status).toBe("at-gate");
    expect(held?.wave?.atGate?.bake?.verdict).toMatchObject({ kind: "worse", basis: "stable" });
    expect(writesIn("prod-eu", "bake")).toBe(0);
    const m = await waitForMessage(h, id, "it does not open by itself while the bake's readings hold it");
    expect(JSON.stringify(m.blocks)).toMatch(/Bake: the new version failed \d+\.\d% of [\d,]+ requests since its Finish/);
    // The bot's own attempt at the bake time is in the audit trail, refused with the reason.
    const { entries } = await h.bot.audit.timeline(id, 100);
    expect(entries.find((e) => e.action === "advance" && e.actor.startsWith("bot") && e.outcome === "refused")?.reason).toMatch(
      /taging's bake says the new version is worse there/,
    );

    await clickButton(h, id, ALICE, /Advance to prod-eu/);
    await waitFor(() => (canary("prod-eu", "bake") === 50 ? true : undefined), { what: "prod-eu at 50%", timeoutMs: 20_000 });
    await clickButton(h, id, ALICE, /Abort/);
    await waitForStatus(h, id, "aborted", 30_000);
    expect([canary("staging", "bake"), canary("prod-eu", "bake")]).toEqual([0, 0]);
  }, 180_000);

  it("a revert in staging during the bake keeps the gate closed, on staging's row; put back, the gate opens by itself", async () => {
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start reverted --to web-v2" });
    const id = "reverted#1";
    const opensAt = await finishStagingHealthy(id);
    peer("staging").edit("trafficsplits", "drift", "web", (o) => {
      (o.spec as { backends: unknown }).backends = [
        { service: "web-v1", weight: 100 },
        { service: "web-v2", weight: 0 },
      ];
    });
    const m = await waitForMessage(h, id, "changed since it finished", 15_000);
    expect(JSON.stringify(m.blocks)).toMatch(
      /\*staging\*: web-v2 100% · verdict healthy · :warning: changed since it finished: now web-v2 0%, by `kubectl-edit`/,
    );

    await sleep(Math.max(0, opensAt - Date.now()) + 5_000);
    expect((await h.bot.store.get(id))?.status).toBe("at-gate");
    expect(writesIn("prod-eu", "drift")).toBe(0);
    expect(canary("staging", "drift")).toBe(0); // nothing written over the edit
    const { entries } = await h.bot.audit.timeline(id, 100);
    expect(entries.find((e) => e.action === "advance" && e.actor.startsWith("bot") && e.outcome === "refused")?.reason).toMatch(
      /taging changed since it finished/,
    );

    // Put back as the wave left it: a later check clears the row and opens the gate by itself.
    peer("staging").edit("trafficsplits", "drift", "web", (o) => {
      (o.spec as { backends: unknown }).backends = [
        { service: "web-v1", weight: 0 },
        { service: "web-v2", weight: 100 },
      ];
    });
    await waitFor(() => (canary("prod-eu", "drift") === 50 ? true : undefined), { what: "the gate to open by itself", timeoutMs: 40_000 });
    const opened = (await h.bot.store.get(id))!.events.find((e) => e.kind === "wave" && e.wave?.what === "opened");
    expect(opened?.actor).toMatchObject({ kind: "bot" });
    expect(thread(id).some((t) => t.includes("staging holds all traffic on the new version again"))).toBe(true);
    await clickButton(h, id, ALICE, /Abort/);
    await waitForStatus(h, id, "aborted", 30_000);
    expect([canary("staging", "drift"), canary("prod-eu", "drift")]).toEqual([0, 0]);
  }, 180_000);
});
