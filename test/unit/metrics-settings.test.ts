import { describe, expect, it } from "vitest";
import { MetricsSettingsSchema, unknownPlaceholders } from "../../src/engine/metrics-settings.ts";
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
      minSuccessRate: 0.95,
      minRequests: 50,
      confidence: 0.99,
      maxErrorRatio: 1.5,
      maxErrorIncrease: 0.002,
    });
  });

  it("prometheus needs a preset or queries, not both", () => {
    expect(messages({})).toEqual([expect.stringMatching(/need a `preset` \(linkerd2, nginx, istio\) or custom `queries`/)]);
    expect(messages({ preset: "istio", queries: { requests: 'sum(x{d="{version}"})', successes: 'sum(y{d="{version}"})' } })).toEqual([
      "give either `preset` or `queries`, not both",
    ]);
    expect(messages({ source: "none" })).toEqual([]);
  });

  it("custom queries must select a version and use only known placeholders", () => {
    expect(messages({ queries: { requests: "sum(x[{window}])", successes: 'sum(y{d="{version}",n="{nmespace}"}[{window}])' } })).toEqual([
      "queries.requests must select one version with {version} (or {backend})",
      expect.stringContaining("queries.successes uses unknown placeholder(s) {nmespace}"),
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
    expect(messages({ preset: "nginx", windowSeconds: 2 })).toHaveLength(1);
    expect(messages({ preset: "nginx", maxErrorRatio: 1 })).toEqual(["maxErrorRatio must be above 1 (1.5 tolerates half as many errors again as stable)"]);
    expect(messages({ preset: "nginx", maxErrorIncrease: 0 })).toEqual(["maxErrorIncrease must be above 0 (0.002 is 0.2 points of success rate)"]);
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
        expect(out).toContain("[60s]");
      }
    }
  });
});

describe("createSuccessRateSource", () => {
  const deps = { redis: undefined as never, keyPrefix: "unused" };

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
