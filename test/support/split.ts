/** Reading a TrafficSplit the way the tests check it: as proportions, whatever SMI version wrote it; and seeding one. */

import type { KubeApiPeer, KubeObject } from "../../sandbox/peers/kube-api.ts";

type Backend = { service: string; weight: number | string };

/** v1alpha1 weights are Kubernetes quantities ("900m"); later versions write integers. */
export function quantity(w: number | string): number {
  if (typeof w === "number") return w;
  return w.endsWith("m") ? Number(w.slice(0, -1)) / 1000 : Number(w);
}

/** The split's backends, or undefined when the spec has none (no TrafficSplit, or not one). */
export function backendsOf(spec: unknown): Backend[] | undefined {
  const backends = (spec as { backends?: Backend[] } | undefined)?.backends;
  return Array.isArray(backends) ? backends : undefined;
}

/** Percent of the split's total weight on `service`, rounded to a whole number; 0 when nothing has weight. */
export function percentOnSplit(spec: unknown, service: string): number {
  const backends = backendsOf(spec) ?? [];
  const total = backends.reduce((n, b) => n + quantity(b.weight), 0);
  const mine = backends.filter((b) => b.service === service).reduce((n, b) => n + quantity(b.weight), 0);
  return total === 0 ? 0 : Math.round((100 * mine) / total);
}

/** Seed TrafficSplit `name` for apex Service `service` in `namespace` with these backends (all on stable, by default). */
export function seedTrafficSplit(kube: Pick<KubeApiPeer, "seed">, split: { name: string; service: string; namespace?: string }, backends: Backend[]): void {
  const namespace = split.namespace ?? "default";
  kube.seed("trafficsplits", namespace, {
    kind: "TrafficSplit",
    metadata: { name: split.name, namespace },
    spec: { service: split.service, backends },
  } as KubeObject);
}
