import { versionServices, type Pair } from "./services.ts";
import type { Target } from "./target.ts";

/**
 * Preflight: before the first write, the objects a rollout routes between must exist and the canary must be
 * able to take traffic. Pure: which objects to read (`preflightPlan`), and what the facts read mean
 * (`judgePreflight`, `judgeReadiness`): data in, problem codes with data out. The words live in the views.
 */

export type ServiceRole = "apex" | "stable" | "canary";

export type PreflightPlan = {
  namespace: string;
  /** Services that must exist, in the order they are reported. */
  services: { role: ServiceRole; name: string }[];
  /** The canary's Deployment: through this Service's selector when it has one, else by this name. */
  canary: { name: string; selectorFrom?: string };
};

/**
 * The Services are the ones the router sends traffic to (`versionServices`: SMI's are named by the versions,
 * a Gateway target's by its `gateway.service` template or `stableService`/`canaryService`, in the route's
 * namespace); SMI also needs its apex (the TrafficSplit's spec.service). A Gateway route's parent is read by
 * its router, not here. namerd routes to names in a dtab, which need not be Services: only the canary's
 * Deployment (named by the version) is checked, and only when the target names a namespace (undefined
 * otherwise: a namerd target need not run on Kubernetes at all). When the canary Service selects no
 * Deployment, the one named like the canary version (through a Gateway target's `service` template) is
 * looked for.
 */
export function preflightPlan(target: Pick<Target, "name" | "namespace" | "router" | "smi" | "gateway">, pair: Pair): PreflightPlan | undefined {
  const routed = versionServices(target, pair);
  if (!routed) return target.namespace ? { namespace: target.namespace, services: [], canary: { name: pair.canary } } : undefined;
  const services: PreflightPlan["services"] = [];
  if (target.router === "smi") services.push({ role: "apex", name: target.smi?.apexService ?? target.name });
  services.push({ role: "stable", name: routed.stable }, { role: "canary", name: routed.canary });
  return { namespace: routed.namespace, services, canary: { name: routed.canaryWorkload, selectorFrom: routed.canary } };
}

export type ServiceFacts = { name: string; selector?: Record<string, string> };

export type DeploymentFacts = {
  name: string;
  /** spec.replicas (the API defaults it to 1). */
  replicas: number;
  generation?: number;
  observedGeneration?: number;
  availableReplicas: number;
  /** spec.template.metadata.labels: what a Service's selector matches. */
  podLabels: Record<string, string>;
};

export type PreflightFacts = {
  plan: PreflightPlan;
  /** Found Services by name (absent: not found). */
  services: Map<string, ServiceFacts>;
  /** How the canary's Deployments were found, and which; empty when none was. */
  canary: { via: "selector" | "name"; deployments: DeploymentFacts[] };
};

export type PreflightProblem =
  | { code: "service-missing"; role: ServiceRole; name: string; namespace: string }
  | { code: "deployment-missing"; name: string; namespace: string; selector?: Record<string, string> }
  | { code: "scaled-to-zero"; name: string; namespace: string }
  | { code: "rollout-pending"; name: string; namespace: string; generation: number; observedGeneration: number | undefined }
  | { code: "replicas-unavailable"; name: string; namespace: string; available: number; desired: number };

/** Every problem found, in the plan's order; empty when the rollout may start. */
export function judgePreflight(facts: PreflightFacts): PreflightProblem[] {
  const { plan } = facts;
  const problems: PreflightProblem[] = [];
  for (const s of plan.services) {
    if (!facts.services.has(s.name)) problems.push({ code: "service-missing", role: s.role, name: s.name, namespace: plan.namespace });
  }
  const selectorService = plan.canary.selectorFrom ? facts.services.get(plan.canary.selectorFrom) : undefined;
  if (facts.canary.deployments.length === 0) {
    // Without the canary Service there is no selector to follow: its Service is already reported missing.
    problems.push({
      code: "deployment-missing",
      name: plan.canary.name,
      namespace: plan.namespace,
      ...(selectorService?.selector ? { selector: selectorService.selector } : {}),
    });
  }
  for (const d of facts.canary.deployments) {
    const p = judgeReadiness(d, plan.namespace);
    if (p) problems.push(p);
  }
  return problems;
}

/** Whether one Deployment can take traffic now: not scaled to zero, latest generation observed, all desired replicas available. */
export function judgeReadiness(d: DeploymentFacts, namespace: string): PreflightProblem | undefined {
  if (d.replicas === 0) return { code: "scaled-to-zero", name: d.name, namespace };
  if (d.generation !== undefined && (d.observedGeneration ?? 0) < d.generation) {
    return { code: "rollout-pending", name: d.name, namespace, generation: d.generation, observedGeneration: d.observedGeneration };
  }
  if (d.availableReplicas < d.replicas) return { code: "replicas-unavailable", name: d.name, namespace, available: d.availableReplicas, desired: d.replicas };
  return undefined;
}

/** Does a Service selector (every key equal) pick pods with these labels? An empty selector picks nothing. */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** The Deployments whose pods a Service selector picks (all of them take the Service's traffic). */
export function selectedBy(all: DeploymentFacts[], selector: Record<string, string> | undefined): DeploymentFacts[] {
  return all.filter((d) => selects(selector, d.podLabels));
}

/**
 * Where Finish's `cleanup: scale-down` may act: the stable version's Deployment in the namespace its
 * traffic is routed in, with the Service it is served through (SMI and Gateway: the stable backend's
 * Service; namerd: the Service named like the version, in the target's namespace). Preflight reads both,
 * and only a Deployment that Service selects is recorded as the one to scale (`stableServes`). Pure.
 */
export function stableWorkloadPlan(
  target: Pick<Target, "namespace" | "router" | "gateway">,
  pair: Pair,
): { namespace: string; service: string; deployment: string } | undefined {
  const routed = versionServices(target, pair);
  if (routed) return { namespace: routed.namespace, service: routed.stable, deployment: routed.stableWorkload };
  return target.namespace ? { namespace: target.namespace, service: pair.stable, deployment: pair.stable } : undefined;
}

/** Whether the stable's Service serves that Deployment (its selector picks the Deployment's pods). */
export function stableServes(service: ServiceFacts | undefined, deployment: DeploymentFacts | undefined): boolean {
  return service !== undefined && deployment !== undefined && selects(service.selector, deployment.podLabels);
}
