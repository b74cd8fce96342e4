import { createServer, type AddressInfo, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MetricsSettingsSchema } from "../../src/engine/metrics-settings.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { judge, verdict } from "../../src/engine/verdict.ts";
import { foldCounters, type CounterReading, type Evidence } from "../../src/engine/evidence.ts";
import { describeVerdict } from "../../src/slack/views/verdict-text.ts";
import { createSuccessRateSource } from "../../src/metrics/factory.ts";
import { PRESETS, PrometheusSource, type PrometheusPreset } from "../../src/metrics/prometheus.ts";
import { MetricsError } from "../../src/metrics/source.ts";
import { startMeshMetrics, type MeshMetrics } from "../../sandbox/peers/mesh-metrics.ts";
import { startPrometheus, type PrometheusServer } from "../../sandbox/peers/prometheus.ts";
import { PROMETHEUS_BIN } from "../support/prometheus.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * One real Prometheus scraping one mesh-metrics peer every second. Every scenario runs in its own
 * namespace at once; each preset reads the raw counters twice, WINDOW seconds apart, and the evidence folds
 * the exact difference.
 */

const WINDOW = 6; // seconds between the two readings
const pair = { stable: "web-v1", canary: "web-v2" };
const verdictSettings = (() => {
  const d = MetricsSettingsSchema.parse({ preset: "linkerd2" });
  // One 6 s window holds too few requests to rule out the default 0.2-point increase: these tests are about
  // the source, so the tolerance is loose enough for one window of an error-free canary to be "healthy".
  return { minSuccessRate: d.minSuccessRate, minRequests: d.minRequests, confidence: d.confidence, maxErrorRatio: d.maxErrorRatio, maxErrorIncrease: 0.05 };
  // (one 6 s interval is little evidence: a healthy canary there is "not worse", not yet "healthy")
})();
const STABLE = { rps: 200, errorRate: 0.001, latencyMs: 8 };
const CANARY_RPS = 50;

type Scenario = { ns: string; errorRate: number; clientErrorRate?: number; kind: string; basis?: string };
const scenarios: Scenario[] = [
  { ns: "clean", errorRate: 0, kind: "not-worse" },
  { ns: "five", errorRate: 0.05, kind: "worse", basis: "stable" },
  { ns: "half", errorRate: 0.5, kind: "worse", basis: "stable" },
  { ns: "down", errorRate: 1, kind: "worse", basis: "stable" },
  { ns: "notfound", errorRate: 0, clientErrorRate: 0.1, kind: "not-worse" },
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
  for (const ns of ["lat-slow", "lat-fast"]) {
    mesh.setTraffic({ namespace: ns, deployment: "web-v1", rps: 200, errorRate: 0, latencyMs: 20, latencyTail: STABLE_TAIL });
    mesh.setTraffic({ namespace: ns, deployment: "web-v2", rps: 100, errorRate: 0, latencyMs: 20, latencyTail: ns === "lat-slow" ? SLOW_TAIL : STABLE_TAIL });
  }
  prom = await startPrometheus({ scrapeTargets: [mesh.hostPort], scrapeIntervalSeconds: 1, binary: PROMETHEUS_BIN });
  await prom.whenScraping();
  await sleep(2_000);
  // Two readings WINDOW seconds apart, for every preset and namespace at once.
  const namespaces = [...scenarios.map((sc) => sc.ns), "idle"];
  const all = presets.flatMap((preset) => namespaces.map((ns) => ({ preset, ns })));
  // The latency gate's sources, built from settings as the bot builds them.
  const gated = (["linkerd2", "nginx"] as const).flatMap((preset) => ["lat-slow", "lat-fast"].map((ns) => ({ preset, ns })));
  const gatedSources = gated.map((x) => createSuccessRateSource(gateSettings(x.preset), { defaultPrometheusUrl: prom.url })!);
  const read = () =>
    Promise.all([
      ...all.map((x) => new PrometheusSource({ url: prom.url, queries: PRESETS[x.preset] }).counters(target(x.ns), pair, Date.now())),
      ...gated.map((x, i) => gatedSources[i]!.counters(target(x.ns), pair, Date.now())),
    ]);
  // The first reading only once Prometheus holds every series at the moment read (scrapes lag under load).
  const named = [...all, ...gated];
  const first = await waitFor(
    async () => {
      const r = await read();
      const scraped = (x: CounterReading, i: number) => Object.keys(x.stable).length > 0 && (named[i]!.ns === "idle" || Object.keys(x.canary).length > 0);
      return r.every(scraped) ? r : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500, what: "every series scraped" },
  );
  await sleep(WINDOW * 1000);
  const second = await read();
  named.forEach((x, i) => readings.set(`${x.preset}/${x.ns}`, [first[i]!, second[i]!]));
}, 60_000);

