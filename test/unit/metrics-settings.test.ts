import { describe, expect, it } from "vitest";
import { MetricsSettingsSchema, minEvidenceSeconds, unknownPlaceholders } from "../../src/engine/metrics-settings.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { createSuccessRateSource } from "../../src/metrics/factory.ts";
import { PRESETS, PrometheusSource, renderQuery } from "../../src/metrics/prometheus.ts";

const messages = (input: unknown) => {
  const r = MetricsSettingsSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => i.message);
};

describe("MetricsSettingsSchema", () => {
  it("fills in the defaults", () => {
    expect(MetricsSettingsSchema.parse({ preset: "linkerd2" })).toEqual({
      source: "prometheus",
      preset: "linkerd2",
      linkerd1Router: "http",
      linkerd1ClientId: "#/io.l5d.k8s/{namespace}/http/{version}",
      windowSeconds: 60,
      refreshSeconds: 30,
      lagSeconds: 0,
      minSuccessRate: 0.95,
      minRequests: 50,
      confidence: 0.99,
      maxErrorRatio: 2,
      maxErrorIncrease: 0.01,
      power: 0.5,
      routing: "request",
    });
  });

  it("refuses readings sooner than a scrape and a p99 window of fewer than two scrapes, saying what would work", () => {
    expect(messages({ preset: "linkerd2", refreshSeconds: 5 })).toEqual([
      "refreshSeconds 5 is shorter than a scrape (scrapeIntervalSeconds 15): a reading would find nothing new; read every 15 s or more, or declare the real scrapeIntervalSeconds",
    ]);
    expect(messages({ preset: "linkerd2", refreshSeconds: 5, scrapeIntervalSeconds: 5, windowSeconds: 5 })).toEqual([
      "windowSeconds 5 holds fewer than two scrapes (scrapeIntervalSeconds 5): Prometheus would answer nothing for the p99; use 10 or more",
    ]);
    expect(messages({ preset: "linkerd2", refreshSeconds: 5, scrapeIntervalSeconds: 1, windowSeconds: 5 })).toEqual([]);
    // A Linkerd 1 admin is read directly: every 5 s is fine.
    expect(messages({ source: "linkerd1", linkerd1AdminUrl: "http://l5d:9990", refreshSeconds: 5 })).toEqual([]);
  });

  it("the shortest automatic interval that can ever rest on evidence", () => {
    expect(minEvidenceSeconds(MetricsSettingsSchema.parse({ preset: "linkerd2" }))).toBe(0 + 15 + 30);
    expect(minEvidenceSeconds(MetricsSettingsSchema.parse({ preset: "linkerd2", refreshSeconds: 15, lagSeconds: 15 }))).toBe(15 + 15 + 15);
    expect(minEvidenceSeconds(MetricsSettingsSchema.parse({ preset: "linkerd2", refreshSeconds: 5, scrapeIntervalSeconds: 1 }))).toBe(6);
  });

  it("prometheus needs a preset or queries, not both", () => {
    expect(messages({})).toEqual([expect.stringMatching(/need a `preset` \(linkerd2, nginx, istio\) or custom `queries`/)]);
    expect(messages({ preset: "istio", queries: { requests: 'sum(x{d="{version}"})', successes: 'sum(y{d="{version}"})' } })).toEqual([
      "give either `preset` or `queries`, not both",
    ]);
    expect(messages({ source: "none" })).toEqual([]);
  });

  it("custom queries must select raw counters of one version and use only known placeholders", () => {
    expect(messages({ queries: { requests: "x", successes: 'y{d="{version}",n="{nmespace}"}' } })).toEqual([
      "queries.requests must select one version with {version} (or {backend})",
      expect.stringContaining("queries.successes uses unknown placeholder(s) {nmespace}"),
    ]);
    expect(messages({ queries: { requests: 'sum(increase(x{d="{version}"}[{window}]))', successes: 'y{d="{version}"}' } })).toEqual([
      'queries.requests must select the raw counters, e.g. response_total{deployment="{version}"}: the bot takes exact differences between readings itself; drop increase()/rate() and [{window}]',
    ]);
    expect(unknownPlaceholders('x{a="{namespace}"}[{window}] {le}')).toEqual(["le"]);
  });

  it("linkerd1 needs the admin URL; the client id has no leading slash", () => {
    expect(messages({ source: "linkerd1" })).toEqual([expect.stringContaining("linkerd1AdminUrl")]);
    expect(messages({ source: "linkerd1", linkerd1AdminUrl: "http://l5d:9990", linkerd1ClientId: "/#/io.l5d.k8s/default/http/{version}" })).toEqual([
      expect.stringContaining("leading '/'"),
    ]);
  });

  it("thresholds stay in range", () => {
    expect(messages({ preset: "nginx", minSuccessRate: 1 })).toHaveLength(1);
    expect(messages({ preset: "nginx", confidence: 1 })).toHaveLength(1);
    expect(messages({ preset: "nginx", windowSeconds: 2 })).toHaveLength(2); // below 5, and fewer than two scrapes
    expect(messages({ preset: "nginx", power: 0.3 })).toHaveLength(1);
    expect(messages({ preset: "nginx", maxErrorRatio: 1 })).toEqual([
      "maxErrorRatio must be above 1 (2 means: be able to catch a canary failing twice as often as stable)",
    ]);
    expect(messages({ preset: "nginx", maxErrorIncrease: 0 })).toEqual(["maxErrorIncrease must be above 0 (0.01 is one point of success rate)"]);
  });

  it("is a target's optional `metrics` block", () => {
    const t = TargetSchema.parse({ name: "web", metrics: { preset: "nginx", minRequests: 200 } });
    expect(t.metrics).toMatchObject({ source: "prometheus", preset: "nginx", minRequests: 200, windowSeconds: 60 });
    expect(TargetSchema.parse({ name: "web" }).metrics).toBeUndefined();
    expect(TargetSchema.safeParse({ name: "web", metrics: { source: "linkerd1" } }).success).toBe(false);
  });
});

