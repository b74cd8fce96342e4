import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../sandbox/peers/kube-api.ts";
import { startMeshMetrics, type MeshMetrics } from "../../sandbox/peers/mesh-metrics.ts";
import { startPrometheus, type PrometheusServer } from "../../sandbox/peers/prometheus.ts";
import { PROMETHEUS_BIN } from "../support/prometheus.ts";
import { CHANNEL, rolloutMessage, startHarness, waitForMessage, waitForStatus, type Harness } from "../support/bot-harness.ts";
import { percentOnSplit } from "../support/split.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Issue 24: a wave with an automatic gate (real Prometheus). `--auto` steps through staging, the cluster
 * finishes healthy, the gate opens by itself once the bake time has passed, and prod-eu runs the plan the same
 * way to the end, every write in each cluster's own API.
 */

const ALICE = "UALICE";
let mesh: MeshMetrics;
let prom: PrometheusServer;
let h: Harness;

beforeAll(async () => {
  mesh = await startMeshMetrics();
  mesh.setTraffic({ namespace: "good", deployment: "web-v1", rps: 200, errorRate: 0, latencyMs: 8 });
  mesh.setTraffic({ namespace: "good", deployment: "web-v2", rps: 60, errorRate: 0, latencyMs: 9 });
  prom = await startPrometheus({ scrapeTargets: [mesh.hostPort], scrapeIntervalSeconds: 1, binary: PROMETHEUS_BIN });
  const yaml = `
clusters:
  - { name: staging, kubeconfig: "{{KUBECONFIG:staging}}" }
  - { name: prod-eu, kubeconfig: "{{KUBECONFIG:prod-eu}}" }
targets:
  - name: web
    clusters: [staging, prod-eu]
    wave: { gate: auto, bakeTime: 4s }
    namespace: good
    stable: web-v1
    steps: [50, 100]
    auto: { maxWait: 1m, notice: 2s }
    metrics: { source: prometheus, prometheusUrl: "${prom.url}", preset: linkerd2, scrapeIntervalSeconds: 1, windowSeconds: 5, refreshSeconds: 5, minRequests: 20, confidence: 0.99, maxErrorIncrease: 0.05 }
`;
  h = await startHarness({ clusters: ["staging", "prod-eu"], targetsYaml: yaml });
  for (const c of ["staging", "prod-eu"])
    h.clusters.get(c)!.seed("trafficsplits", "good", {
      kind: "TrafficSplit",
      metadata: { name: "web", namespace: "good" },
      spec: {
        service: "web",
        backends: [
          { service: "web-v1", weight: 100 },
          { service: "web-v2", weight: 0 },
        ],
      },
    } as KubeObject);
  await prom.whenScraping();
  await sleep(6_500);
}, 90_000);

afterAll(async () => {
  await h?.close();
  await prom?.stop();
  await mesh?.stop();
});

const canary = (c: string) => percentOnSplit(h.clusters.get(c)!.get("trafficsplits", "good", "web")?.spec, "web-v2");

describe("a wave with an automatic gate", () => {
  it("finishes staging by itself, opens the gate after the bake time, and runs prod-eu to the end", async () => {
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --to web-v2 --auto 6s" });
    const gate = await waitForMessage(h, "web#1", "Waiting at the gate before prod-eu", 90_000);
    expect(JSON.stringify(gate.blocks)).toContain("it opens by itself at");
    expect(canary("staging")).toBe(100);
    expect(canary("prod-eu")).toBe(0);
    const atGate = await h.bot.store.get("web#1");
    expect(atGate?.wave?.rows[0]).toMatchObject({ cluster: "staging", state: "finished", verdict: "healthy" });
    const opensAt = atGate!.wave!.atGate!.opensAt!;
    expect(opensAt - atGate!.wave!.atGate!.since).toBe(4_000);

    await waitFor(() => (canary("prod-eu") === 50 ? true : undefined), { what: "prod-eu at 50%", timeoutMs: 30_000 });
    // The gate did not open before its bake time.
    const opened = (await h.bot.store.get("web#1"))!.events.find((e) => e.kind === "wave" && e.wave?.what === "opened");
    expect(opened!.at).toBeGreaterThanOrEqual(opensAt);
    expect(opened!.actor).toMatchObject({ kind: "bot" });

    const done = await waitForStatus(h, "web#1", "completed", 90_000);
    expect(done.wave?.rows.map((r) => `${r.cluster}:${r.state}:${r.percent}`)).toEqual(["staging:finished:100", "prod-eu:finished:100"]);
    expect(canary("prod-eu")).toBe(100);
    for (const c of ["staging", "prod-eu"]) {
      const writes = h.clusters.get(c)!.requests.filter((r) => r.mutating);
      expect(new Set(writes.map((r) => r.cluster))).toEqual(new Set([c]));
    }
    const thread = h.slack.thread(CHANNEL, rolloutMessage(h, "web#1")!.ts).map((m) => m.text ?? "");
    expect(thread.some((t) => t.includes("opened the gate: staging → prod-eu"))).toBe(true);
  }, 240_000);
});
