import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MetricsSettingsSchema, type PrometheusQueries } from "../../src/engine/metrics-settings.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { foldCounters, type CounterReading, type SeriesCounters } from "../../src/engine/evidence.ts";
import { createSuccessRateSource } from "../../src/metrics/factory.ts";
import { PRESETS, PrometheusSource, processOf, renderQuery, seriesKey, type PrometheusPreset } from "../../src/metrics/prometheus.ts";
import { MetricsError } from "../../src/metrics/source.ts";
import { startMeshMetrics, type MeshMetrics } from "../../sandbox/peers/mesh-metrics.ts";
import { startPrometheus, type PrometheusServer } from "../../sandbox/peers/prometheus.ts";
import { readBody } from "../../sandbox/peers/read-body.ts";
import { PROMETHEUS_BIN } from "../support/prometheus.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 24: a reading is one HTTP request to Prometheus, however many parts it has (both versions' counters,
 * their scrape times, successes, p99 and latency histograms), and reads exactly what the parts asked one by
 * one read (the bot's way before), series keys included, so evidence stored before still folds. A real
 * Prometheus scrapes one mesh-metrics peer every second; a counting proxy in front of it counts the requests.
 */

const pair = { stable: "web-v1", canary: "web-v2" };
const NS = "one";
const target = TargetSchema.parse({ name: "web", namespace: NS });
const THRESHOLD_MS = 500;
const LAG_MS = 2_000;

let mesh: MeshMetrics;
let prom: PrometheusServer;
let proxy: { url: string; requests: () => number; close(): Promise<void> };

beforeAll(async () => {
  mesh = await startMeshMetrics();
  mesh.setTraffic({ namespace: NS, deployment: "web-v1", rps: 200, errorRate: 0.01, latencyMs: 8, latencyTail: [{ ms: 900, fraction: 0.005 }] });
  mesh.setTraffic({ namespace: NS, deployment: "web-v2", rps: 50, errorRate: 0.1, latencyMs: 150, latencyTail: [{ ms: 1000, fraction: 0.05 }] });
  prom = await startPrometheus({ scrapeTargets: [mesh.hostPort], scrapeIntervalSeconds: 1, binary: PROMETHEUS_BIN });
  await prom.whenScraping();
  proxy = await startCountingProxy(prom.url);
  // Every preset's series at the lagged moment, with a p99 (two scrapes into its rate() window).
  await waitFor(
    async () => {
      const readings = await Promise.all(presets.map((p) => separately(PRESETS[p], Date.now() - LAG_MS, THRESHOLD_MS)));
      return readings.every((r) => Object.keys(r.canary).length > 0 && r.p99Ms?.canary !== undefined);
    },
    { timeoutMs: 30_000, intervalMs: 500, what: "every preset's series scraped" },
  );
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await prom?.stop();
  await mesh?.stop();
});

const presets: PrometheusPreset[] = ["linkerd2", "nginx", "istio"];

/** Forwards every request to `to`, counting them. */
async function startCountingProxy(to: string): Promise<{ url: string; requests: () => number; close(): Promise<void> }> {
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    void readBody(req)
      .then(async (body) => {
        const answer = await fetch(`${to}${req.url ?? "/"}`, {
          method: req.method ?? "GET",
          headers: { "content-type": req.headers["content-type"] ?? "application/x-www-form-urlencoded" },
          ...(req.method === "POST" ? { body } : {}),
        });
        res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" });
        res.end(await answer.text());
      })
      .catch(() => res.writeHead(502).end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Series = { metric: Record<string, string>; value: number };

/** One instant query straight to Prometheus, its finite series (a scalar as one series without labels). */
async function instant(query: string, at: number): Promise<Series[]> {
  const res = await fetch(`${prom.url}/api/v1/query`, { method: "POST", body: new URLSearchParams({ query, time: (at / 1000).toFixed(3) }) });
  const body = (await res.json()) as { status: string; data: { resultType: string; result: unknown } };
  if (body.status !== "success") throw new Error(`${query}: ${JSON.stringify(body)}`);
  const rows =
    body.data.resultType === "scalar"
      ? [{ metric: {}, value: (body.data.result as [number, string])[1] }]
      : (body.data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({ metric: r.metric, value: r.value[1] }));
  return rows.map((r) => ({ metric: r.metric, value: Number(r.value) })).filter((r) => Number.isFinite(r.value));
}

/**
 * The reading as the bot took it before issue 24: each part its own query, each series keyed by the labels
 * that query answered.
 */
async function separately(queries: PrometheusQueries, at: number, thresholdMs?: number): Promise<CounterReading> {
  const side = async (version: string) => {
    const vars = { namespace: NS, service: "web", version, windowSeconds: 60 };
    const requests = renderQuery(queries.requests, vars);
    const [req, scraped, ok, p99] = await Promise.all([
      instant(requests, at),
      instant(`timestamp(${requests})`, at),
      instant(renderQuery(queries.successes, vars), at),
      queries.p99 ? instant(renderQuery(queries.p99, vars), at) : Promise.resolve([]),
    ]);
    const find = (rows: Series[], key: string) => rows.find((r) => seriesKey(r.metric) === key)?.value;
    const counters: SeriesCounters = {};
    for (const r of req) {
      const key = seriesKey(r.metric);
      const group = processOf(r.metric);
      counters[key] = { requests: r.value, successes: find(ok, key) ?? 0, at: find(scraped, key)! * 1000, ...(group ? { group } : {}) };
    }
    let latency: SeriesCounters | undefined;
    if (thresholdMs !== undefined) {
      const q = renderQuery(queries.latencyBuckets!, vars);
      const [buckets, stamps] = await Promise.all([instant(q, at), instant(`timestamp(${q})`, at)]);
      latency = {};
      for (const b of buckets.filter((x) => x.metric.le === "+Inf")) {
        const { le: _le, ...labels } = b.metric;
        const fast = buckets.find(
          (x) => x.metric.le !== undefined && Number(x.metric.le) === thresholdMs && seriesKey({ ...x.metric, le: "+Inf" }) === seriesKey(b.metric),
        );
        const group = processOf(labels);
        latency[seriesKey(labels)] = { requests: b.value, successes: fast!.value, at: find(stamps, seriesKey(b.metric))! * 1000, ...(group ? { group } : {}) };
      }
    }
    return { counters, p99: p99[0]?.value, latency };
  };
  const [stable, canary] = await Promise.all([side(pair.stable), side(pair.canary)]);
  const p99Ms = { ...(stable.p99 !== undefined ? { stable: stable.p99 } : {}), ...(canary.p99 !== undefined ? { canary: canary.p99 } : {}) };
  return {
    at,
    stable: stable.counters,
    canary: canary.counters,
    ...(Object.keys(p99Ms).length ? { p99Ms } : {}),
    ...(stable.latency && canary.latency ? { latency: { stable: stable.latency, canary: canary.latency } } : {}),
  };
}

const newest = (c: SeriesCounters) => Math.max(...Object.values(c).map((x) => x.at));
const total = (c: SeriesCounters, k: "requests" | "successes") => Object.values(c).reduce((n, x) => n + x[k], 0);

/** A reading through the proxy, and how many requests it took. */
async function counted(source: { counters: PrometheusSource["counters"] }): Promise<{ reading: CounterReading; requests: number }> {
  const before = proxy.requests();
  const reading = await source.counters(target, pair, Date.now());
  return { reading, requests: proxy.requests() - before };
}

describe.each(presets)("preset %s with the latency gate, against a real Prometheus", (preset) => {
  const settings = MetricsSettingsSchema.parse({ preset, lagSeconds: LAG_MS / 1000, latency: { thresholdMs: THRESHOLD_MS } });

  it("a reading is one request and reads what the parts asked one by one read: counters, scrape times, p99s, histograms", async () => {
    const source = createSuccessRateSource(settings, { defaultPrometheusUrl: proxy.url })!;
    const { reading, requests } = await counted(source);
    expect(requests).toBe(1);
    expect(reading).toEqual(await separately(PRESETS[preset], reading.at, THRESHOLD_MS));
    // What the parts hold (so the comparison is not of two empty readings): both versions, every part.
    expect(total(reading.canary, "successes") / total(reading.canary, "requests")).toBeGreaterThan(0.85);
    expect(total(reading.canary, "successes") / total(reading.canary, "requests")).toBeLessThan(0.95);
    expect(total(reading.stable, "requests")).toBeGreaterThan(total(reading.canary, "requests") * 3);
    expect(reading.p99Ms?.canary).toBeGreaterThan(500);
    expect(reading.p99Ms?.stable).toBeLessThanOrEqual(10);
    expect(Object.keys(reading.latency!.canary).length).toBeGreaterThan(0);
    for (const side of ["stable", "canary"] as const) {
      for (const s of Object.values(reading[side])) expect(s.at).toBeLessThanOrEqual(reading.at);
    }
  });

  it("evidence kept from a reading taken the old way folds the next one exactly: the same series keys", async () => {
    // Some 3 s earlier, once Prometheus holds samples that far back (a baseline without series proves nothing).
    const before = await waitFor(
      async () => {
        const r = await separately(PRESETS[preset], Date.now() - LAG_MS - 3_000, THRESHOLD_MS);
        return Object.keys(r.canary).length && Object.keys(r.latency!.canary).length ? r : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 250, what: "samples 5 s back" },
    );
    const source = createSuccessRateSource(settings, { defaultPrometheusUrl: proxy.url })!;
    const { reading: after } = await counted(source);
    const opts = { changes: [], staleAfterMs: 3_000 };
    const e = foldCounters(foldCounters(undefined, before, opts), after, opts);
    expect(e.intervals).toBe(1);
    for (const side of ["stable", "canary"] as const) {
      const requests = total(after[side], "requests") - total(before[side], "requests");
      expect(e[side].requests).toBe(requests);
      expect(e[side].errors).toBe(requests - (total(after[side], "successes") - total(before[side], "successes")));
      expect(e.slow![side].requests).toBe(total(after.latency![side], "requests") - total(before.latency![side], "requests"));
    }
    // 50 canary requests a second between the samples (a key that changed would count its series from zero instead).
    const span = (newest(after.canary) - newest(before.canary)) / 1000;
    expect(span).toBeGreaterThan(2);
    expect(e.canary.requests).toBeGreaterThan(50 * span * 0.9);
    expect(e.canary.requests).toBeLessThan(50 * span * 1.1);
  });
});

describe("templates that cannot be combined, and wrong ones", () => {
  const scalarP99: PrometheusQueries = {
    requests: PRESETS.linkerd2.requests,
    successes: PRESETS.linkerd2.successes,
    p99: `scalar(histogram_quantile(0.99, sum by (le) (rate(response_latency_ms_bucket{namespace="{namespace}", deployment="{version}", direction="inbound"}[{window}]))))`,
  };

  it("a p99 template giving a scalar: refused as one query, the parts are asked one by one, and the source keeps asking so", async () => {
    const queries = scalarP99;
    const source = new PrometheusSource({ url: proxy.url, queries, lagMs: LAG_MS });
    const first = await counted(source);
    // The combined query (refused: label_replace takes no scalar), then requests, their scrape times,
    // successes and the p99 of each version.
    expect(first.requests).toBe(1 + 8);
    expect(first.reading).toEqual(await separately(queries, first.reading.at));
    // The scalar p99 is the preset's p99, as before.
    const preset = await separately(PRESETS.linkerd2, first.reading.at);
    expect(first.reading.p99Ms).toEqual(preset.p99Ms);
    expect(first.reading.p99Ms?.canary).toBeGreaterThan(100);
    const second = await counted(source);
    expect(second.requests).toBe(8);
    expect(second.reading).toEqual(await separately(queries, second.reading.at));
  });

  it("a part wrong by itself still fails with Prometheus's message naming that part's query", async () => {
    const source = new PrometheusSource({
      url: proxy.url,
      queries: { ...PRESETS.linkerd2, successes: `response_total{namespace="{namespace}", deployment="{version}"` },
    });
    const err = await source.counters(target, pair, Date.now()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricsError);
    expect((err as Error).message).toMatch(
      new RegExp(`^Prometheus at ${proxy.url} rejected the query: .*parse error.* \\(query: response_total\\{namespace="one", deployment="web-v[12]"\\)$`),
    );
    expect((err as MetricsError).detail).toMatchObject({ status: 400, errorType: "bad_data" });
  });

  it("a p99 giving several series is refused as before, naming its query, though it came in the one answer", async () => {
    // One series per status code: adding them up would not be a p99.
    const p99 = `rate(response_total{namespace="{namespace}", deployment="{version}", direction="inbound"}[{window}])`;
    const source = new PrometheusSource({ url: proxy.url, queries: { ...PRESETS.linkerd2, p99 }, lagMs: LAG_MS });
    const before = proxy.requests();
    const err = await source.counters(target, pair, Date.now()).catch((e: unknown) => e);
    expect(proxy.requests() - before).toBe(1);
    expect(err).toBeInstanceOf(MetricsError);
    expect((err as Error).message).toBe(
      `Prometheus at ${proxy.url} returned 2 series for (rate(response_total{namespace="one", deployment="web-v1", direction="inbound"}[60s])); wrap the query in sum(...) so it gives one number`,
    );
  });
});

describe("two versions whose series have the same labels", () => {
  // Summed over everything that tells the versions apart: stable's and canary's series are {namespace, classification} alike.
  const summed: PrometheusQueries = {
    requests: `sum by (namespace, classification) (response_total{namespace="{namespace}", deployment="{version}", direction="inbound"})`,
    successes: `sum by (namespace, classification) (response_total{namespace="{namespace}", deployment="{version}", direction="inbound", classification!="failure"})`,
  };

  it("never collide in the one query: each version reads its own counters", async () => {
    const source = new PrometheusSource({ url: proxy.url, queries: summed, lagMs: LAG_MS });
    const { reading, requests } = await counted(source);
    expect(requests).toBe(1);
    expect(Object.keys(reading.canary).sort()).toEqual(Object.keys(reading.stable).sort());
    expect(Object.keys(reading.canary)).toHaveLength(2);
    expect(reading).toEqual(await separately(summed, reading.at));
    // Stable 200 a second at 1% errors, canary 50 at 10%.
    expect(total(reading.stable, "requests") / total(reading.canary, "requests")).toBeGreaterThan(3);
    expect(1 - total(reading.canary, "successes") / total(reading.canary, "requests")).toBeGreaterThan(0.05);
    expect(1 - total(reading.stable, "successes") / total(reading.stable, "requests")).toBeLessThan(0.03);
  });
});