const readings = new Map<string, [CounterReading, CounterReading]>();

// The latency gate: no errors anywhere. Stable: 98.5% at 20 ms, 1% at 300 ms, 0.5% at 1 s (p99 ~ 300 ms);
// the slow canary: 3% at 900 ms (p99 ~ 900 ms, three times stable's); the fast one like stable.
const STABLE_TAIL = [
  { ms: 300, fraction: 0.01 },
  { ms: 1000, fraction: 0.005 },
];
const SLOW_TAIL = [{ ms: 900, fraction: 0.03 }];
const gateSettings = (preset: "linkerd2" | "nginx") => MetricsSettingsSchema.parse({ preset, latency: { thresholdMs: 500 } });

afterAll(async () => {
  await prom?.stop();
  await mesh?.stop();
});

const target = (namespace: string) => TargetSchema.parse({ name: "web", namespace });
const opts = { changes: [], staleAfterMs: 3_000 };
const sum = (c: CounterReading["canary"], k: "requests" | "successes") => Object.values(c).reduce((n, x) => n + x[k], 0);
const newest = (c: CounterReading["canary"]) => Math.max(...Object.values(c).map((x) => x.at));

describe.each(presets)("preset %s against a real Prometheus", (preset) => {
  const source = () => new PrometheusSource({ url: prom.url, queries: PRESETS[preset] });
  const fold = (ns: string): Evidence => readings.get(`${preset}/${ns}`)!.reduce<Evidence | undefined>((e, r) => foldCounters(e, r, opts), undefined)!;

  it.each(scenarios)("canary at $errorRate 5xx ($ns): exact counts over the samples' own span, verdict $kind", (sc) => {
    const [a, b] = readings.get(`${preset}/${sc.ns}`)!;
    const e = fold(sc.ns);
    // Whole numbers, matching the traffic over the time between the samples Prometheus took (not the readings').
    for (const side of ["stable", "canary"] as const) {
      expect(Number.isInteger(e[side].requests)).toBe(true);
      expect(e[side].requests).toBe(sum(b[side], "requests") - sum(a[side], "requests"));
    }
    // Every series names the process that counts it (its pod), so a restart drops all of that pod's series.
    for (const side of ["stable", "canary"] as const) {
      const groups = new Set(Object.values(b[side]).map((x) => x.group));
      expect(groups.has(undefined)).toBe(false);
      expect(groups.size).toBe(1);
    }
    const span = (newest(b.canary) - newest(a.canary)) / 1000;
    expect(span).toBeGreaterThan(WINDOW - 1.5);
    expect(e.stable.requests).toBeGreaterThan(STABLE.rps * span * 0.97);
    expect(e.stable.requests).toBeLessThan(STABLE.rps * span * 1.03);
    expect(e.canary.requests).toBeGreaterThan(CANARY_RPS * span * 0.95);
    expect(e.canary.requests).toBeLessThan(CANARY_RPS * span * 1.05);
    // Decoys (outbound calls, source-side reports) would pull these far off.
    expect(Math.abs(1 - e.canary.errors / e.canary.requests - (1 - sc.errorRate))).toBeLessThan(0.03);
    expect(e.stable.errors / e.stable.requests).toBeLessThan(0.01);
    // Latency: canary at 150 ms falls in the (100, 200] bucket, stable's 8 ms in (5, 10].
    expect(b.p99Ms?.canary).toBeGreaterThan(100);
    expect(b.p99Ms?.canary).toBeLessThanOrEqual(200);
    expect(b.p99Ms?.stable).toBeGreaterThan(5);
    expect(b.p99Ms?.stable).toBeLessThanOrEqual(10);

    const v = judge(e, verdictSettings);
    if (sc.kind === "not-worse") expect(v.kind).not.toBe("worse");
    else expect(v.kind).toBe(sc.kind);
    if (sc.basis) expect(v).toMatchObject({ basis: sc.basis });
  });

  it("a canary with no traffic adds nothing, and the verdict waits for it; a version never seen has no series", async () => {
    const e = fold("idle");
    expect(e.canary.requests).toBe(0);
    expect(e.stable.requests).toBeGreaterThan(0);
    const never = await source().counters(target("idle"), { stable: "web-v1", canary: "web-v3" }, Date.now());
    expect(never.canary).toEqual({});
    const v = judge(e, verdictSettings);
    expect(v).toMatchObject({ kind: "not-enough-traffic", needed: 50 });
    expect(describeVerdict(v)).toMatch(/^needs ~50 more canary requests to rule out a regression of 5 percentage points; no canary requests yet/);
  });

  it("reads at now minus the lag: every series sampled at or before that moment", async () => {
    const lagged = new PrometheusSource({ url: prom.url, queries: PRESETS[preset], lagMs: 3_000 });
    // Right after Prometheus starts, the moment 3 s ago may predate its first scrape: wait until it does not.
    const { r, now } = await waitFor(async () => {
      const at = Date.now();
      const read = await lagged.counters(target("five"), pair, at);
      return Object.keys(read.canary).length ? { r: read, now: at } : undefined;
    });
    expect(r.at).toBe(now - 3_000);
    expect(newest(r.canary)).toBeLessThanOrEqual(now - 3_000);
    expect(newest(r.canary)).toBeGreaterThan(now - 3_000 - 2_500);
  });
});

