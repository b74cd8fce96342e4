import type { Linkerd1Admin } from "./peers/linkerd1-admin.ts";
import type { MeshMetrics } from "./peers/mesh-metrics.ts";
import type { Shares } from "./shares.ts";

/**
 * The traffic simulator: every tick, each target's requests are split by the weights the mesh holds right
 * now, and each version answers with its own error rate and latency. The counts go where the bot reads
 * them: the mesh-metrics exporter (scraped by Prometheus) and the Linkerd 1 admin endpoint. The simulator
 * keeps a short history per version for the page's charts.
 */

export type VersionControls = { errorRate: number; latencyMs: number };

export type SimTarget = {
  /** How the page names it: the target's key (`backend-svc`, `backend-svc@prod-eu`). */
  name: string;
  namespace: string;
  /** Where its counts go: its cluster's exporters (absent: the settings' ones, the bot's own cluster's). */
  sinks?: Sinks;
  /** The versions the page shows, stable first. */
  versions: readonly string[];
  /** The version the canary controls act on. */
  canary: string;
  rps: number;
  /** Read the mesh's current split (called every tick). */
  shares(): Shares;
};

export type Sample = { at: number; rps: number; successRate: number | null; latencyMs: number };

export type TargetTraffic = {
  rps: number;
  canary: string;
  canaryControls: VersionControls;
  /** Share of requests per version right now (0..1). */
  shares: Record<string, number>;
  history: Record<string, Sample[]>;
};

/** Where a cluster's mesh reports requests: its metrics exporter (scraped by Prometheus) and its Linkerd 1 admin. */
export type Sinks = { mesh: MeshMetrics; linkerd1: Linkerd1Admin };

export type TrafficSettings = Sinks & {
  linkerd1Router: string;
  linkerd1ClientId(namespace: string, version: string): string;
  tickMs: number;
  /** Samples kept per version (tickMs x historyLength of chart). */
  historyLength: number;
  now?: () => number;
};

/** Baseline of a healthy version: what stable always does, and the canary until someone breaks it. */
export const HEALTHY: VersionControls = { errorRate: 0, latencyMs: 12 };

/** Limits of the page's controls, checked here too so a bad request changes nothing. */
export const LIMITS = { rps: { min: 0, max: 2000 }, errorRate: { min: 0, max: 1 }, latencyMs: { min: 1, max: 10_000 } };

type Counters = { success: number; failures: number };

type State = {
  target: SimTarget;
  rps: number;
  canaryControls: VersionControls;
  shares: Shares;
  counters: Map<string, Counters>;
  history: Map<string, Sample[]>;
};

export type ControlChange = { rps?: number; errorRate?: number; latencyMs?: number };

/** A problem with a control change, in words for the page; undefined when it is fine. */
export function controlProblem(c: ControlChange): string | undefined {
  const check = (name: keyof typeof LIMITS, v: number | undefined, label: string) => {
    if (v === undefined) return undefined;
    const { min, max } = LIMITS[name];
    return Number.isFinite(v) && v >= min && v <= max ? undefined : `${label} must be a number from ${min} to ${max}`;
  };
  return check("rps", c.rps, "requests per second") ?? check("errorRate", c.errorRate, "error rate") ?? check("latencyMs", c.latencyMs, "latency (ms)");
}

export class TrafficSimulator {
  private readonly states = new Map<string, State>();
  private timer: NodeJS.Timeout | undefined;
  private last: number;
  private readonly now: () => number;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly settings: TrafficSettings,
    targets: readonly SimTarget[],
  ) {
    this.now = settings.now ?? Date.now;
    this.last = this.now();
    for (const t of targets) this.states.set(t.name, this.fresh(t));
  }

  private fresh(t: SimTarget): State {
    return { target: t, rps: t.rps, canaryControls: { ...HEALTHY }, shares: t.shares(), counters: new Map(), history: new Map() };
  }

  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.settings.tickMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  onTick(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Back to the seed: healthy canaries, seed rates, empty charts (counters only ever grow, like a proxy's). */
  reset(): void {
    for (const s of this.states.values()) {
      s.rps = s.target.rps;
      s.canaryControls = { ...HEALTHY };
      s.history.clear();
    }
    this.tick();
  }

  /** Change a target's traffic rate or its canary's behaviour. Returns a problem (and changes nothing) if any. */
  control(target: string, change: ControlChange): string | undefined {
    const s = this.states.get(target);
    if (!s) return `there is no target ${JSON.stringify(target)}`;
    const problem = controlProblem(change);
    if (problem) return problem;
    this.tick(); // the time until now is counted with the behaviour it had
    if (change.rps !== undefined) s.rps = change.rps;
    if (change.errorRate !== undefined) s.canaryControls.errorRate = change.errorRate;
    if (change.latencyMs !== undefined) s.canaryControls.latencyMs = change.latencyMs;
    this.tick();
    return undefined;
  }

  view(target: string): TargetTraffic | undefined {
    const s = this.states.get(target);
    if (!s) return undefined;
    // Read the mesh now rather than at the last tick, so the page's bar always agrees with the mesh it shows.
    const shares = s.target.shares();
    return {
      rps: s.rps,
      canary: s.target.canary,
      canaryControls: { ...s.canaryControls },
      shares: Object.fromEntries(s.target.versions.map((v) => [v, shares.get(v) ?? 0])),
      history: Object.fromEntries(s.target.versions.map((v) => [v, [...(s.history.get(v) ?? [])]])),
    };
  }

  private controlsOf(s: State, version: string): VersionControls {
    return version === s.target.canary ? s.canaryControls : HEALTHY;
  }

  /** Count the requests of the time since the last tick, then report the new totals to both sinks. */
  tick(): void {
    const now = this.now();
    const seconds = Math.max(0, (now - this.last) / 1000);
    this.last = now;
    for (const s of this.states.values()) {
      const { mesh, linkerd1 } = s.target.sinks ?? this.settings;
      s.shares = s.target.shares();
      const versions = new Set([...s.target.versions, ...s.shares.keys()]);
      for (const v of versions) {
        const share = s.shares.get(v) ?? 0;
        const c = this.controlsOf(s, v);
        const rps = s.rps * share;
        // The exporter integrates rate x time itself; it is told the rate that holds from now on.
        mesh.setTraffic({ namespace: s.target.namespace, deployment: v, rps, errorRate: c.errorRate, latencyMs: c.latencyMs });
        const n = rps * seconds;
        const counters = s.counters.get(v) ?? { success: 0, failures: 0 };
        counters.success += n * (1 - c.errorRate);
        counters.failures += n * c.errorRate;
        s.counters.set(v, counters);
        linkerd1.setClient(this.settings.linkerd1Router, this.settings.linkerd1ClientId(s.target.namespace, v), {
          success: Math.floor(counters.success),
          failures: Math.floor(counters.failures),
        });
        if (!s.target.versions.includes(v)) continue;
        const history = s.history.get(v) ?? [];
        history.push({ at: now, rps, successRate: rps > 0 ? 1 - c.errorRate : null, latencyMs: c.latencyMs });
        if (history.length > this.settings.historyLength) history.splice(0, history.length - this.settings.historyLength);
        s.history.set(v, history);
      }
    }
    for (const l of this.listeners) l();
  }
}
