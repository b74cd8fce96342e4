import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject, RequestRecord } from "../../sandbox/peers/kube-api.ts";
import { startMeshMetrics, type MeshMetrics } from "../../sandbox/peers/mesh-metrics.ts";
import { startPrometheus, type PrometheusServer } from "../../sandbox/peers/prometheus.ts";
import { PROMETHEUS_BIN } from "../support/prometheus.ts";
import { CHANNEL, rolloutMessage, startHarness, waitForMessage, waitForStatus, type Harness } from "../support/bot-harness.ts";
import { percentOnSplit } from "../support/split.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Issue 24's proof: a bad canary in the second cluster of a wave (real Prometheus, one per cluster). staging is
 * healthy, finishes at 100% and its automatic gate opens; prod-eu's canary fails 20% of its requests, so the
 * bot's own verdict aborts: prod-eu is reverted and read back at 0%, then staging (at 100%) is, in that order,
 * and prod-us, never reached, gets no request at all.
 */

const ALICE = "UALICE";
const CLUSTERS = ["staging", "prod-eu", "prod-us"] as const;
let healthy: MeshMetrics;
let failing: MeshMetrics;
let promGood: PrometheusServer;
let promBad: PrometheusServer;
let h: Harness;

beforeAll(async () => {
  // Each cluster's mesh has its own Prometheus (the cluster's `prometheusUrl`): the same namespace and
  // Deployments, different traffic.
  [healthy, failing] = await Promise.all([startMeshMetrics(), startMeshMetrics()]);
  for (const [mesh, errorRate] of [
    [healthy, 0],
    [failing, 0.2],
  ] as const) {
    mesh.setTraffic({ namespace: "shop", deployment: "web-v1", rps: 200, errorRate: 0, latencyMs: 8 });
    mesh.setTraffic({ namespace: "shop", deployment: "web-v2", rps: 60, errorRate, latencyMs: 9 });
  }
  const prometheus = (m: MeshMetrics) => startPrometheus({ scrapeTargets: [m.hostPort], scrapeIntervalSeconds: 1, binary: PROMETHEUS_BIN });
  [promGood, promBad] = await Promise.all([prometheus(healthy), prometheus(failing)]);
  const urls: Record<(typeof CLUSTERS)[number], string> = { staging: promGood.url, "prod-eu": promBad.url, "prod-us": promGood.url };
  const yaml = `
clusters:
${CLUSTERS.map((c) => `  - { name: ${c}, kubeconfig: "{{KUBECONFIG:${c}}}", prometheusUrl: "${urls[c]}" }`).join("\n")}
targets:
  - name: web
    clusters: [staging, prod-eu, prod-us]
    wave: { gate: auto, bakeTime: 2s }
    namespace: shop
    stable: web-v1
    steps: [50, 100]
    auto: { maxWait: 1m, notice: 2s }
    metrics: { source: prometheus, preset: linkerd2, scrapeIntervalSeconds: 1, windowSeconds: 5, refreshSeconds: 5, minRequests: 20, confidence: 0.99, maxErrorIncrease: 0.05 }
`;
  h = await startHarness({ clusters: [...CLUSTERS], targetsYaml: yaml });
  for (const c of CLUSTERS)
    h.clusters.get(c)!.seed("trafficsplits", "shop", {
      kind: "TrafficSplit",
      metadata: { name: "web", namespace: "shop" },
      spec: {
        service: "web",
        backends: [
          { service: "web-v1", weight: 100 },
          { service: "web-v2", weight: 0 },
        ],
      },
    } as KubeObject);
  await Promise.all([promGood.whenScraping(), promBad.whenScraping()]);
  await sleep(6_500); // one window of scrapes in each
}, 90_000);

afterAll(async () => {
  await h?.close();
  await Promise.all([promGood?.stop(), promBad?.stop()]);
  await Promise.all([healthy?.stop(), failing?.stop()]);
});

const canary = (c: string) => percentOnSplit(h.clusters.get(c)!.get("trafficsplits", "shop", "web")?.spec, "web-v2");
const splitWrites = (c: string): RequestRecord[] => h.clusters.get(c)!.requests.filter((r) => r.mutating && r.resource === "trafficsplits");
/** The canary's weight a TrafficSplit write asked for (the peer keeps each write's body). */
const weightIn = (r: RequestRecord) => percentOnSplit((r.body as { spec?: unknown } | undefined)?.spec, "web-v2");

