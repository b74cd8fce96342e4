import type { MetricsSettings } from "../engine/metrics-settings.ts";
import { Linkerd1AdminSource } from "./linkerd1.ts";
import { PRESETS, PrometheusSource } from "./prometheus.ts";
import type { SuccessRateSource } from "./source.ts";

export type MetricsDeps = {
  /** Bot-wide Prometheus (PROMETHEUS_URL), used when a target does not name its own. */
  defaultPrometheusUrl?: string;
  timeoutMs?: number;
};

/**
 * The source a target's `metrics:` settings describe, or undefined when the target has none
 * (no block, or `source: none`): the stage message then carries no snapshot.
 * Throws for settings that cannot work (Prometheus with no URL anywhere), so it fails at startup.
 */
export function createSuccessRateSource(settings: MetricsSettings | undefined, deps: MetricsDeps): SuccessRateSource | undefined {
  if (!settings || settings.source === "none") return undefined;
  const timeout = deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {};
  switch (settings.source) {
    case "prometheus": {
      const url = settings.prometheusUrl ?? deps.defaultPrometheusUrl;
      if (!url) throw new Error("metrics source is prometheus but no URL is set: give `metrics.prometheusUrl` or PROMETHEUS_URL");
      const queries = settings.queries ?? (settings.preset ? PRESETS[settings.preset] : undefined);
      // The settings schema already insists on one of them; this keeps a hand-built object honest.
      if (!queries) throw new Error("prometheus metrics need a `preset` (linkerd2, nginx, istio) or custom `queries`");
      return new PrometheusSource({ url, queries, lagMs: settings.lagSeconds * 1000, windowSeconds: settings.windowSeconds, ...timeout });
    }
    case "linkerd1": {
      if (!settings.linkerd1AdminUrl) throw new Error("linkerd1 metrics need `linkerd1AdminUrl`");
      return new Linkerd1AdminSource({
        adminUrl: settings.linkerd1AdminUrl,
        router: settings.linkerd1Router,
        clientId: settings.linkerd1ClientId,
        ...timeout,
      });
    }
  }
}
