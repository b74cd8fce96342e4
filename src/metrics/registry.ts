import type { Target } from "../engine/target.ts";
import { createSuccessRateSource } from "./factory.ts";
import type { SuccessRateSource } from "./source.ts";

/** One success-rate source per target's metrics settings, built on first use and reused. */
export class MetricsSources {
  private readonly cache = new Map<string, SuccessRateSource | undefined>();

  constructor(
    private readonly deps: {
      defaultPrometheusUrl?: string | undefined;
      defaultPrometheusToken?: { value: string } | { file: string } | undefined;
    } = {},
  ) {}

  for(target: Target): SuccessRateSource | undefined {
    const key = `${target.name}:${JSON.stringify(target.metrics ?? null)}`;
    if (!this.cache.has(key)) {
      this.cache.set(
        key,
        createSuccessRateSource(target.metrics, {
          ...(this.deps.defaultPrometheusUrl ? { defaultPrometheusUrl: this.deps.defaultPrometheusUrl } : {}),
          ...(this.deps.defaultPrometheusToken ? { defaultPrometheusToken: this.deps.defaultPrometheusToken } : {}),
        }),
      );
    }
    return this.cache.get(key);
  }
}
