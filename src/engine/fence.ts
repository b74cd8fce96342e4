import { kubeNamespace, type Target } from "./target.ts";
import { stableWorkloadPlan } from "./preflight.ts";
import { gatewayNamespace } from "./services.ts";

/**
 * A declared target is a fence: what a person types can pick the new version and the plan, never move the
 * rollout somewhere the targets file did not put it. Pure: the request's flags and the declared target in,
 * a refusal code with data out (the views word it).
 *
 *  - `--namespace`, `--router` and `--split` name where the traffic is shifted: on a declared target they
 *    are refused outright (the file says where it lives);
 *  - `--from` names the stable version, whose Deployment Finish may scale down: it may differ from the
 *    declared `stable` only where the target opts in with `allowFrom` (names, or patterns with `*`). A
 *    target that declares no `stable` on a mesh whose router reads it from an object the file fixes
 *    (namerd's dentry, a Gateway route's named `rule`) may name it: the router refuses a `--from` the mesh
 *    does not route to. An SMI router writes whatever backends it is given, so there only `allowFrom` lets `--from` through;
 *  - `--to` names the canary, which the person picks freely, except another declared target's `stable` in
 *    the same namespace: that would shift this target's traffic onto the other's pods and, once finished,
 *    make them the stable a later Finish scales down (where the stable is read from the mesh);
 *  - an ad-hoc target (no targets file, or `adhoc: true`) is fenced by the file-level policy's `namespaces`,
 *    and may not drive a declared target's TrafficSplit or HTTPRoute under another name (which would take
 *    it out from under that target's own policy).
 */

export type FencedFlag = "namespace" | "router" | "split";

export type FenceRefusal =
  | { code: "fenced-flag"; flag: FencedFlag; target: string; value: string }
  | { code: "from-not-allowed"; target: string; from: string; stable?: string; allowFrom: string[] }
  | { code: "namespace-not-allowed"; target: string; namespace: string; namespaces: string[] }
  | { code: "to-other-target"; target: string; to: string; owner: string }
  | { code: "adhoc-overlaps"; target: string; owner: string; namespace: string };

export type FencedRequest = { from?: string | undefined; namespace?: string | undefined; router?: string | undefined; split?: string | undefined };

const FENCED: readonly FencedFlag[] = ["namespace", "router", "split"];

/** Whether `name` is one of `allowFrom`'s names or matches one of its patterns (`*`: any run of name characters). */
export function allowsFrom(allowFrom: readonly string[] | undefined, name: string): boolean {
  return (allowFrom ?? []).some((p) => (p.includes("*") ? patternRegex(p).test(name) : p === name));
}

function patternRegex(pattern: string): RegExp {
  // Patterns hold only name characters and `*` (the schema says so), so nothing else needs escaping.
  return new RegExp(`^${pattern.split("*").join("[a-z0-9-]*")}$`);
}

/** Why a request's flags reach outside a declared target, or undefined when they stay inside it. */
export function fenceDeclared(target: Pick<Target, "name" | "stable" | "allowFrom" | "router" | "gateway">, req: FencedRequest): FenceRefusal | undefined {
  for (const flag of FENCED) {
    const value = req[flag];
    if (value !== undefined) return { code: "fenced-flag", flag, target: target.name, value };
  }
  // The mesh checks `--from` only where the object it reads is fixed by the file: namerd's dentry, or a
  // Gateway route's named `rule`. Without a rule, the router shifts "the rule routing to --from", so on a
  // route shared with another app `--from` would pick that app's rule (and its Deployment for Finish).
  const meshChecks = target.stable === undefined && (target.router === "namerd" || (target.router === "gateway" && target.gateway?.rule !== undefined));
  if (req.from !== undefined && req.from !== target.stable && !meshChecks && !allowsFrom(target.allowFrom, req.from)) {
    return {
      code: "from-not-allowed",
      target: target.name,
      from: req.from,
      ...(target.stable ? { stable: target.stable } : {}),
      allowFrom: target.allowFrom ?? [],
    };
  }
  return undefined;
}

/** Why `--to` reaches into another declared target (its Deployment is that target's stable one), or undefined. */
export function fenceCanary(
  target: Pick<Target, "name" | "namespace" | "router" | "gateway">,
  to: string,
  declared: Iterable<Pick<Target, "name" | "namespace" | "router" | "gateway" | "stable">>,
): FenceRefusal | undefined {
  // Compared as Deployments (namespace and name, each target's naming template applied), which is what a
  // later Finish would scale: the same version name under two templates is two different Deployments.
  const mine = stableWorkloadPlan(target, { stable: to, canary: to });
  if (!mine) return undefined;
  for (const other of declared) {
    if (other.name === target.name || other.stable === undefined) continue;
    const theirs = stableWorkloadPlan(other, { stable: other.stable, canary: other.stable });
    if (theirs && theirs.namespace === mine.namespace && theirs.deployment === mine.deployment)
      return { code: "to-other-target", target: target.name, to, owner: other.name };
  }
  return undefined;
}

/** Why an ad-hoc target lies outside the namespaces the policy names, or undefined (no list: any namespace). */
export function fenceAdhoc(target: Pick<Target, "name" | "namespace">, namespaces: readonly string[] | undefined): FenceRefusal | undefined {
  const ns = kubeNamespace(target);
  if (!namespaces || namespaces.includes(ns)) return undefined;
  return { code: "namespace-not-allowed", target: target.name, namespace: ns, namespaces: [...namespaces] };
}

type Routed = Pick<Target, "name" | "namespace" | "router" | "smi" | "gateway">;

/** The routing objects a target writes, as keys: a TrafficSplit by name or by its apex Service, an HTTPRoute by name. */
function routingKeys(t: Routed): string[] {
  if (t.router === "gateway") return [`route:${gatewayNamespace(t)}/${t.gateway?.httpRoute ?? t.name}`];
  if (t.router !== "smi") return [];
  const ns = kubeNamespace(t);
  return [...(t.smi?.trafficSplit ? [`split:${ns}/${t.smi.trafficSplit}`] : []), `apex:${ns}/${t.smi?.apexService ?? t.name}`];
}

/**
 * Why an ad-hoc target would drive a declared target's TrafficSplit or HTTPRoute (the same object in the
 * same namespace), or undefined. namerd targets cannot be assembled from flags, so only SMI and Gateway.
 */
export function fenceAdhocOverlap(target: Routed, declared: Iterable<Routed>): FenceRefusal | undefined {
  const mine = new Set(routingKeys(target));
  for (const other of declared) {
    if (routingKeys(other).some((k) => mine.has(k)))
      return {
        code: "adhoc-overlaps",
        target: target.name,
        owner: other.name,
        namespace: target.router === "gateway" ? gatewayNamespace(target) : kubeNamespace(target),
      };
  }
  return undefined;
}
