import { targetKey, type Target } from "../engine/target.ts";
import { createSuccessRateSource } from "./factory.ts";
import type { SuccessRateSource } from "./source.ts";

/** One success-rate source per target's metrics settings, built on first use and reused. */
export class MetricsSources {
  private readonly cache = new Map<string, SuccessRateSource | undefined>();

  constructor(
    private readonly deps: {
      defaultPrometheusUrl?: string | undefined;
      defaultPrometheusToken?: { value: string } | { file: string } | undefined;
      /** Each declared cluster's `prometheusUrl`: the default for its targets instead of PROMETHEUS_URL. */
      clusterPrometheusUrls?: ReadonlyMap<string, string>;
    } = {},
  ) {}

  for(target: Target): SuccessRateSource | undefined {
    const key = `${targetKey(target)}:${JSON.stringify(target.metrics ?? null)}`;
    if (!this.cache.has(key)) {
      // A target in another cluster reads that cluster's Prometheus, when it has one of its own.
      const defaultPrometheusUrl =
        (target.cluster !== undefined ? this.deps.clusterPrometheusUrls?.get(target.cluster) : undefined) ?? this.deps.defaultPrometheusUrl;
      this.cache.set(
        key,
        createSuccessRateSource(target.metrics, {
          ...(defaultPrometheusUrl ? { defaultPrometheusUrl } : {}),
          ...(this.deps.defaultPrometheusToken ? { defaultPrometheusToken: this.deps.defaultPrometheusToken } : {}),
        }),
      );
    }
    return this.cache.get(key);
  }
}
