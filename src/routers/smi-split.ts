/**
 * TrafficSplit (split.smi-spec.io) as data: reading weights in every version's format, computing the
 * canary's share, and building the backends to write. Pure; the I/O lives in smi.ts.
 *
 * Weights are relative (SMI does not require them to sum to 100). v1alpha1 weights are Kubernetes
 * quantities ("500m", "1", 90); v1alpha2+ are numbers. Reading accepts both in every version because an
 * API server serving several versions without conversion (linkerd-smi: v1alpha1 storage + v1alpha2) hands
 * v1alpha1 quantities back unchanged through v1alpha2.
 */
import { z } from "zod";
import type { RoutePair } from "./router.ts";

/** Known TrafficSplit versions, newest first: the router writes through the newest one the cluster serves. */
export const SMI_VERSIONS = ["v1alpha4", "v1alpha3", "v1alpha2", "v1alpha1"] as const;
export type SmiVersion = (typeof SMI_VERSIONS)[number];
export const SMI_GROUP = "split.smi-spec.io";

const BackendSchema = z.looseObject({ service: z.string(), weight: z.union([z.number(), z.string()]) });

export const TrafficSplitSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: z.looseObject({
    name: z.string(),
    namespace: z.string().optional(),
    resourceVersion: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.looseObject({
    service: z.string(),
    backends: z.array(BackendSchema),
  }),
});

export type TrafficSplit = z.infer<typeof TrafficSplitSchema>;
export type Backend = z.infer<typeof BackendSchema>;

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;
const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A weight as a number: 90 -> 90, "900m" -> 0.9, "1" -> 1, "1e2" -> 100. Undefined when it is not one. */
export function parseWeight(weight: number | string): number | undefined {
  if (typeof weight === "number") return Number.isFinite(weight) ? weight : undefined;
  const m = QUANTITY.exec(weight.trim());
  if (!m) return undefined;
  const suffix = m[2] ?? "";
  const factor = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : SUFFIX[suffix];
  return factor === undefined ? undefined : Number(m[1]) * factor;
}

export type Shares = {
  stable: number;
  canary: number;
  /** Backends that are neither stable nor canary, with their weights. */
  others: { service: string; weight: number }[];
  total: number;
  hasStable: boolean;
  hasCanary: boolean;
  /** Backends whose weight is not a number or quantity (or is negative). */
  unreadable: string[];
};

export function sharesOf(split: TrafficSplit, pair: RoutePair): Shares {
  const s: Shares = { stable: 0, canary: 0, others: [], total: 0, hasStable: false, hasCanary: false, unreadable: [] };
  for (const b of split.spec.backends) {
    const w = parseWeight(b.weight);
    if (w === undefined || w < 0) {
      s.unreadable.push(`${b.service} (${JSON.stringify(b.weight)})`);
      continue;
    }
    s.total += w;
    if (b.service === pair.stable) {
      s.stable += w;
      s.hasStable = true;
    } else if (b.service === pair.canary) {
      s.canary += w;
      s.hasCanary = true;
    } else s.others.push({ service: b.service, weight: w });
  }
  return s;
}

/** round(100 * canary / total); undefined when nothing gets traffic or a weight cannot be read. */
export function canaryPercentOf(shares: Shares): number | undefined {
  if (shares.unreadable.length > 0 || shares.total <= 0) return undefined;
  return Math.round((100 * shares.canary) / shares.total);
}

/** The split already routes `percent` to the canary, the rest to stable, nothing elsewhere. */
export function routesExactly(shares: Shares, percent: number): boolean {
  // With every other backend at 0, the remainder is necessarily the stable's.
  return canaryPercentOf(shares) === percent && shares.others.every((o) => o.weight === 0);
}

/** "backend-v1 90 / backend-v2 10", weights as stored. */
export function renderBackends(split: TrafficSplit): string {
  if (split.spec.backends.length === 0) return "(no backends)";
  return split.spec.backends.map((b) => `${b.service} ${b.weight}`).join(" / ");
}

/** Backends with weight > 0, for messages. */
export function servicesWithTraffic(split: TrafficSplit): string[] {
  return split.spec.backends.filter((b) => (parseWeight(b.weight) ?? 0) > 0).map((b) => b.service);
}

/**
 * How a weight is written through `version`. v1alpha1: the percent as a quantity string ("90", "0"), which
 * Linkerd parses as a resource.Quantity and a person reads as a percent; v1alpha2+: the integer percent.
 */
export function weightFor(percent: number, version: SmiVersion): number | string {
  return version === "v1alpha1" ? String(percent) : percent;
}

/**
 * The backends after routing `percent` to the canary: stable gets 100 - percent, canary percent, every
 * other backend 0. Other backends are kept (at 0) rather than removed: they were put there by someone, and
 * keeping them leaves their entry visible while guaranteeing the percentages mean what they say.
 * Existing order is kept; missing stable/canary entries are appended.
 */
export function backendsFor(existing: readonly Backend[], pair: RoutePair, percent: number, version: SmiVersion): Backend[] {
  const weightOf = (service: string) => (service === pair.canary ? percent : service === pair.stable ? 100 - percent : 0);
  const seen = new Set<string>();
  const out: Backend[] = [];
  for (const b of existing) {
    if (seen.has(b.service)) continue; // a duplicate entry would double-count; keep the first
    seen.add(b.service);
    out.push({ ...b, weight: weightFor(weightOf(b.service), version) });
  }
  for (const service of [pair.stable, pair.canary]) {
    if (!seen.has(service)) out.push({ service, weight: weightFor(weightOf(service), version) });
  }
  return out;
}

/** The label on a split the bot created. */
export const MANAGED_BY = "app.kubernetes.io/managed-by";
export const BOT_LABEL = { key: MANAGED_BY, value: "rollout-bot" } as const;

export function newTrafficSplit(namespace: string, name: string, apex: string, pair: RoutePair, percent: number, version: SmiVersion): TrafficSplit {
  return {
    apiVersion: `${SMI_GROUP}/${version}`,
    kind: "TrafficSplit",
    metadata: { name, namespace, labels: { [MANAGED_BY]: BOT_LABEL.value } },
    spec: { service: apex, backends: backendsFor([], pair, percent, version) },
  };
}
