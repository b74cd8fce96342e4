import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { foldCounters, type CounterReading, type Evidence } from "../../src/engine/evidence.ts";
import { MetricsSettingsSchema, type MetricsSettings } from "../../src/engine/metrics-settings.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { judge } from "../../src/engine/verdict.ts";
import { createSuccessRateSource } from "../../src/metrics/factory.ts";
import { PrometheusSource } from "../../src/metrics/prometheus.ts";
import { MetricsError } from "../../src/metrics/source.ts";
import { startMeshMetrics, type MeshMetrics } from "../../src/sandbox/peers/mesh-metrics.ts";
import { startPrometheus, type PrometheusServer } from "../../src/sandbox/peers/prometheus.ts";
import { describeVerdict } from "../../src/slack/views/verdict-text.ts";
import { PROMETHEUS_BIN } from "../support/prometheus.ts";
import { sleep } from "../support/wait.ts";

/**
 * The latency gate through a real Prometheus scraping the mesh-metrics peer every second: the bot's own
 * source reads the histogram's raw buckets at the threshold and +Inf, the evidence folds exact differences,
 * and the verdict judges slow requests like errors. No request fails anywhere: only latency differs.
 */

const pair = { stable: "web-v1", canary: "web-v2" };
// Stable: 98.5% at 20 ms, 1% at 300 ms, 0.5% at 1 s (p99 ~ 300 ms). Slow canary: 3% at 900 ms (p99 ~ 900 ms).
const STABLE_TAIL = [
  { ms: 300, fraction: 0.01 },
  { ms: 1000, fraction: 0.005 },
];
const SLOW_TAIL = [{ ms: 900, fraction: 0.03 }];
const READINGS = 3;
const GAP_MS = 3_000;

let mesh: MeshMetrics;
let prom: PrometheusServer;
const readings = new Map<string, CounterReading[]>();
const settings = (preset: "linkerd2" | "nginx"): MetricsSettings => MetricsSettingsSchema.parse({ preset, latency: { thresholdMs: 500 } });
const target = (namespace: string) => TargetSchema.parse({ name: "web", namespace });

beforeAll(async () => {
  mesh = await startMeshMetrics();
  for (const ns of ["slow", "fine"]) {
    mesh.setTraffic({ namespace: ns, deployment: "web-v1", rps: 200, errorRate: 0, latencyMs: 20, latencyTail: STABLE_TAIL });
    mesh.setTraffic({ namespace: ns, deployment: "web-v2", rps: 100, errorRate: 0, latencyMs: 20, latencyTail: ns === "slow" ? SLOW_TAIL : STABLE_TAIL });
  }
  prom = await startPrometheus({ scrapeTargets: [mesh.hostPort], scrapeIntervalSeconds: 1, binary: PROMETHEUS_BIN });
  await prom.whenScraping();
  await sleep(2_000);
  const cases = (["linkerd2", "nginx"] as const).flatMap((preset) => ["slow", "fine"].map((ns) => ({ preset, ns })));
  const sources = cases.map((c) => createSuccessRateSource(settings(c.preset), { defaultPrometheusUrl: prom.url })!);
  for (let i = 0; i < READINGS; i++) {
    if (i) await sleep(GAP_MS);
    const now = Date.now();
    const got = await Promise.all(cases.map((c, k) => sources[k]!.counters(target(c.ns), pair, now)));
    cases.forEach((c, k) => readings.set(`${c.preset}/${c.ns}`, [...(readings.get(`${c.preset}/${c.ns}`) ?? []), got[k]!]));
  }
}, 60_000);

afterAll(async () => {
  await prom?.stop();
  await mesh?.stop();
});

const fold = (key: string): Evidence =>
  readings.get(key)!.reduce<Evidence | undefined>((e, r) => foldCounters(e, r, { changes: [], staleAfterMs: 3_000 }), undefined)!;
const total = (c: CounterReading["canary"], k: "requests" | "successes") => Object.values(c).reduce((n, x) => n + x[k], 0);

describe.each(["linkerd2", "nginx"] as const)("latency gate, preset %s, real Prometheus", (preset) => {
  it("a canary whose p99 is 3x stable's is aborted by the latency gate, from exact bucket differences", () => {
    const rs = readings.get(`${preset}/slow`)!;
    const last = rs.at(-1)!;
    // The premise, as Prometheus itself computes it: the canary's p99 about three times stable's.
    const p99 = last.p99Ms!;
    expect(p99.canary! / p99.stable!).toBeGreaterThan(2.5);
    expect(p99.canary! / p99.stable!).toBeLessThan(4.5);
    const e = fold(`${preset}/slow`);
    // Slow requests are the +Inf bucket minus the 500 ms bucket, differenced between the first and last reading.
    for (const side of ["stable", "canary"] as const) {
      const slowNow = total(last.latency![side], "requests") - total(last.latency![side], "successes");
      const slowThen = total(rs[0]!.latency![side], "requests") - total(rs[0]!.latency![side], "successes");
      expect(e.slow![side].errors).toBe(slowNow - slowThen);
      expect(e.slow![side].requests).toBe(total(last.latency![side], "requests") - total(rs[0]!.latency![side], "requests"));
    }
    expect(e.slow!.canary.errors / e.slow!.canary.requests).toBeCloseTo(0.03, 2);
    expect(e.slow!.stable.errors / e.slow!.stable.requests).toBeCloseTo(0.005, 2);
    expect(e.canary.errors).toBe(0);
    const v = judge(e, settings(preset));
    expect(v).toMatchObject({ kind: "worse", basis: "latency" });
    expect(describeVerdict(v)).toMatch(/^canary 100% vs stable 100%, slower: canary slow requests \(over 500 ms\) [\d.]+× stable's rate \(99% interval/);
  });

  it("a canary as fast as stable is not called slower", () => {
    const e = fold(`${preset}/fine`);
    expect(e.slow!.canary.requests).toBeGreaterThan(settings(preset).latency!.minRequests);
    const v = judge(e, settings(preset));
    expect(v.kind).not.toBe("worse");
    expect(v).toMatchObject({ slow: { thresholdMs: 500 } });
  });
});

it("a histogram with no bucket at the threshold is refused when read, naming its boundaries", async () => {
  const src = new PrometheusSource({
    url: prom.url,
    queries: {
      requests: `response_total{namespace="{namespace}", deployment="{version}", direction="inbound"}`,
      successes: `response_total{namespace="{namespace}", deployment="{version}", direction="inbound", classification!="failure"}`,
      latencyBuckets: `response_latency_ms_bucket{namespace="{namespace}", deployment="{version}", direction="inbound"}`,
    },
    latencyThresholdMs: 450,
  });
  const err = await src.counters(target("slow"), pair, Date.now()).catch((x: unknown) => x);
  expect(err).toBeInstanceOf(MetricsError);
  expect((err as Error).message).toContain("has no bucket at 450 ms");
  expect((err as Error).message).toContain("300, 400, 500, 1000");
});