const foldKey = (key: string): Evidence =>
  readings.get(key)!.reduce<Evidence | undefined>((e, r) => foldCounters(e, r, { changes: [], staleAfterMs: 3_000 }), undefined)!;
const totalOf = (c: CounterReading["canary"], k: "requests" | "successes") => Object.values(c).reduce((n, x) => n + x[k], 0);

describe.each(["linkerd2", "nginx"] as const)("latency gate, preset %s, real Prometheus", (preset) => {
  it("a canary whose p99 is 3x stable's is aborted by the latency gate, from exact bucket differences", () => {
    const rs = readings.get(`${preset}/lat-slow`)!;
    const last = rs.at(-1)!;
    // The premise, as Prometheus itself computes it: the canary's p99 about three times stable's.
    const p99 = last.p99Ms!;
    expect(p99.canary! / p99.stable!).toBeGreaterThan(2.5);
    expect(p99.canary! / p99.stable!).toBeLessThan(4.5);
    const e = foldKey(`${preset}/lat-slow`);
    // Slow requests are the +Inf bucket minus the 500 ms bucket, differenced between the first and last reading.
    for (const side of ["stable", "canary"] as const) {
      const slowNow = totalOf(last.latency![side], "requests") - totalOf(last.latency![side], "successes");
      const slowThen = totalOf(rs[0]!.latency![side], "requests") - totalOf(rs[0]!.latency![side], "successes");
      expect(e.slow![side].errors).toBe(slowNow - slowThen);
      expect(e.slow![side].requests).toBe(totalOf(last.latency![side], "requests") - totalOf(rs[0]!.latency![side], "requests"));
    }
    expect(e.slow!.canary.errors / e.slow!.canary.requests).toBeCloseTo(0.03, 2);
    expect(e.slow!.stable.errors / e.slow!.stable.requests).toBeCloseTo(0.005, 2);
    expect(e.canary.errors).toBe(0);
    const v = judge(e, gateSettings(preset));
    expect(v).toMatchObject({ kind: "worse", basis: "latency" });
    expect(describeVerdict(v)).toMatch(/^canary 100% vs stable 100%, slower: canary slow requests \(over 500 ms\) [\d.]+× stable's rate \(99% interval/);
  });

  it("a canary as fast as stable is not called slower", () => {
    const e = foldKey(`${preset}/lat-fast`);
    expect(e.slow!.canary.requests).toBeGreaterThan(gateSettings(preset).latency!.minRequests);
    const v = judge(e, gateSettings(preset));
    expect(v.kind).not.toBe("worse");
    expect(v).toMatchObject({ slow: { thresholdMs: 500 } });
  });
});

describe("latency gate errors", () => {
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
    const err = await src.counters(target("lat-slow"), pair, Date.now()).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(MetricsError);
    expect((err as Error).message).toContain("has no bucket at 450 ms");
    expect((err as Error).message).toContain("300, 400, 500, 1000");
  });
});

