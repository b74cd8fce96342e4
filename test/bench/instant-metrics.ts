import { Redis } from "ioredis";
import type { Target } from "../../src/engine/target.ts";
import { MetricsSources } from "../../src/metrics/registry.ts";
import type { Snapshot, SuccessRateSource } from "../../src/metrics/source.ts";
import type { RoutePair } from "../../src/routers/router.ts";

/** A source that answers "healthy" at once: 10,000 requests each, the canary 99.99% vs stable 100%. */
export class InstantHealthySource implements SuccessRateSource {
  readonly kind = "instant";
  readings = 0;

  async snapshot(_target: Target, _pair: RoutePair, windowSeconds: number): Promise<Snapshot> {
    this.readings++;
    return {
      stable: { requests: 10_000, successes: 10_000, p99Ms: 12 },
      canary: { requests: 10_000, successes: 9_999, p99Ms: 13 },
      windowSeconds,
      at: Date.now(),
    };
  }
}

/**
 * Every target reads the instant source, whatever its `metrics:` says (they still need a `metrics:` block:
 * its windowSeconds, refreshSeconds and thresholds drive the bot). Passed to startBot as `metrics`.
 */
export class InstantMetrics extends MetricsSources {
  readonly source = new InstantHealthySource();
  private readonly idle: Redis;

  constructor(redisUrl: string, keyPrefix: string) {
    // The base class only hands Redis to Linkerd 1 sources, which this never builds: a connection that never opens.
    const idle = new Redis(redisUrl, { lazyConnect: true });
    super({ redis: idle, keyPrefix });
    this.idle = idle;
  }

  override for(target: Target): SuccessRateSource | undefined {
    return target.metrics && target.metrics.source !== "none" ? this.source : undefined;
  }

  close(): void {
    this.idle.disconnect();
  }
}
