import type { Target } from "../engine/target.ts";
import type { RoutePair } from "../routers/router.ts";

/** Requests seen for one version over the window; `noTraffic` when the source has nothing to say. */
export type Sample = { requests: number; successes: number; p99Ms?: number } | { noTraffic: true };

export type Snapshot = { stable: Sample; canary: Sample; windowSeconds: number; at: number };

export interface SuccessRateSource {
  readonly kind: string;
  /** Throws MetricsError when the source cannot answer (down, query error). */
  snapshot(target: Target, pair: RoutePair, windowSeconds: number): Promise<Snapshot>;
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