describe("a bad canary in the second cluster of a wave", () => {
  it("the bot's verdict aborts; prod-eu, then staging (at 100%) go back to stable, each verified; prod-us gets no request", async () => {
    for (const c of CLUSTERS) h.clusters.get(c)!.reset();
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --to web-v2 --auto 6s" });
    const id = "web#1";
    await waitForMessage(h, id, "Waiting at the gate before prod-eu", 40_000);
    expect(canary("staging")).toBe(100);
    const gate = (await h.bot.store.get(id))!.wave!;
    expect(gate.rows[0]).toMatchObject({ cluster: "staging", state: "finished", verdict: "healthy" });

    const aborted = await waitForStatus(h, id, "aborted", 40_000);
    expect(aborted.wave?.rows.map((r) => `${r.cluster}:${r.state}:${r.percent}`)).toEqual([
      "staging:reverted:0",
      "prod-eu:reverted:0",
      "prod-us:untouched:null",
    ]);
    // The abort was the bot's own verdict on prod-eu's readings (its own Prometheus), not a person's.
    const abort = aborted.events.find((e) => e.kind === "abort-requested");
    expect(abort).toMatchObject({ cluster: "prod-eu", actor: { kind: "bot" } });
    expect(abort!.actor.kind === "bot" && abort!.actor.why).toMatch(/canary is unhealthy: canary \d+\.\d% vs stable 100%, worse/);
    expect([canary("staging"), canary("prod-eu"), canary("prod-us")]).toEqual([0, 0, 0]);

    // Order, from the peers' own records: prod-eu's revert (a write of 0%) landed before staging's, and
    // staging's came only after prod-eu's had been read back.
    const euRevert = splitWrites("prod-eu").filter((r) => r.status < 300 && weightIn(r) === 0);
    const stagingRevert = splitWrites("staging").filter((r) => r.status < 300 && weightIn(r) === 0);
    expect(euRevert.length).toBeGreaterThan(0);
    expect(stagingRevert.length).toBeGreaterThan(0);
    const euLastRevert = euRevert.at(-1)!.at;
    expect(stagingRevert[0]!.at).toBeGreaterThanOrEqual(euLastRevert);
    const euReadBack = h.clusters
      .get("prod-eu")!
      .requests.filter((r) => !r.mutating && r.resource === "trafficsplits" && r.at >= euLastRevert && r.status === 200);
    expect(euReadBack.length).toBeGreaterThan(0);
    expect(euReadBack[0]!.at).toBeLessThanOrEqual(stagingRevert[0]!.at);
    // staging had been at 100% (its Finish) before the gate opened to prod-eu.
    expect(splitWrites("staging").some((r) => weightIn(r) === 100 && r.at < euRevert[0]!.at)).toBe(true);
    // prod-us was never reached: not one request, read or write.
    expect(h.clusters.get("prod-us")!.requests).toEqual([]);

    // The message says where each cluster ended; the thread tells the reverts newest first and why.
    const message = await waitForMessage(h, id, (t) => t.includes("Aborted"));
    const json = JSON.stringify(message.blocks);
    expect(json).toContain("*staging*: web-v2 0%");
    expect(json).toContain("*prod-eu*: web-v2 0%");
    expect(json).toMatch(/\*prod-us\*: no weights written[^"]*untouched: never reached, nothing written/);
    const thread = () => h.slack.thread(CHANNEL, rolloutMessage(h, id)!.ts).map((m) => m.text ?? "");
    const said = await waitFor(() => (thread().some((t) => t.includes("staging: back on stable")) ? thread() : undefined), {
      what: "the reverts in the thread",
    });
    expect(said.some((t) => t.startsWith("prod-eu: ") && t.includes("aborted automatically") && t.includes(`<@${ALICE}>`))).toBe(true);
    const eu = said.findIndex((t) => t.includes("prod-eu: back on stable"));
    expect(eu).toBeGreaterThanOrEqual(0);
    expect(eu).toBeLessThan(said.findIndex((t) => t.includes("staging: back on stable")));
    expect(said.some((t) => t.includes("prod-us: "))).toBe(false);
  }, 120_000);
});
