import { findDentry, type NameTree } from "../src/routers/dtab.ts";
import { versionFromDst } from "../src/routers/namerd.ts";
import { parseWeight } from "../src/routers/smi-split.ts";
import { gatewayServices } from "../src/engine/services.ts";
import type { Target } from "../src/engine/target.ts";
import { findRule, HttpRouteSchema, sharesOf, type Backends, type RuleSelector } from "../src/routers/gateway-route.ts";
import type { NamerdPeer } from "./peers/namerd.ts";
import type { KubeApiPeer } from "./peers/kube-api.ts";

/**
 * Which share of a target's requests each version gets, read from what the mesh holds right now (the
 * TrafficSplit's weights, the dtab's dentry for the prefix, or the HTTPRoute's split rule). Pure helpers plus
 * thin peer readers.
 * Shares sum to 1; an empty map means the mesh routes nothing we can name (the requests fail).
 */

export type Shares = Map<string, number>;

function normalize(raw: Map<string, number>): Shares {
  const total = [...raw.values()].reduce((a, b) => a + b, 0);
  if (total <= 0) return new Map();
  return new Map([...raw].filter(([, w]) => w > 0).map(([v, w]) => [v, w / total]));
}

/** SMI: `spec.backends[].{service, weight}` (weights may be quantities such as "900m"). */
export function splitShares(spec: unknown): Shares {
  const raw = new Map<string, number>();
  const backends = (spec as { backends?: unknown } | undefined)?.backends;
  if (!Array.isArray(backends)) return raw;
  for (const b of backends as { service?: unknown; weight?: unknown }[]) {
    if (typeof b.service !== "string" || (typeof b.weight !== "number" && typeof b.weight !== "string")) continue;
    const w = parseWeight(b.weight);
    if (w !== undefined && w > 0) raw.set(b.service, (raw.get(b.service) ?? 0) + w);
  }
  return normalize(raw);
}

/**
 * namerd: walk the name tree as Linkerd would balance it. A union splits by weight; an alternation sends
 * everything to its first branch that names something; a leaf outside the `dst` pattern, `!`, `~` and `$`
 * name no version.
 */
export function treeShares(tree: NameTree, dstPattern: string): Shares {
  const walk = (t: NameTree): Map<string, number> => {
    switch (t.kind) {
      case "leaf": {
        const v = versionFromDst(dstPattern, t.path);
        return v ? new Map([[v, 1]]) : new Map();
      }
      case "union": {
        const out = new Map<string, number>();
        const total = t.branches.reduce((a, b) => a + b.weight, 0);
        if (total <= 0) return out;
        for (const b of t.branches) {
          for (const [v, s] of walk(b.tree)) out.set(v, (out.get(v) ?? 0) + (s * b.weight) / total);
        }
        return out;
      }
      case "alt":
        for (const branch of t.trees) {
          const s = walk(branch);
          if (s.size) return s;
        }
        return new Map();
      default:
        return new Map();
    }
  };
  return normalize(walk(tree));
}

export function readSplitShares(kube: KubeApiPeer, namespace: string, name: string): Shares {
  return splitShares(kube.get("trafficsplits", namespace, name)?.spec);
}

export function readDtabShares(namerd: NamerdPeer, dtabNamespace: string, prefix: string, dstPattern: string): Shares {
  const stored = namerd.get(dtabNamespace);
  const dentry = stored ? findDentry(stored.dtab, prefix) : undefined;
  return dentry ? treeShares(dentry.tree, dstPattern) : new Map();
}

/**
 * Gateway API: the split rule's backendRefs, as the route's controller would balance them. Requests the rule
 * sends to a Service of neither version are not counted (the simulator only runs the two versions).
 */
export type RouteSelection = { rule: RuleSelector; backends: Backends; testHeader: string; versions: { stable: string; canary: string } };

export function routeShares(object: unknown, sel: RouteSelection): Shares {
  const { rule, backends, testHeader, versions } = sel;
  const route = HttpRouteSchema.safeParse(object);
  if (!route.success) return new Map();
  const found = findRule(route.data, rule, backends, testHeader, "the route");
  if (!found.ok) return new Map();
  const s = sharesOf(found.rule, backends, route.data.metadata.namespace ?? "");
  return normalize(
    new Map([
      [versions.stable, s.stable],
      [versions.canary, s.canary],
    ]),
  );
}

export function readRouteShares(kube: KubeApiPeer, namespace: string, name: string, sel: RouteSelection): Shares {
  return routeShares(kube.get("httproutes", namespace, name), sel);
}

/** Which rule and Services of a gateway target carry its two versions. */
export function routeSelection(gw: NonNullable<Target["gateway"]>, versions: { stable: string; canary: string }): RouteSelection {
  return { rule: gw.rule, backends: gatewayServices(gw, versions), testHeader: gw.testHeader, versions: { stable: versions.stable, canary: versions.canary } };
}
