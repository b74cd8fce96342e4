import type { Target } from "../../src/engine/target.ts";
import { RouterError, type Observed, type RoutePair, type TrafficRouter } from "../../src/routers/router.ts";

/**
 * An in-process mesh for the scheduling benchmark: weights live in a Map and every call answers at once,
 * so what the benchmark measures is the scheduler (Redis, BullMQ, the jobs), not a Kubernetes API.
 * Registered under the `smi` kind so rollouts take the ordinary code paths (validate, observe, apply, verify).
 */
export class InstantRouter implements TrafficRouter {
  readonly kind = "smi" as const;
  private readonly weights = new Map<string, { percent: number; version: number }>();
  writes = 0;

  private key(t: Target): string {
    return `${t.namespace}/${t.name}`;
  }

  private observed(pair: RoutePair, w: { percent: number; version: number }): Observed {
    return { canaryPercent: w.percent, version: String(w.version), raw: `${pair.stable} ${100 - w.percent} / ${pair.canary} ${w.percent}` };
  }

  async validate(): Promise<string | undefined> {
    return undefined;
  }

  async observe(target: Target, pair: RoutePair): Promise<Observed> {
    const w = this.weights.get(this.key(target));
    if (!w) throw new RouterError("not-found", `no split for ${this.key(target)} yet`);
    return this.observed(pair, w);
  }

  async apply(target: Target, pair: RoutePair, canaryPercent: number): Promise<Observed> {
    const prev = this.weights.get(this.key(target));
    if (prev?.percent === canaryPercent) return this.observed(pair, prev);
    const w = { percent: canaryPercent, version: (prev?.version ?? 0) + 1 };
    this.weights.set(this.key(target), w);
    this.writes++;
    return this.observed(pair, w);
  }

  async finalize(target: Target, pair: RoutePair, winner: "stable" | "canary"): Promise<Observed> {
    return this.apply(target, pair, winner === "canary" ? 100 : 0);
  }

  testRequestHint(): string | undefined {
    return undefined;
  }
}
