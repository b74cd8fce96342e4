/**
 * Preflight against the Kubernetes API: read what the plan names, judge it with the pure rules of
 * src/engine/preflight.ts. Used before a rollout's first write (`start`) and on each periodic check while
 * it runs (`canary`). Failures to read come out as KubeApiError; the caller decides (retry, or refuse).
 * A start lists the canary's Deployments afresh; the periodic check reads the ones the last list found by
 * name while they still match (src/kube/workloads.ts), as it runs for every rollout every refreshSeconds.
 */
import type { Target } from "../engine/target.ts";
import {
  judgePreflight,
  judgeReadiness,
  preflightPlan,
  stableServes,
  stableWorkloadPlan,
  type PreflightProblem,
  type ServiceFacts,
} from "../engine/preflight.ts";
import type { WorkloadReader } from "./workloads.ts";

type Pair = { stable: string; canary: string };

export interface Preflight {
  /** Every problem that stops a start: missing Services, a missing or unready canary Deployment. */
  start(target: Target, pair: Pair): Promise<PreflightProblem[]>;
  /** Whether the canary's Deployments can still take traffic (the Services are not re-checked). */
  canary(target: Target, pair: Pair): Promise<PreflightProblem[]>;
  /**
   * The stable version's Deployment when its Service selects it (it serves the target): the only object
   * Finish's scale-down may act on. Undefined when it does not, or there is none.
   */
  stableServing?(target: Target, pair: Pair): Promise<{ namespace: string; name: string } | undefined>;
}

export function kubePreflight(reader: WorkloadReader): Preflight {
  return {
    async start(target, pair) {
      const plan = preflightPlan(target, pair);
      return plan ? judgePreflight(await reader.preflightFacts(plan)) : [];
    },
    async canary(target, pair) {
      const plan = preflightPlan(target, pair);
      if (!plan) return [];
      const services = new Map<string, ServiceFacts>();
      if (plan.canary.selectorFrom) {
        const svc = await reader.service(plan.namespace, plan.canary.selectorFrom);
        if (svc) services.set(svc.name, svc);
      }
      const found = await reader.canaryDeployments(plan, services, { remembered: true });
      if (!found.deployments.length) return [{ code: "deployment-missing", name: plan.canary.name, namespace: plan.namespace }];
      return found.deployments.map((d) => judgeReadiness(d, plan.namespace)).filter((p): p is PreflightProblem => p !== undefined);
    },
    async stableServing(target, pair) {
      const plan = stableWorkloadPlan(target, pair);
      if (!plan) return undefined;
      const [service, deployment] = await Promise.all([reader.service(plan.namespace, plan.service), reader.deployment(plan.namespace, plan.deployment)]);
      return stableServes(service, deployment) ? { namespace: plan.namespace, name: plan.deployment } : undefined;
    },
  };
}
