import { createServer, type AddressInfo, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MetricsSettingsSchema } from "../../src/engine/metrics-settings.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { verdict } from "../../src/engine/verdict.ts";
import { describeVerdict } from "../../src/slack/views/verdict-text.ts";
import { createSuccessRateSource } from "../../src/metrics/factory.ts";
import { PRESETS, PrometheusSource, type PrometheusPreset } from "../../src/metrics/prometheus.ts";
import { MetricsError, type Sample } from "../../src/metrics/source.ts";
import { startMeshMetrics, type MeshMetrics } from "../../src/sandbox/peers/mesh-metrics.ts";
import { startPrometheus, type PrometheusServer } from "../../src/sandbox/peers/prometheus.ts";
import { PROMETHEUS_BIN } from "../support/prometheus.ts";
import { sleep } from "../support/wait.ts";

/**
 * One real Prometheus scraping one mesh-metrics peer every second. Every scenario runs in its own
 * namespace at once, so a single wait of one window covers them all.
 */

const WINDOW = 6; // seconds; with 1 s scrapes, increase() has ~6 samples to work with
const pair = { stable: "web-v1", canary: "web-v2" };
const verdictSettings = (() => {
  const d = MetricsSettingsSchema.parse({ preset: "linkerd2" });
  // One 6 s window holds too few requests to rule out the default 0.2-point increase: these tests are about
  // the source, so the tolerance is loose enough for one window of an error-free canary to be "healthy".
  return { minSuccessRate: d.minSuccessRate, minRequests: d.minRequests, confidence: d.confidence, maxErrorRatio: d.maxErrorRatio, maxErrorIncrease: 0.05 };
})();
const STABLE = { rps: 200, errorRate: 0.001, latencyMs: 8 };
const CANARY_RPS = 50;

type Scenario = { ns: string; errorRate: number; clientErrorRate?: number; kind: string; basis?: string };
const scenarios: Scenario[] = [
  { ns: "clean", errorRate: 0, kind: "healthy" },
  { ns: "five", errorRate: 0.05, kind: "worse", basis: "stable" },
  { ns: "half", errorRate: 0.5, kind: "worse", basis: "stable" },
  { ns: "down", errorRate: 1, kind: "worse", basis: "stable" },
  { ns: "notfound", errorRate: 0, clientErrorRate: 0.1, kind: "healthy" },
];
const presets: PrometheusPreset[] = ["linkerd2", "nginx", "istio"];

let mesh: MeshMetrics;
let prom: PrometheusServer;

beforeAll(async () => {
  mesh = await startMeshMetrics();
  for (const sc of scenarios) {
    mesh.setTraffic({ namespace: sc.ns, deployment: "web-v1", ...STABLE });
    mesh.setTraffic({
      namespace: sc.ns,
      deployment: "web-v2",
      rps: CANARY_RPS,
      errorRate: sc.errorRate,
      clientErrorRate: sc.clientErrorRate ?? 0,
      latencyMs: 150,
    });
  }
  // "idle": the canary's series exist but stand still; "web-v3" was never seen at all.
  mesh.setTraffic({ namespace: "idle", deployment: "web-v1", ...STABLE });
  mesh.setTraffic({ namespace: "idle", deployment: "web-v2", rps: 0, errorRate: 0 });
  prom = await startPrometheus({ scrapeTargets: [mesh.hostPort], scrapeIntervalSeconds: 1, binary: PROMETHEUS_BIN });
  await prom.whenScraping();
  await sleep((WINDOW + 1.5) * 1000);
});

afterAll(async () => {
  await prom?.stop();
  await mesh?.stop();
});

const target = (namespace: string) => TargetSchema.parse({ name: "web", namespace });
const counts = (s: Sample) => {
  if ("noTraffic" in s) throw new Error("expected traffic, got noTraffic");
  return s;
};

describe.each(presets)("preset %s against a real Prometheus", (preset) => {
  const source = () => new PrometheusSource({ url: prom.url, queries: PRESETS[preset] });

  it.each(scenarios)("canary at $errorRate 5xx ($ns): counts close to the traffic, verdict $kind", async (sc) => {
    const snap = await source().snapshot(target(sc.ns), pair, WINDOW);
    const stable = counts(snap.stable);
    const canary = counts(snap.canary);
    expect(snap.windowSeconds).toBe(WINDOW);
    // increase() extrapolates to the window's edges: allow a generous band around rate x window.
    expect(stable.requests).toBeGreaterThan(STABLE.rps * WINDOW * 0.7);
    expect(stable.requests).toBeLessThan(STABLE.rps * WINDOW * 1.3);
    expect(canary.requests).toBeGreaterThan(CANARY_RPS * WINDOW * 0.7);
    expect(canary.requests).toBeLessThan(CANARY_RPS * WINDOW * 1.3);
    // Decoys (outbound calls, source-side reports) would pull these far off.
    expect(canary.successes / canary.requests).toBeCloseTo(1 - sc.errorRate, 1);
    expect(Math.abs(canary.successes / canary.requests - (1 - sc.errorRate))).toBeLessThan(0.02);
    expect(stable.successes / stable.requests).toBeGreaterThan(0.99);
    // Latency: canary at 150 ms falls in the (100, 200] bucket, stable's 8 ms in (5, 10].
    expect(canary.p99Ms).toBeGreaterThan(100);
    expect(canary.p99Ms).toBeLessThanOrEqual(200);
    expect(stable.p99Ms).toBeGreaterThan(5);
    expect(stable.p99Ms).toBeLessThanOrEqual(10);

    const v = verdict(snap, verdictSettings);
    expect(v.kind).toBe(sc.kind);
    if (sc.basis) expect(v).toMatchObject({ basis: sc.basis });
  });

  it("a canary with no traffic is noTraffic, and the verdict waits for it", async () => {
    const snap = await source().snapshot(target("idle"), pair, WINDOW);
    expect(snap.canary).toEqual({ noTraffic: true });
    expect(counts(snap.stable).requests).toBeGreaterThan(0);
    const never = await source().snapshot(target("idle"), { stable: "web-v1", canary: "web-v3" }, WINDOW);
    expect(never.canary).toEqual({ noTraffic: true });
    const v = verdict(snap, verdictSettings);
    expect(v).toMatchObject({ kind: "not-enough-traffic", needed: 50 });
    expect(describeVerdict(v)).toMatch(/^not enough traffic yet: about 50 more canary requests needed/);
  });
});

