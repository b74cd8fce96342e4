/**
 * Reads of the workloads a rollout routes between: Services (that they exist, and their selectors) and
 * Deployments (replicas, generation, availability). Read-only; what the facts mean is decided in
 * src/engine/preflight.ts. A missing object (or namespace) is `undefined`, any other failure a KubeApiError.
 */
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Deployment } from "@kubernetes/client-node";
import { selectedBy, type DeploymentFacts, type PreflightFacts, type PreflightPlan, type ServiceFacts } from "../engine/preflight.ts";
import { KubeApiError, kubeCall } from "./call.ts";

type Options = { timeoutMs?: number };

export class WorkloadReader {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;

  constructor(
    kubeConfig: KubeConfig,
    private readonly opts: Options = {},
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
  }

  async service(namespace: string, name: string): Promise<ServiceFacts | undefined> {
    const svc = await missingIsUndefined(
      kubeCall(`read Service ${namespace}/${name}`, (o) => this.core.readNamespacedService({ namespace, name }, o), this.opts),
    );
    if (!svc) return undefined;
    const selector = svc.spec?.selector;
    return { name, ...(selector && Object.keys(selector).length ? { selector } : {}) };
  }

  async deployment(namespace: string, name: string): Promise<DeploymentFacts | undefined> {
    const d = await missingIsUndefined(
      kubeCall(`read Deployment ${namespace}/${name}`, (o) => this.apps.readNamespacedDeployment({ namespace, name }, o), this.opts),
    );
    return d ? deploymentFacts(d) : undefined;
  }

  /** The names of a namespace's Deployments and when each was created (what the start form offers). */
  async deploymentNames(namespace: string, timeoutMs?: number): Promise<{ name: string; createdAt?: number }[]> {
    const opts = timeoutMs === undefined ? this.opts : { ...this.opts, timeoutMs };
    const list = await missingIsUndefined(kubeCall(`list Deployments in ${namespace}`, (o) => this.apps.listNamespacedDeployment({ namespace }, o), opts));
    return (list?.items ?? []).flatMap((d) => {
      const name = d.metadata?.name;
      if (!name) return [];
      const created = d.metadata?.creationTimestamp ? new Date(d.metadata.creationTimestamp).getTime() : NaN;
      return [{ name, ...(Number.isFinite(created) ? { createdAt: created } : {}) }];
    });
  }

  async deployments(namespace: string): Promise<DeploymentFacts[]> {
    const list = await missingIsUndefined(kubeCall(`list Deployments in ${namespace}`, (o) => this.apps.listNamespacedDeployment({ namespace }, o), this.opts));
    return (list?.items ?? []).map(deploymentFacts);
  }

  /** Everything the plan names: each Service, then the canary's Deployments (by selector, else by name). */
  async preflightFacts(plan: PreflightPlan): Promise<PreflightFacts> {
    const services = new Map<string, ServiceFacts>();
    for (const s of plan.services) {
      if (services.has(s.name)) continue;
      const found = await this.service(plan.namespace, s.name);
      if (found) services.set(s.name, found);
    }
    return { plan, services, canary: await this.canaryDeployments(plan, services) };
  }

  /** The canary's Deployments: those its Service selects, else the one named like the canary. */
  async canaryDeployments(plan: PreflightPlan, services: Map<string, ServiceFacts>): Promise<PreflightFacts["canary"]> {
    const selector = plan.canary.selectorFrom ? services.get(plan.canary.selectorFrom)?.selector : undefined;
    if (selector) {
      const selected = selectedBy(await this.deployments(plan.namespace), selector);
      if (selected.length) return { via: "selector", deployments: selected };
    }
    const named = await this.deployment(plan.namespace, plan.canary.name);
    return { via: "name", deployments: named ? [named] : [] };
  }
}

function deploymentFacts(d: V1Deployment): DeploymentFacts {
  return {
    name: d.metadata?.name ?? "",
    // The API server defaults spec.replicas to 1; an absent value means the same.
    replicas: d.spec?.replicas ?? 1,
    ...(d.metadata?.generation !== undefined ? { generation: d.metadata.generation } : {}),
    ...(d.status?.observedGeneration !== undefined ? { observedGeneration: d.status.observedGeneration } : {}),
    availableReplicas: d.status?.availableReplicas ?? 0,
    podLabels: d.spec?.template?.metadata?.labels ?? {},
  };
}

async function missingIsUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof KubeApiError && err.code === 404 && !err.resourceNotServed) return undefined;
    throw err;
  }
}
