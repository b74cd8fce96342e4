import type { Target } from "../../src/engine/target.ts";
import { MetricsSources } from "../../src/metrics/registry.ts";
import type { CounterReading, SuccessRateSource } from "../../src/metrics/source.ts";
import type { RoutePair } from "../../src/routers/router.ts";

/**
 * A source that answers "healthy" at once: counters growing by 10,000 requests each a reading, the canary
 * 99.99% vs stable 100% (one series each, per target).
 */
export class InstantHealthySource implements SuccessRateSource {
  readonly kind = "instant";
  readings = 0;
  private readonly seen = new Map<string, number>();

  async counters(target: Target, _pair: RoutePair, at: number): Promise<CounterReading> {
    this.readings++;
    const n = (this.seen.get(target.name) ?? 0) + 10_000;
    this.seen.set(target.name, n);
    return {
      at,
      stable: { s: { requests: n, successes: n, at } },
      canary: { c: { requests: n, successes: n - n / 10_000, at } },
      p99Ms: { stable: 12, canary: 13 },
    };
  }
}

/**
 * Every target reads the instant source, whatever its `metrics:` says (they still need a `metrics:` block:
 * its windowSeconds, refreshSeconds and thresholds drive the bot). Passed to startBot as `metrics`.
 */
export class InstantMetrics extends MetricsSources {
  readonly source = new InstantHealthySource();

  override for(target: Target): SuccessRateSource | undefined {
    return target.metrics && target.metrics.source !== "none" ? this.source : undefined;
  }

  close(): void {}
}