describe("errors from Prometheus", () => {
  const custom = (requests: string, successes = requests) => new PrometheusSource({ url: prom.url, queries: { requests, successes } });

  it("custom templates are filled in and work like a preset", async () => {
    const src = custom(
      `sum(increase(response_total{namespace="{namespace}", deployment="{backend}", direction="inbound"}[{window}]))`,
      `sum(increase(response_total{namespace="{namespace}", deployment="{version}", direction="inbound", status_code!~"5.."}[{window}]))`,
    );
    const snap = await src.snapshot(target("five"), pair, WINDOW);
    const c = counts(snap.canary);
    expect(c.successes / c.requests).toBeGreaterThan(0.93);
    expect(c.successes / c.requests).toBeLessThan(0.97);
    expect(c.p99Ms).toBeUndefined();
  });

  it("a template that does not parse: MetricsError with Prometheus's own message (400 bad_data)", async () => {
    const src = custom(`sum(increase(response_total{deployment="{version}"}[{window}])`);
    const err = await src.snapshot(target("five"), pair, WINDOW).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricsError);
    expect((err as MetricsError).message).toContain(`Prometheus at ${prom.url} rejected the query`);
    expect((err as MetricsError).message).toContain("parse error");
    expect((err as MetricsError).detail).toMatchObject({ status: 400, errorType: "bad_data" });
    const v = verdict({ error: (err as Error).message }, verdictSettings);
    expect(describeVerdict(v)).toMatch(/^metrics unavailable: Prometheus at .* rejected the query: .*parse error/);
  });

  it("a query that fails while running: MetricsError (422 execution)", async () => {
    // Many series on both sides of an on() match: Prometheus refuses at evaluation time.
    const src = custom(`response_total{deployment="{version}"} * on() response_total`);
    const err = await src.snapshot(target("five"), pair, WINDOW).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricsError);
    expect((err as MetricsError).message).toContain("could not run the query");
    expect((err as MetricsError).detail).toMatchObject({ status: 422, errorType: "execution" });
  });

  it("a template that returns several series is refused rather than silently summed", async () => {
    const src = custom(`increase(response_total{namespace="{namespace}", deployment="{version}"}[{window}])`);
    await expect(src.snapshot(target("five"), pair, WINDOW)).rejects.toThrow(/series .*wrap the query in sum/);
  });

  it("something that is not Prometheus: MetricsError naming what came back", async () => {
    const src = new PrometheusSource({ url: mesh.url, queries: PRESETS.linkerd2 });
    await expect(src.snapshot(target("five"), pair, WINDOW)).rejects.toThrow(/answered HTTP 404 that is not JSON/);
  });

  it("the factory builds the preset source from settings, with the bot-wide URL as fallback", async () => {
    const settings = MetricsSettingsSchema.parse({ preset: "nginx" });
    const src = createSuccessRateSource(settings, { redis: undefined as never, keyPrefix: "unused", defaultPrometheusUrl: prom.url });
    expect(src?.kind).toBe("prometheus");
    const snap = await src!.snapshot(target("half"), pair, settings.windowSeconds);
    expect(counts(snap.canary).successes / counts(snap.canary).requests).toBeLessThan(0.6);
  });

  it("an endpoint that accepts but never answers: MetricsError after the timeout", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((sock) => void sockets.push(sock));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const { port } = silent.address() as AddressInfo;
    try {
      const src = new PrometheusSource({ url: `http://127.0.0.1:${port}`, queries: PRESETS.linkerd2, timeoutMs: 300 });
      await expect(src.snapshot(target("five"), pair, WINDOW)).rejects.toThrow(
        `Prometheus at http://127.0.0.1:${port} did not answer (no answer within 300 ms)`,
      );
    } finally {
      for (const sock of sockets) sock.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  // Last: it stops the shared Prometheus.
  it("Prometheus stopped: MetricsError saying it did not answer", async () => {
    await prom.stop();
    const src = new PrometheusSource({ url: prom.url, queries: PRESETS.linkerd2 });
    const err = await src.snapshot(target("five"), pair, WINDOW).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricsError);
    expect((err as MetricsError).message).toMatch(new RegExp(`^Prometheus at ${prom.url} did not answer \\(connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+\\)$`));
    expect(describeVerdict(verdict({ error: (err as Error).message }, verdictSettings))).toMatch(
      /^metrics unavailable: Prometheus at http:\/\/127\.0\.0\.1:\d+ did not answer \(connect ECONNREFUSED/,
    );
  });
});