describe("errors from Prometheus", () => {
  const custom = (requests: string, successes = requests) => new PrometheusSource({ url: prom.url, queries: { requests, successes } });

  it("custom templates are filled in and work like a preset", async () => {
    const src = custom(
      `response_total{namespace="{namespace}", deployment="{backend}", direction="inbound"}`,
      `response_total{namespace="{namespace}", deployment="{version}", direction="inbound", status_code!~"5.."}`,
    );
    const r = await src.counters(target("five"), pair, Date.now());
    // One series per status code of the one pod; the 5xx one has no successes.
    expect(Object.keys(r.canary)).toHaveLength(2);
    expect(sum(r.canary, "successes") / sum(r.canary, "requests")).toBeGreaterThan(0.93);
    expect(sum(r.canary, "successes") / sum(r.canary, "requests")).toBeLessThan(0.97);
    expect(r.p99Ms).toBeUndefined();
  });

  it("a template that does not parse: MetricsError with Prometheus's own message (400 bad_data)", async () => {
    const src = custom(`response_total{deployment="{version}"`);
    const err = await src.counters(target("five"), pair, Date.now()).catch((e: unknown) => e);
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
    const err = await src.counters(target("five"), pair, Date.now()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricsError);
    expect((err as MetricsError).message).toContain("could not run the query");
    expect((err as MetricsError).detail).toMatchObject({ status: 422, errorType: "execution" });
  });

  it("something that is not Prometheus: MetricsError naming what came back", async () => {
    const src = new PrometheusSource({ url: mesh.url, queries: PRESETS.linkerd2 });
    await expect(src.counters(target("five"), pair, Date.now())).rejects.toThrow(/answered HTTP 404 that is not JSON/);
  });

  it("the factory builds the preset source from settings, with the bot-wide URL as fallback", async () => {
    const settings = MetricsSettingsSchema.parse({ preset: "nginx" });
    const src = createSuccessRateSource(settings, { defaultPrometheusUrl: prom.url });
    expect(src?.kind).toBe("prometheus");
    const r = await src!.counters(target("half"), pair, Date.now());
    expect(sum(r.canary, "successes") / sum(r.canary, "requests")).toBeLessThan(0.6);
  });

  it("an endpoint that accepts but never answers: MetricsError after the timeout", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((sock) => void sockets.push(sock));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const { port } = silent.address() as AddressInfo;
    try {
      const src = new PrometheusSource({ url: `http://127.0.0.1:${port}`, queries: PRESETS.linkerd2, timeoutMs: 300 });
      await expect(src.counters(target("five"), pair, Date.now())).rejects.toThrow(
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
    const err = await src.counters(target("five"), pair, Date.now()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricsError);
    expect((err as MetricsError).message).toMatch(new RegExp(`^Prometheus at ${prom.url} did not answer \\(connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+\\)$`));
    expect(describeVerdict(verdict({ error: (err as Error).message }, verdictSettings))).toMatch(
      /^metrics unavailable: Prometheus at http:\/\/127\.0\.0\.1:\d+ did not answer \(connect ECONNREFUSED/,
    );
  });
});