describe("renderQuery", () => {
  it("fills every placeholder of every preset", () => {
    for (const q of Object.values(PRESETS)) {
      for (const t of [q.requests, q.successes, q.p99!]) {
        const out = renderQuery(t, { namespace: "shop", service: "web", version: "web-v2", windowSeconds: 60 });
        expect(out).not.toMatch(/\{(namespace|service|version|backend|window)\}/);
        expect(out).toContain('"web-v2"');
        if (t === q.p99) expect(out).toContain("[60s]");
      }
    }
  });
});

describe("createSuccessRateSource", () => {
  const deps = {};

  it("no settings or source none: no source", () => {
    expect(createSuccessRateSource(undefined, deps)).toBeUndefined();
    expect(createSuccessRateSource(MetricsSettingsSchema.parse({ source: "none" }), deps)).toBeUndefined();
  });

  it("prometheus without any URL fails loudly at construction", () => {
    expect(() => createSuccessRateSource(MetricsSettingsSchema.parse({ preset: "linkerd2" }), deps)).toThrow(/PROMETHEUS_URL/);
  });

  it("the target's own URL wins over the bot-wide one", () => {
    const s = createSuccessRateSource(MetricsSettingsSchema.parse({ preset: "istio", prometheusUrl: "http://prom.team:9090" }), {
      ...deps,
      defaultPrometheusUrl: "http://prom.global:9090",
    });
    expect(s).toBeInstanceOf(PrometheusSource);
    expect((s as PrometheusSource).url).toBe("http://prom.team:9090");
    const fallback = createSuccessRateSource(MetricsSettingsSchema.parse({ preset: "istio" }), { ...deps, defaultPrometheusUrl: "http://prom.global:9090/" });
    expect((fallback as PrometheusSource).url).toBe("http://prom.global:9090");
  });
});
