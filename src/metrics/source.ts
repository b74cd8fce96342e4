import type { Target } from "../engine/target.ts";
import type { CounterReading } from "../engine/evidence.ts";
import type { RoutePair } from "../engine/route.ts";

export type { CounterReading, SeriesCounters } from "../engine/evidence.ts";

/** Requests seen for one version over a span; `noTraffic` when the source has nothing to say. */
export type Sample = { requests: number; successes: number; p99Ms?: number } | { noTraffic: true };

/**
 * A source answers cumulative counters as of a moment (every series of each version, with the time it was
 * sampled); the evidence keeps the last values it folded and takes exact differences (engine/evidence.ts).
 * Counters, never counts over a window: a window's count is extrapolated, and two windows never tile time.
 */
export interface SuccessRateSource {
  readonly kind: string;
  /** The counters as of `at` (ms; a Prometheus source reads at `at` minus its lag). Throws MetricsError when it cannot answer. */
  counters(target: Target, pair: RoutePair, at: number): Promise<CounterReading>;
}

export class MetricsError extends Error {
  constructor(
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = "MetricsError";
  }
}
